#pragma once
// Depthwise k×k convolution on NHWC with folded BatchNorm: y = act(conv(x) + bias).
//
// Channels are the SIMD dimension (NHWC keeps them contiguous). Along one output
// row the kernel takes four output pixels at a time in the interior (no bounds
// checks), one at a time at the edges (four channel vectors at a time), and for
// each sweeps all channel vectors; bias and the activation (a template
// parameter) are applied before the store.
#include <algorithm>
#include <array>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mnv4/config.hpp"
#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

namespace depthwise_detail {

// Output rows [row_begin, row_end) of the flattened (image, output row) range.
// Pixels outer, channels inner: every load walks memory contiguously (the
// prefetchers follow it) and the k·k weights of a channel vector come from L1.
template <class Arch, int K, int S, Act A>
void rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin, std::size_t row_end) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  constexpr int kPad = conv_pad(K, S);
  const int oh = conv_out(d.h, K, S), ow = conv_out(d.w, K, S);
  const int c = d.c;
  const int c_vec = c / kLanes * kLanes;
  const std::size_t cs = static_cast<std::size_t>(c);
  const float* weights = f.weights.data();
  const float* bias = f.bias.data();
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

    // One output pixel, channels [ch_begin, c), with bounds checks on x.
    const auto pixel = [&](int ox, int ch_begin) {
      const int ix0 = ox * S - kPad;
      const int kx_begin = std::max(0, -ix0), kx_end = std::min(K, d.w - ix0);
      float* o = dst + static_cast<std::size_t>(ox) * cs;
      int ch = ch_begin;
      // Four channel vectors at a time: four independent FMA chains instead of
      // one k·k-long one (rows shorter than k + 3 pixels take this path whole).
      for (; ch + 4 * kLanes <= c_vec; ch += 4 * kLanes) {
        std::array<B, 4> acc;
        for (int v = 0; v < 4; ++v) acc[v] = B::load_unaligned(bias + ch + v * kLanes);
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = src + static_cast<std::size_t>(iy0 + ky) * d.w * cs + ch;
          for (int kx = kx_begin; kx < kx_end; ++kx) {
            const float* x = row + static_cast<std::size_t>(ix0 + kx) * cs;
            const float* wt = weights + static_cast<std::size_t>(ky * K + kx) * cs + ch;
#pragma GCC unroll 4
            for (int v = 0; v < 4; ++v)
              acc[v] = xsimd::fma(B::load_unaligned(x + v * kLanes), B::load_unaligned(wt + v * kLanes), acc[v]);
          }
        }
        for (int v = 0; v < 4; ++v) detail::activate_as<A>(acc[v]).store_unaligned(o + ch + v * kLanes);
      }
      for (; ch < c_vec; ch += kLanes) {
        B acc = B::load_unaligned(bias + ch);
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = src + static_cast<std::size_t>(iy0 + ky) * d.w * cs + ch;
          for (int kx = kx_begin; kx < kx_end; ++kx)
            acc = xsimd::fma(B::load_unaligned(row + static_cast<std::size_t>(ix0 + kx) * cs),
                             B::load_unaligned(weights + static_cast<std::size_t>(ky * K + kx) * cs + ch), acc);
        }
        detail::activate_as<A>(acc).store_unaligned(o + ch);
      }
      for (; ch < c; ++ch) {
        float acc = bias[ch];
        for (int ky = ky_begin; ky < ky_end; ++ky)
          for (int kx = kx_begin; kx < kx_end; ++kx)
            acc += src[(static_cast<std::size_t>(iy0 + ky) * d.w + ix0 + kx) * cs + ch] *
                   weights[static_cast<std::size_t>(ky * K + kx) * cs + ch];
        o[ch] = activate(acc, A);
      }
    };

    for (int ox = 0; ox < ox_lo; ++ox) pixel(ox, 0);
    int ox = ox_lo;
    // Interior: four output pixels per channel vector, no bounds checks on x.
    for (; ox + 4 <= ox_hi; ox += 4) {
      const int ix0 = ox * S - kPad;
      float* o = dst + static_cast<std::size_t>(ox) * cs;
      for (int ch = 0; ch < c_vec; ch += kLanes) {
        const B b = B::load_unaligned(bias + ch);
        B a0 = b, a1 = b, a2 = b, a3 = b;
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = src + (static_cast<std::size_t>(iy0 + ky) * d.w + ix0) * cs + ch;
          const float* w = weights + static_cast<std::size_t>(ky * K) * cs + ch;
          // The four pixels' taps on this row cover K + 3·S input columns: load each once.
          constexpr int kCols = K + 3 * S;
          B x[kCols];
#pragma GCC unroll 11
          for (int j = 0; j < kCols; ++j) x[j] = B::load_unaligned(row + static_cast<std::size_t>(j) * cs);
#pragma GCC unroll 5
          for (int kx = 0; kx < K; ++kx) {
            const B wk = B::load_unaligned(w + static_cast<std::size_t>(kx) * cs);
            a0 = xsimd::fma(x[kx], wk, a0);
            a1 = xsimd::fma(x[kx + S], wk, a1);
            a2 = xsimd::fma(x[kx + 2 * S], wk, a2);
            a3 = xsimd::fma(x[kx + 3 * S], wk, a3);
          }
        }
        detail::activate_as<A>(a0).store_unaligned(o + ch);
        detail::activate_as<A>(a1).store_unaligned(o + cs + ch);
        detail::activate_as<A>(a2).store_unaligned(o + 2 * cs + ch);
        detail::activate_as<A>(a3).store_unaligned(o + 3 * cs + ch);
      }
      if (c_vec < c)
        for (int i = 0; i < 4; ++i) pixel(ox + i, c_vec);
    }
    for (; ox < ow; ++ox) pixel(ox, 0);
  }
}

template <class Arch, int K, int S>
void rows_for(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin, std::size_t row_end) {
  switch (f.act) {
    case Act::kRelu: return rows<Arch, K, S, Act::kRelu>(in, d, f, out, row_begin, row_end);
    case Act::kGelu: return rows<Arch, K, S, Act::kGelu>(in, d, f, out, row_begin, row_end);
    case Act::kNone: break;
  }
  rows<Arch, K, S, Act::kNone>(in, d, f, out, row_begin, row_end);
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
    case 31: return rows_for<Arch, 3, 1>(in, d, f, out, row_begin, row_end);
    case 32: return rows_for<Arch, 3, 2>(in, d, f, out, row_begin, row_end);
    case 51: return rows_for<Arch, 5, 1>(in, d, f, out, row_begin, row_end);
    case 52: return rows_for<Arch, 5, 2>(in, d, f, out, row_begin, row_end);
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
