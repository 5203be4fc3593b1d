#pragma once
// Load-time preparation for the CPU backend: fold eval-mode BatchNorm (and layer
// scale) into the preceding convolution, and lay the weights out the way the
// kernels read them. Done once; forward() never touches the checkpoint layout.
#include "mnv4/config.hpp"
#include <cmath>
#include <cstddef>
#include <vector>

#include "mnv4/core/aligned_buffer.hpp"
#include "mnv4/layers/weights.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// A convolution with BatchNorm folded in: y = act(conv(x, weights) + bias).
struct FoldedConv {
  int in_c = 0, out_c = 0, k = 1, stride = 1;
  Act act = Act::kNone;
  AlignedBuffer weights;  // layout depends on the kind, see the fold_* functions
  AlignedBuffer bias;     // [out_c]
};

namespace detail {
// Per-channel BN scale and shift: bn(x) = scale * x + shift; optionally times gamma (layer scale).
inline void bn_scale_shift(const BnWeights& bn, const Weight* layer_scale, std::vector<double>& scale,
                           std::vector<double>& shift) {
  const int c = bn.channels();
  scale.resize(static_cast<std::size_t>(c));
  shift.resize(static_cast<std::size_t>(c));
  for (int i = 0; i < c; ++i) {
    const double s = bn.gamma.values[i] / std::sqrt(static_cast<double>(bn.var.values[i]) + kBnEps);
    const double g = layer_scale != nullptr ? layer_scale->values[i] : 1.0;
    scale[i] = s * g;
    shift[i] = (bn.beta.values[i] - bn.mean.values[i] * s) * g;
  }
}
}  // namespace detail

// Dense k×k convolution (groups = 1) as a GEMM operand:
// weights[((ky * k + kx) * in_c + i) * out_c + o], matching an NHWC im2col row.
inline FoldedConv fold_dense(const ConvBnWeights& w, int stride, Act act, const Weight* layer_scale = nullptr) {
  FoldedConv f;
  f.out_c = static_cast<int>(w.conv.shape[0]);
  f.in_c = static_cast<int>(w.conv.shape[1]);
  f.k = static_cast<int>(w.conv.shape[2]);
  f.stride = stride;
  f.act = act;
  std::vector<double> scale, shift;
  detail::bn_scale_shift(w.bn, layer_scale, scale, shift);
  const std::size_t taps = static_cast<std::size_t>(f.k) * f.k;
  f.weights.reserve(taps * f.in_c * f.out_c);
  f.bias.reserve(static_cast<std::size_t>(f.out_c));
  for (int o = 0; o < f.out_c; ++o) f.bias.data()[o] = static_cast<float>(shift[o]);
  // Written in destination order (o fastest): the transpose streams its output.
  for (std::size_t t = 0; t < taps; ++t)
    for (int i = 0; i < f.in_c; ++i) {
      float* dst = f.weights.data() + (t * f.in_c + i) * f.out_c;
      const float* src = w.conv.values.data() + static_cast<std::size_t>(i) * taps + t;
      const std::size_t src_stride = static_cast<std::size_t>(f.in_c) * taps;
      for (int o = 0; o < f.out_c; ++o) dst[o] = static_cast<float>(src[o * src_stride] * scale[o]);
    }
  return f;
}

// Depthwise k×k convolution: weights[(ky * k + kx) * channels + c].
inline FoldedConv fold_depthwise(const ConvBnWeights& w, int stride, Act act) {
  FoldedConv f;
  f.out_c = f.in_c = static_cast<int>(w.conv.shape[0]);
  f.k = static_cast<int>(w.conv.shape[2]);
  f.stride = stride;
  f.act = act;
  std::vector<double> scale, shift;
  detail::bn_scale_shift(w.bn, nullptr, scale, shift);
  const std::size_t taps = static_cast<std::size_t>(f.k) * f.k;
  f.weights.reserve(taps * f.out_c);
  f.bias.reserve(static_cast<std::size_t>(f.out_c));
  for (int c = 0; c < f.out_c; ++c) {
    f.bias.data()[c] = static_cast<float>(shift[c]);
    for (std::size_t t = 0; t < taps; ++t)
      f.weights.data()[t * f.out_c + c] = static_cast<float>(w.conv.values[c * taps + t] * scale[c]);
  }
  return f;
}

// A 1×1 convolution without BatchNorm (attention projections): weights [in][out], zero bias.
inline FoldedConv fold_projection(const Weight& w, const Weight* layer_scale = nullptr) {
  FoldedConv f;
  f.out_c = static_cast<int>(w.shape[0]);
  f.in_c = static_cast<int>(w.shape[1]);
  f.weights.reserve(static_cast<std::size_t>(f.in_c) * f.out_c);
  f.bias.reserve(static_cast<std::size_t>(f.out_c));
  for (int o = 0; o < f.out_c; ++o) {
    const double g = layer_scale != nullptr ? layer_scale->values[o] : 1.0;
    f.bias.data()[o] = 0.0f;
    for (int i = 0; i < f.in_c; ++i)
      f.weights.data()[static_cast<std::size_t>(i) * f.out_c + o] =
          static_cast<float>(w.values[static_cast<std::size_t>(o) * f.in_c + i] * g);
  }
  return f;
}

}  // namespace mnv4
