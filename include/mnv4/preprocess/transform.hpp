#pragma once
// timm's eval transform for its pretrained MobileNetV4 checkpoints:
//   shorter side → floor(size / crop_pct) (Pillow bicubic), centre crop size×size,
//   /255, (x - mean) / std, in float32 like torchvision's ToTensor + Normalize.
#include <array>
#include <cmath>
#include <optional>
#include <string_view>

#include "mnv4/core/layout.hpp"
#include "mnv4/core/tensor.hpp"
#include "mnv4/preprocess/image.hpp"
#include "mnv4/preprocess/resize_bicubic.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

struct EvalTransform {
  int size = 224;
  double crop_pct = 0.875;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

// A timm checkpoint's pretrained config (../shared/SPEC.md).
struct PretrainedConfig {
  std::string_view checkpoint;  // "mobilenetv4_conv_small.e2400_r224_in1k"
  int train_size;
  double crop_pct;
  int test_size;
  double test_crop_pct;
  EvalTransform transform(bool at_test_size = false) const {
    return at_test_size ? EvalTransform{test_size, test_crop_pct} : EvalTransform{train_size, crop_pct};
  }
};

inline constexpr std::array<PretrainedConfig, 5> kPretrainedConfigs{{
    {"mobilenetv4_conv_small.e2400_r224_in1k", 224, 0.875, 256, 0.95},
    {"mobilenetv4_conv_medium.e500_r256_in1k", 256, 0.95, 320, 1.0},
    {"mobilenetv4_conv_large.e600_r384_in1k", 384, 0.95, 448, 1.0},
    {"mobilenetv4_hybrid_medium.ix_e550_r256_in1k", 256, 0.95, 320, 1.0},
    {"mobilenetv4_hybrid_large.e600_r384_in1k", 384, 0.95, 448, 1.0},
}};

// By full checkpoint name, or by model name (each model has one checkpoint).
inline std::optional<PretrainedConfig> pretrained_config(std::string_view name) {
  for (const PretrainedConfig& c : kPretrainedConfigs) {
    const std::string_view model = c.checkpoint.substr(0, c.checkpoint.find('.'));
    if (name == c.checkpoint || name == model) return c;
  }
  return std::nullopt;
}

// The preprocessed image as [1, 3, size, size] (NCHW) or [1, size, size, 3] (NHWC).
inline Tensor preprocess(ImageView image, const EvalTransform& t, Layout layout = Layout::kNCHW) {
  image.validate();
  if (t.size < 1) detail::fail("preprocess: size must be >= 1, got ", t.size);
  if (!(t.crop_pct > 0.0 && t.crop_pct <= 1.0)) detail::fail("preprocess: crop_pct must be in (0, 1], got ", t.crop_pct);
  for (float s : t.std)
    if (!(s > 0.0f)) detail::fail("preprocess: std must be > 0, got ", s);

  // Resize: shorter side to floor(size / crop_pct), longer side int(s * long / short).
  const int scale_size = static_cast<int>(std::floor(t.size / t.crop_pct));
  const bool wide = image.width >= image.height;
  const int short_side = wide ? image.height : image.width, long_side = wide ? image.width : image.height;
  const int new_long = static_cast<int>(static_cast<double>(scale_size) * long_side / short_side);
  const int out_w = wide ? new_long : scale_size, out_h = wide ? scale_size : new_long;
  if (out_w < t.size || out_h < t.size)
    detail::fail("preprocess: resized image ", out_w, "x", out_h, " is smaller than the crop ", t.size);
  const Image resized = (out_w == image.width && out_h == image.height)
                            ? Image{image.width, image.height, {image.rgb.begin(), image.rgb.end()}}
                            : resize_bicubic(image, out_w, out_h);

  // Centre crop as torchvision computes it: round-half-to-even of the margins.
  const int top = static_cast<int>(std::nearbyint((out_h - t.size) / 2.0));
  const int left = static_cast<int>(std::nearbyint((out_w - t.size) / 2.0));

  const int64_t n = t.size;
  Tensor out(layout == Layout::kNCHW ? Shape{1, 3, n, n} : Shape{1, n, n, 3});
  float* dst = out.data();
  for (int y = 0; y < t.size; ++y)
    for (int x = 0; x < t.size; ++x) {
      const uint8_t* px = resized.rgb.data() + (static_cast<std::size_t>(y + top) * out_w + (x + left)) * 3;
      for (int c = 0; c < 3; ++c) {
        const float v = (static_cast<float>(px[c]) / 255.0f - t.mean[static_cast<std::size_t>(c)]) /
                        t.std[static_cast<std::size_t>(c)];
        const std::size_t i = layout == Layout::kNCHW ? (static_cast<std::size_t>(c) * n + y) * n + x
                                                      : (static_cast<std::size_t>(y) * n + x) * 3 + c;
        dst[i] = v;
      }
    }
  return out;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
