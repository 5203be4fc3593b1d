#pragma once
// Dense k×k convolution on NHWC (stem, FusedIB expansion, ConvBnAct) as
// im2col + GEMM; a 1×1 stride-1 convolution is the GEMM alone.
#include "mnv4/config.hpp"
#include <algorithm>
#include <cstddef>

#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/gemm.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

inline std::size_t dense_conv_scratch(Dims in, const FoldedConv& f) {
  if (f.k == 1 && f.stride == 1) return 0;
  const Dims o{in.n, f.out_c, conv_out(in.h, f.k, f.stride), conv_out(in.w, f.k, f.stride)};
  return o.pixels() * static_cast<std::size_t>(f.k * f.k * in.c);
}

// Row (oy, ox) of the im2col matrix: the k×k×c patch, zeros where it leaves the image.
inline void im2col_nhwc(const float* in, Dims d, int k, int stride, float* cols) {
  const int pad = conv_pad(k, stride);
  const int oh = conv_out(d.h, k, stride), ow = conv_out(d.w, k, stride);
  const std::size_t c = static_cast<std::size_t>(d.c);
  for (int n = 0; n < d.n; ++n) {
    const float* src = in + static_cast<std::size_t>(n) * d.plane() * c;
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        for (int ky = 0; ky < k; ++ky) {
          const int iy = oy * stride - pad + ky;
          for (int kx = 0; kx < k; ++kx) {
            const int ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w)
              std::fill(cols, cols + c, 0.0f);
            else
              std::copy_n(src + (static_cast<std::size_t>(iy) * d.w + ix) * c, c, cols);
            cols += c;
          }
        }
      }
  }
}

// out = act(conv(in) + bias) (+ residual, same shape as out); returns the output dims.
template <class Arch>
Dims dense_conv(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out,
                       const float* residual = nullptr) {
  const Dims o{d.n, f.out_c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
  const float* a = in;
  const int depth = f.k * f.k * d.c;
  if (f.k != 1 || f.stride != 1) {
    im2col_nhwc(in, d, f.k, f.stride, scratch);
    a = scratch;
  }
  gemm_bias_act<Arch>({.m = o.pixels(), .k = depth, .n = f.out_c, .a = a, .lda = static_cast<std::size_t>(depth),
                 .b = f.weights.data(), .bias = f.bias.data(), .act = f.act, .residual = residual,
                 .ldr = static_cast<std::size_t>(f.out_c), .c = out, .ldc = static_cast<std::size_t>(f.out_c)});
  return o;
}

}  // namespace mnv4::kernels::cpu
