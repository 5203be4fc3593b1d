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

// Rows [p_begin, p_end) of the im2col matrix (row p = output pixel p of the
// flattened (image, oy, ox) range): the k×k×c patch, zeros where it leaves the image.
inline void im2col_nhwc(const float* in, Dims d, int k, int stride, std::size_t p_begin, std::size_t p_end,
                        float* cols) {
  const int pad = conv_pad(k, stride);
  const int oh = conv_out(d.h, k, stride), ow = conv_out(d.w, k, stride);
  const std::size_t c = static_cast<std::size_t>(d.c), per_image = static_cast<std::size_t>(oh) * ow;
  for (std::size_t p = p_begin; p < p_end; ++p) {
    const std::size_t n = p / per_image;
    const int oy = static_cast<int>(p % per_image) / ow, ox = static_cast<int>(p % per_image) % ow;
    const float* src = in + n * d.plane() * c;
    for (int ky = 0; ky < k; ++ky) {
      const int iy = oy * stride - pad + ky;
      for (int kx = 0; kx < k; ++kx) {
        const int ix = ox * stride - pad + kx;
        const bool inside = iy >= 0 && iy < d.h && ix >= 0 && ix < d.w;
        const float* from = inside ? src + (static_cast<std::size_t>(iy) * d.w + ix) * c : nullptr;
        if (c <= 8) {  // the stem's 3 channels: a call to memmove/memset per tap would dominate
          for (std::size_t ch = 0; ch < c; ++ch) cols[ch] = inside ? from[ch] : 0.0f;
        } else if (inside) {
          std::copy_n(from, c, cols);
        } else {
          std::fill(cols, cols + c, 0.0f);
        }
        cols += c;
      }
    }
  }
}

// Output pixels [p_begin, p_end) of out = act(conv(in) + bias) (+ residual, same
// shape as out). `scratch` holds dense_conv_scratch(d, f) floats; each pixel range
// uses only its own rows of it, so ranges can run in parallel.
template <class Arch>
void dense_conv_rows(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out, const float* residual,
                     std::size_t p_begin, std::size_t p_end) {
  const std::size_t depth = static_cast<std::size_t>(f.k) * f.k * d.c, co = static_cast<std::size_t>(f.out_c);
  const float* a = in + p_begin * depth;  // 1×1 stride 1: the input is the matrix
  if (f.k != 1 || f.stride != 1) {
    im2col_nhwc(in, d, f.k, f.stride, p_begin, p_end, scratch + p_begin * depth);
    a = scratch + p_begin * depth;
  }
  gemm_bias_act<Arch>({.m = p_end - p_begin, .k = static_cast<int>(depth), .n = f.out_c, .a = a, .lda = depth,
                       .b = f.weights.data(), .bias = f.bias.data(), .act = f.act,
                       .residual = residual != nullptr ? residual + p_begin * co : nullptr, .ldr = co,
                       .c = out + p_begin * co, .ldc = co});
}

// out = act(conv(in) + bias) (+ residual, same shape as out); returns the output dims.
template <class Arch>
Dims dense_conv(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out,
                const float* residual = nullptr) {
  const Dims o{d.n, f.out_c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
  dense_conv_rows<Arch>(in, d, f, scratch, out, residual, 0, o.pixels());
  return o;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
