#pragma once
// Depthwise k×k convolution on NHWC with folded BatchNorm: y = act(conv(x) + bias).
//
// Channels are the SIMD dimension (NHWC keeps them contiguous). For one output row
// and one vector of channels the k·k tap weights stay in registers while the kernel
// walks along W, four output pixels at a time in the interior (no bounds checks),
// one at a time at the edges. The activation is applied before the store.
#include <algorithm>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mnv4/config.hpp"
#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

namespace depthwise_detail {

// Output rows [row_begin, row_end) of the flattened (image, output row) range.
template <class Arch, int K, int S>
void rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin, std::size_t row_end) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  constexpr int kPad = conv_pad(K, S);
  const int oh = conv_out(d.h, K, S), ow = conv_out(d.w, K, S);
  const int c = d.c;
  const std::size_t cs = static_cast<std::size_t>(c);
  const float* weights = f.weights.data();
  const float* bias = f.bias.data();
  const Act act = f.act;
  // Output columns whose taps all fall inside the image: [ox_lo, ox_hi).
  const int ox_lo = std::min(ow, (kPad + S - 1) / S);
  const int ox_hi = std::max(ox_lo, std::min(ow, (d.w - K + kPad) / S + 1));

  for (std::size_t r = row_begin; r < row_end; ++r) {
    const int n = static_cast<int>(r / static_cast<std::size_t>(oh));
    const int oy = static_cast<int>(r % static_cast<std::size_t>(oh));
    const float* src = in + static_cast<std::size_t>(n) * d.plane() * cs;
    float* dst = out + r * static_cast<std::size_t>(ow) * cs;
    const int iy0 = oy * S - kPad;
    const int ky_begin = std::max(0, -iy0), ky_end = std::min(K, d.h - iy0);

    int ch = 0;
    for (; ch + kLanes <= c; ch += kLanes) {
      B w[K * K];
      for (int t = 0; t < K * K; ++t) w[t] = B::load_unaligned(weights + static_cast<std::size_t>(t) * cs + ch);
      const B b = B::load_unaligned(bias + ch);

      const auto edge_pixel = [&](int ox) {
        B acc = b;
        const int ix0 = ox * S - kPad;
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = src + static_cast<std::size_t>(iy0 + ky) * d.w * cs + ch;
          for (int kx = std::max(0, -ix0); kx < std::min(K, d.w - ix0); ++kx)
            acc = xsimd::fma(B::load_unaligned(row + static_cast<std::size_t>(ix0 + kx) * cs), w[ky * K + kx], acc);
        }
        activate(acc, act).store_unaligned(dst + static_cast<std::size_t>(ox) * cs + ch);
      };

      for (int ox = 0; ox < ox_lo; ++ox) edge_pixel(ox);
      int ox = ox_lo;
      for (; ox + 4 <= ox_hi; ox += 4) {
        B a0 = b, a1 = b, a2 = b, a3 = b;
        const int ix0 = ox * S - kPad;
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = src + (static_cast<std::size_t>(iy0 + ky) * d.w + ix0) * cs + ch;
          for (int kx = 0; kx < K; ++kx) {
            const float* p = row + static_cast<std::size_t>(kx) * cs;
            const B wk = w[ky * K + kx];
            a0 = xsimd::fma(B::load_unaligned(p), wk, a0);
            a1 = xsimd::fma(B::load_unaligned(p + S * cs), wk, a1);
            a2 = xsimd::fma(B::load_unaligned(p + 2 * S * cs), wk, a2);
            a3 = xsimd::fma(B::load_unaligned(p + 3 * S * cs), wk, a3);
          }
        }
        float* o = dst + static_cast<std::size_t>(ox) * cs + ch;
        activate(a0, act).store_unaligned(o);
        activate(a1, act).store_unaligned(o + cs);
        activate(a2, act).store_unaligned(o + 2 * cs);
        activate(a3, act).store_unaligned(o + 3 * cs);
      }
      for (; ox < ow; ++ox) edge_pixel(ox);
    }

    // Remaining channels (c % lanes), scalar.
    for (; ch < c; ++ch)
      for (int ox = 0; ox < ow; ++ox) {
        float acc = bias[ch];
        const int ix0 = ox * S - kPad;
        for (int ky = ky_begin; ky < ky_end; ++ky)
          for (int kx = std::max(0, -ix0); kx < std::min(K, d.w - ix0); ++kx)
            acc += src[(static_cast<std::size_t>(iy0 + ky) * d.w + ix0 + kx) * cs + ch] *
                   weights[static_cast<std::size_t>(ky * K + kx) * cs + ch];
        dst[static_cast<std::size_t>(ox) * cs + ch] = activate(acc, act);
      }
  }
}

}  // namespace depthwise_detail

// Number of independent work items (image × output row) for depthwise_conv_rows.
inline std::size_t depthwise_rows(Dims in, const FoldedConv& f) {
  return static_cast<std::size_t>(in.n) * static_cast<std::size_t>(conv_out(in.h, f.k, f.stride));
}

// in: [n, h, w, c]; out: [n, oh, ow, c]. Computes output rows [row_begin, row_end)
// of the flattened (image, output row) range; k ∈ {3, 5}, stride ∈ {1, 2}.
template <class Arch>
void depthwise_conv_rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin,
                         std::size_t row_end) {
  using namespace depthwise_detail;  // NOLINT(google-build-using-namespace)
  const int key = f.k * 10 + f.stride;
  switch (key) {
    case 31: return rows<Arch, 3, 1>(in, d, f, out, row_begin, row_end);
    case 32: return rows<Arch, 3, 2>(in, d, f, out, row_begin, row_end);
    case 51: return rows<Arch, 5, 1>(in, d, f, out, row_begin, row_end);
    case 52: return rows<Arch, 5, 2>(in, d, f, out, row_begin, row_end);
    default: mnv4::detail::fail("depthwise_conv: unsupported kernel ", f.k, " / stride ", f.stride, " (expected 3 or 5 / 1 or 2)");
  }
}

// All output rows; returns the output dims.
template <class Arch>
Dims depthwise_conv(const float* in, Dims d, const FoldedConv& f, float* out) {
  depthwise_conv_rows<Arch>(in, d, f, out, 0, depthwise_rows(d, f));
  return {d.n, d.c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
