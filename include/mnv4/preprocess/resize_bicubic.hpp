#pragma once
// Bicubic resampling of 8-bit RGB exactly as Pillow's Image.resize(BICUBIC) does
// it, so preprocessing reproduces timm/torchvision's eval transform bit for bit:
// separable passes (horizontal first, over only the rows the vertical pass reads),
// a = -0.5 cubic kernel widened by the scale factor when shrinking (antialiasing),
// weights normalised per output pixel, then converted to 22-bit fixed point, and
// every pass rounded back to 8 bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mnv4/preprocess/image.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::preprocess_detail {

inline constexpr int kPrecisionBits = 32 - 8 - 2;

inline double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output index: the first input index, the tap count and fixed-point weights.
struct Coefficients {
  int taps = 0;  // stride of `weights`
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

inline Coefficients coefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  Coefficients c;
  c.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<std::size_t>(out_size));
  c.count.resize(static_cast<std::size_t>(out_size));
  c.weights.assign(static_cast<std::size_t>(out_size) * c.taps, 0);
  std::vector<double> w(static_cast<std::size_t>(c.taps));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double total = 0.0;
    for (int i = 0; i < n; ++i) total += (w[static_cast<std::size_t>(i)] = bicubic((i + lo - center + 0.5) / filter_scale));
    int32_t* dst = &c.weights[static_cast<std::size_t>(o) * c.taps];
    for (int i = 0; i < n; ++i) {
      const double v = total != 0.0 ? w[static_cast<std::size_t>(i)] / total : w[static_cast<std::size_t>(i)];
      // Round half away from zero, as Pillow converts its normalised weights.
      dst[i] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[static_cast<std::size_t>(o)] = lo;
    c.count[static_cast<std::size_t>(o)] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::preprocess_detail

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// Pillow-exact bicubic resize of an RGB image to out_w × out_h.
inline Image resize_bicubic(ImageView in, int out_w, int out_h) {
  using namespace preprocess_detail;  // NOLINT(google-build-using-namespace)
  in.validate();
  if (out_w < 1 || out_h < 1) detail::fail("resize_bicubic: output size must be >= 1, got ", out_w, "x", out_h);
  const bool horizontal = out_w != in.width, vertical = out_h != in.height;
  const Coefficients cx = coefficients(in.width, out_w), cy = coefficients(in.height, out_h);

  // Horizontal pass over only the source rows the vertical pass will read.
  const int row_lo = vertical ? cy.first.front() : 0;
  const int row_hi = vertical ? cy.first.back() + cy.count.back() : in.height;
  Image tmp;
  const uint8_t* src = in.rgb.data();
  int src_w = in.width, src_row0 = 0;
  if (horizontal) {
    tmp.width = out_w;
    tmp.height = row_hi - row_lo;
    tmp.rgb.resize(static_cast<std::size_t>(tmp.width) * tmp.height * 3);
    for (int y = 0; y < tmp.height; ++y) {
      const uint8_t* row = in.rgb.data() + static_cast<std::size_t>(y + row_lo) * in.width * 3;
      uint8_t* out = tmp.rgb.data() + static_cast<std::size_t>(y) * out_w * 3;
      for (int x = 0; x < out_w; ++x) {
        const int32_t* w = &cx.weights[static_cast<std::size_t>(x) * cx.taps];
        const int first = cx.first[static_cast<std::size_t>(x)], n = cx.count[static_cast<std::size_t>(x)];
        for (int ch = 0; ch < 3; ++ch) {
          int32_t acc = 1 << (kPrecisionBits - 1);
          for (int i = 0; i < n; ++i) acc += row[static_cast<std::size_t>(first + i) * 3 + ch] * w[i];
          out[static_cast<std::size_t>(x) * 3 + ch] = clip8(acc);
        }
      }
    }
    src = tmp.rgb.data();
    src_w = out_w;
    src_row0 = row_lo;
  }
  if (!vertical) {
    if (horizontal) return tmp;
    return Image{in.width, in.height, std::vector<uint8_t>(in.rgb.begin(), in.rgb.end())};
  }
  Image out{out_w, out_h, std::vector<uint8_t>(static_cast<std::size_t>(out_w) * out_h * 3)};
  for (int y = 0; y < out_h; ++y) {
    const int32_t* w = &cy.weights[static_cast<std::size_t>(y) * cy.taps];
    const int first = cy.first[static_cast<std::size_t>(y)] - src_row0, n = cy.count[static_cast<std::size_t>(y)];
    uint8_t* dst = out.rgb.data() + static_cast<std::size_t>(y) * out_w * 3;
    for (int x = 0; x < out_w * 3; ++x) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int i = 0; i < n; ++i) acc += src[static_cast<std::size_t>(first + i) * src_w * 3 + x] * w[i];
      dst[x] = clip8(acc);
    }
  }
  return out;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
