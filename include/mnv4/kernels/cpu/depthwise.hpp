#pragma once
// Depthwise k×k convolution on NHWC with folded BatchNorm, bias and activation.
#include "mnv4/config.hpp"
#include <algorithm>
#include <cstddef>

#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// in: [n, h, w, c]; out: [n, oh, ow, c]; returns the output dims.
template <class Arch>
Dims depthwise_conv(const float* in, Dims d, const FoldedConv& f, float* out) {
  const int k = f.k, s = f.stride, pad = conv_pad(k, s);
  const Dims o{d.n, d.c, conv_out(d.h, k, s), conv_out(d.w, k, s)};
  const std::size_t c = static_cast<std::size_t>(d.c);
  const float* weights = f.weights.data();
  for (int n = 0; n < d.n; ++n) {
    const float* src = in + static_cast<std::size_t>(n) * d.plane() * c;
    float* dst = out + static_cast<std::size_t>(n) * o.plane() * c;
    for (int oy = 0; oy < o.h; ++oy)
      for (int ox = 0; ox < o.w; ++ox) {
        float* acc = dst + (static_cast<std::size_t>(oy) * o.w + ox) * c;
        std::fill(acc, acc + c, 0.0f);
        for (int ky = 0; ky < k; ++ky) {
          const int iy = oy * s - pad + ky;
          if (iy < 0 || iy >= d.h) continue;
          for (int kx = 0; kx < k; ++kx) {
            const int ix = ox * s - pad + kx;
            if (ix < 0 || ix >= d.w) continue;
            const float* x = src + (static_cast<std::size_t>(iy) * d.w + ix) * c;
            const float* w = weights + static_cast<std::size_t>(ky * k + kx) * c;
            for (std::size_t ch = 0; ch < c; ++ch) acc[ch] += x[ch] * w[ch];
          }
        }
      }
  }
  bias_act_residual(out, o.pixels(), d.c, c, f.bias.data(), f.act, nullptr, 0);
  return o;
}

}  // namespace mnv4::kernels::cpu
