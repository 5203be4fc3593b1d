#pragma once
// Depthwise k×k convolution on NHWC with folded BatchNorm: y = act(conv(x) + bias).
//
// Channels are the SIMD dimension (NHWC keeps them contiguous). Along one output
// row (two at stride 1, and 5×5 stride 2, with 32 registers) the kernel takes groups of 8 output
// pixels (4 with 16 registers) and for each sweeps all channel vectors; groups
// at the edges count taps outside the image as zeros. Bias and the activation
// (a template parameter) are applied before the store. The weights are packed
// per channel vector at load (pack_for_depthwise); a tensor's pixels may sit
// further apart than its channel count (a pitch), which keeps the columns a
// group reads out of a few L1 sets when c·4 bytes is a multiple of 512.
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "mnv4/config.hpp"
#include "mnv4/core/aligned_buffer.hpp"
#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// Where depthwise_conv_rows finds its input rows and puts its output rows.
struct DepthwiseRowsLayout {
  std::size_t in_pitch = 0, out_pitch = 0;  // floats from one pixel to the next (0: the channel count)
  // The input's rows in a ring of `ring` rows (0: in order), input row y in
  // slot (ring_first + y) % ring: a band of rows can take the next rows in the
  // slots of the ones it is done with instead of moving the rows it keeps.
  // One image only.
  std::size_t ring = 0, ring_first = 0;
  std::size_t out_first = 0;  // the flattened output row `out` points at
};

namespace depthwise_detail {

// Output rows [row_begin, row_end) of the flattened (image, output row) range.
template <class Arch, int K, int S, Act A>
void rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin, std::size_t row_end,
          const DepthwiseRowsLayout& at) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  constexpr int kPad = conv_pad(K, S);
  const int oh = conv_out(d.h, K, S), ow = conv_out(d.w, K, S);
  const int c = d.c;
  const int c_vec = c / kLanes * kLanes;
  // Pixels per group: eight accumulators hide the FMA latency where 32 registers
  // also hold the K + 7·S input columns (AVX-512); four with 16 registers. Edge
  // pixels used to take a per-pixel path with runtime tap bounds, a third to half
  // of the pixels of the 12×12 and 8×8 layers; with edges as zero-padded groups
  // and 8 pixels a group, the models' depthwise shapes took 0.84 of the time
  // (geometric mean; 8×8×1024 5×5 0.54).
  constexpr int kPixels = kLanes >= 16 ? 8 : 4;
  constexpr std::size_t kTaps = static_cast<std::size_t>(K) * K;
  const std::size_t pin = at.in_pitch, pout = at.out_pitch;
  const auto column = static_cast<std::ptrdiff_t>(pin);  // floats from one input pixel to the next
  const std::size_t row_floats = static_cast<std::size_t>(d.w) * pin;
  // Input row y of image n (rows are looked up once per output row, outside the channel loops).
  const auto input_row = [&](int n, int y) -> const float* {
    if (at.ring != 0) return in + (at.ring_first + static_cast<std::size_t>(y)) % at.ring * row_floats;
    return in + (static_cast<std::size_t>(n) * d.h + static_cast<std::size_t>(y)) * row_floats;
  };
  const float* weights = f.weights.data();
  const float* bias = f.bias.data();
  // Output columns whose taps all fall inside the image: [ox_lo, ox_hi).
  const int ox_lo = std::min(ow, (kPad + S - 1) / S);
  const int ox_hi = std::max(ox_lo, std::min(ow, (d.w - K + kPad) / S + 1));

  // Two output rows at a time, with 32 registers (2·8 accumulators): they read
  // K + S input rows instead of 2K, so each input vector loaded feeds both rows.
  // A group's 8 pixels read every S-th of its K + 7·S columns, which are loaded
  // one residue mod S at a time, each for the taps of that residue: at stride 2
  // the 19 columns of a 5×5 do not fit in registers beside the accumulators,
  // the 10 even ones do. Measured on AVX-512 against one row at a time: stride 1
  // 5×5 layers 0.76–0.91 of the time, 3×3 0.87–1.06 (the 1.0x ones read their
  // input from L3 either way), whole models 0.975–1.0; 5×5/2 layers 0.72–0.93,
  // whole models within ±0.6 %; 3×3/2 mixed (0.92–1.2), so one row at a time there.
  // Every row, paired or not, sums its taps in the same order (kTapOrder): the
  // same bits either way.
  constexpr bool kPairs = (S == 1 || K == 5) && kLanes >= 16;
  constexpr std::array<int, K> kTapOrder = [] {
    std::array<int, K> order{};
    int i = 0;
    for (int residue = 0; residue < (kPairs ? S : 1); ++residue)
      for (int kx = residue; kx < K; kx += kPairs ? S : 1) order[i++] = kx;
    return order;
  }();
  // A template, so that it is compiled only where kPairs calls it.
  const auto pair_rows = [&]<class = void>(int n, int oy) {
    float* dst0 = out + (static_cast<std::size_t>(n) * oh + static_cast<std::size_t>(oy) - at.out_first) *
                            static_cast<std::size_t>(ow) * pout;
    float* dst1 = dst0 + static_cast<std::size_t>(ow) * pout;
    const int iy0 = oy * S - kPad;
    // Input rows iy0 + t, t in [0, K + S): row oy takes taps t < K, row oy + 1 taps t ≥ S.
    const int t_begin = std::max(0, -iy0), t_end = std::min(K + S, d.h - iy0);
    std::array<const float*, K + S> input{};
    for (int t = t_begin; t < t_end; ++t) input[t] = input_row(n, iy0 + t);
    const auto group = [&]<bool kEdge>(int ox) {
      const int ix0 = ox * S - kPad;
      constexpr int kCols = K + S * (kPixels - 1);
      std::array<bool, kCols> inside{};
#pragma GCC unroll 32
      for (int j = 0; j < kCols; ++j) inside[j] = !kEdge || (ix0 + j >= 0 && ix0 + j < d.w);
      const int stored = kEdge ? std::min(kPixels, ow - ox) : kPixels;
      for (int ch = 0; ch < c_vec; ch += kLanes) {
        std::array<B, kPixels> acc0, acc1;
        const B b = B::load_unaligned(bias + ch);
        acc0.fill(b);
        acc1.fill(b);
        const float* wv = weights + static_cast<std::size_t>(ch) * kTaps;
        for (int t = t_begin; t < t_end; ++t) {
          const float* row = input[t] + ch;
          // The columns ≡ kResidue (mod S) and their taps: tap kx of pixel i reads
          // column kx + S·i, which is x[kx / S + i] of them.
          const auto residue = [&]<int kResidue>() {
            constexpr int kN = (kCols - kResidue + S - 1) / S;
            std::array<B, kN> x;
#pragma GCC unroll 32
            for (int j = 0; j < kN; ++j) {
              const int col = S * j + kResidue;
              x[j] = inside[col] ? B::load_unaligned(row + static_cast<std::ptrdiff_t>(ix0 + col) * column) : B(0.0f);
            }
#pragma GCC unroll 5
            for (int kx = kResidue; kx < K; kx += S) {
              if (t < K) {
                const B wk = B::load_aligned(wv + static_cast<std::size_t>(t * K + kx) * kLanes);
#pragma GCC unroll 8
                for (int i = 0; i < kPixels; ++i) acc0[i] = xsimd::fma(x[kx / S + i], wk, acc0[i]);
              }
              if (t >= S) {
                const B wk = B::load_aligned(wv + static_cast<std::size_t>((t - S) * K + kx) * kLanes);
#pragma GCC unroll 8
                for (int i = 0; i < kPixels; ++i) acc1[i] = xsimd::fma(x[kx / S + i], wk, acc1[i]);
              }
            }
          };
          residue.template operator()<0>();
          if constexpr (S == 2) residue.template operator()<1>();
        }
        float* o0 = dst0 + static_cast<std::size_t>(ox) * pout + ch;
        float* o1 = dst1 + static_cast<std::size_t>(ox) * pout + ch;
#pragma GCC unroll 8
        for (int i = 0; i < kPixels; ++i) {
          if (kEdge && i >= stored) break;
          detail::activate_as<A>(acc0[i]).store_unaligned(o0 + static_cast<std::size_t>(i) * pout);
          detail::activate_as<A>(acc1[i]).store_unaligned(o1 + static_cast<std::size_t>(i) * pout);
        }
      }
    };
    for (int ox = 0; ox < ow; ox += kPixels) {
      if (ox >= ox_lo && ox + kPixels <= ox_hi) group.template operator()<false>(ox);
      else group.template operator()<true>(ox);
    }
  };

  for (std::size_t r = row_begin; r < row_end; ++r) {
    const int n = static_cast<int>(r / static_cast<std::size_t>(oh));
    const int oy = static_cast<int>(r % static_cast<std::size_t>(oh));
    if constexpr (kPairs) {
      if (r + 1 < row_end && oy + 1 < oh && c_vec == c) {
        pair_rows(n, oy);
        ++r;
        continue;
      }
    }
    float* dst = out + (r - at.out_first) * static_cast<std::size_t>(ow) * pout;
    const int iy0 = oy * S - kPad;
    const int ky_begin = std::max(0, -iy0), ky_end = std::min(K, d.h - iy0);
    std::array<const float*, K> input{};
    for (int ky = ky_begin; ky < ky_end; ++ky) input[ky] = input_row(n, iy0 + ky);

    // kPixels output pixels from ox, all whole channel vectors. kEdge:
    // some of the group's input columns fall outside the image (they count as
    // zeros, as PyTorch's padding does) or some of its pixels past the row's end
    // (not stored); the interior's groups carry no such checks.
    const auto group = [&]<bool kEdge>(int ox) {
      const int ix0 = ox * S - kPad;
      // The group's taps on one input row cover K + (kPixels - 1)·S columns: each is loaded once.
      constexpr int kCols = K + (kPixels - 1) * S;
      std::array<bool, kCols> inside{};
#pragma GCC unroll 32
      for (int j = 0; j < kCols; ++j) inside[j] = !kEdge || (ix0 + j >= 0 && ix0 + j < d.w);
      const int stored = kEdge ? std::min(kPixels, ow - ox) : kPixels;
      float* o = dst + static_cast<std::size_t>(ox) * pout;
      for (int ch = 0; ch < c_vec; ch += kLanes) {
        std::array<B, kPixels> acc;
        acc.fill(B::load_unaligned(bias + ch));
        for (int ky = ky_begin; ky < ky_end; ++ky) {
          const float* row = input[ky] + ch;
          const float* w = weights + static_cast<std::size_t>(ch) * kTaps + static_cast<std::size_t>(ky * K) * kLanes;
          std::array<B, kCols> x;
#pragma GCC unroll 32
          for (int j = 0; j < kCols; ++j)
            x[j] = inside[j] ? B::load_unaligned(row + static_cast<std::ptrdiff_t>(ix0 + j) * column) : B(0.0f);
#pragma GCC unroll 5
          for (int step = 0; step < K; ++step) {
            const int kx = kTapOrder[step];
            const B wk = B::load_aligned(w + kx * kLanes);
#pragma GCC unroll 8
            for (int i = 0; i < kPixels; ++i) acc[i] = xsimd::fma(x[kx + i * S], wk, acc[i]);
          }
        }
        if constexpr (kEdge) {
          for (int i = 0; i < stored; ++i)
            detail::activate_as<A>(acc[i]).store_unaligned(o + static_cast<std::size_t>(i) * pout + ch);
        } else {
#pragma GCC unroll 8
          for (int i = 0; i < kPixels; ++i)
            detail::activate_as<A>(acc[i]).store_unaligned(o + static_cast<std::size_t>(i) * pout + ch);
        }
      }
    };
    // Blocks of 64 channels (each group sweeping one block) measured slower on
    // every shape: the group's weights and input rows come from L1/L2 either way.
    for (int ox = 0; ox < ow; ox += kPixels) {
      if (ox >= ox_lo && ox + kPixels <= ox_hi) group.template operator()<false>(ox);
      else group.template operator()<true>(ox);
    }
    // Channels past the last whole vector, one at a time.
    for (int ox = 0; ox < ow && c_vec < c; ++ox) {
      const int ix0 = ox * S - kPad;
      const int kx_begin = std::max(0, -ix0), kx_end = std::min(K, d.w - ix0);
      for (int ch = c_vec; ch < c; ++ch) {
        float acc = bias[ch];
        for (int ky = ky_begin; ky < ky_end; ++ky)
          for (int kx = kx_begin; kx < kx_end; ++kx)
            acc += input[ky][static_cast<std::size_t>(ix0 + kx) * pin + ch] *
                   weights[static_cast<std::size_t>(ch / kLanes * kLanes) * kTaps +
                           static_cast<std::size_t>(ky * K + kx) * kLanes + static_cast<std::size_t>(ch % kLanes)];
        dst[static_cast<std::size_t>(ox) * pout + ch] = activate(acc, A);
      }
    }
  }
}

template <class Arch, int K, int S>
void rows_for(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin, std::size_t row_end,
              const DepthwiseRowsLayout& at) {
  switch (f.act) {
    case Act::kRelu: return rows<Arch, K, S, Act::kRelu>(in, d, f, out, row_begin, row_end, at);
    case Act::kGelu: return rows<Arch, K, S, Act::kGelu>(in, d, f, out, row_begin, row_end, at);
    case Act::kNone: break;
  }
  rows<Arch, K, S, Act::kNone>(in, d, f, out, row_begin, row_end, at);
}

}  // namespace depthwise_detail

// fold_depthwise's weights [k·k][c] → one [k·k][lanes] block per channel vector,
// zero-padded past c: a vector's taps are contiguous, where in [k·k][c] they sit
// c floats apart and, for c a multiple of 256, all in one L1 set (12×12×2048
// 5×5: 0.75 of the time; 7×7×512: 0.9).
template <class Arch>
FoldedConv pack_for_depthwise(FoldedConv f) {
  constexpr std::size_t kLanes = xsimd::batch<float, Arch>::size;
  const auto c = static_cast<std::size_t>(f.out_c), taps = static_cast<std::size_t>(f.k) * f.k;
  const std::size_t blocks = (c + kLanes - 1) / kLanes;
  AlignedBuffer packed;
  packed.reserve(blocks * taps * kLanes);
  for (std::size_t b = 0; b < blocks; ++b)
    for (std::size_t t = 0; t < taps; ++t)
      for (std::size_t l = 0; l < kLanes; ++l) {
        const std::size_t ch = b * kLanes + l;
        packed.data()[(b * taps + t) * kLanes + l] = ch < c ? f.weights.data()[t * c + ch] : 0.0f;
      }
  f.weights = std::move(packed);
  return f;
}

// Number of independent work items (image × output row) for depthwise_conv_rows.
inline std::size_t depthwise_rows(Dims in, const FoldedConv& f) {
  return static_cast<std::size_t>(in.n) * static_cast<std::size_t>(conv_out(in.h, f.k, f.stride));
}

// in: [n, h, w, c] (or one image's rows in a ring), out: [n, oh, ow, c] from
// output row layout.out_first, pixel pitches and ring as `layout` says; f packed
// by pack_for_depthwise. Computes output rows [row_begin, row_end) of the
// flattened (image, output row) range; k ∈ {3, 5}, stride ∈ {1, 2}.
template <class Arch>
void depthwise_conv_rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin,
                         std::size_t row_end, DepthwiseRowsLayout layout) {
  using namespace depthwise_detail;  // NOLINT(google-build-using-namespace)
  const int key = f.k * 10 + f.stride;
  const auto c = static_cast<std::size_t>(d.c);
  if (layout.in_pitch == 0) layout.in_pitch = c;
  if (layout.out_pitch == 0) layout.out_pitch = c;
  if (layout.in_pitch < c || layout.out_pitch < c)
    mnv4::detail::fail("depthwise_conv: pixel pitch (", layout.in_pitch, ", ", layout.out_pitch, ") below the ", c,
                       " channels");
  if (layout.ring != 0 && d.n != 1) mnv4::detail::fail("depthwise_conv: a ring of rows holds one image, not ", d.n);
  if (row_begin < layout.out_first)
    mnv4::detail::fail("depthwise_conv: output row ", row_begin, " before the first row of the output, ", layout.out_first);
  switch (key) {
    case 31: return rows_for<Arch, 3, 1>(in, d, f, out, row_begin, row_end, layout);
    case 32: return rows_for<Arch, 3, 2>(in, d, f, out, row_begin, row_end, layout);
    case 51: return rows_for<Arch, 5, 1>(in, d, f, out, row_begin, row_end, layout);
    case 52: return rows_for<Arch, 5, 2>(in, d, f, out, row_begin, row_end, layout);
    default: mnv4::detail::fail("depthwise_conv: unsupported kernel ", f.k, " / stride ", f.stride, " (expected 3 or 5 / 1 or 2)");
  }
}

// Pixel pitches only (0: the channel count).
template <class Arch>
void depthwise_conv_rows(const float* in, Dims d, const FoldedConv& f, float* out, std::size_t row_begin,
                         std::size_t row_end, std::size_t in_pitch = 0, std::size_t out_pitch = 0) {
  depthwise_conv_rows<Arch>(in, d, f, out, row_begin, row_end, DepthwiseRowsLayout{.in_pitch = in_pitch, .out_pitch = out_pitch});
}

// All output rows; returns the output dims.
template <class Arch>
Dims depthwise_conv(const float* in, Dims d, const FoldedConv& f, float* out) {
  depthwise_conv_rows<Arch>(in, d, f, out, 0, depthwise_rows(d, f));
  return {d.n, d.c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
