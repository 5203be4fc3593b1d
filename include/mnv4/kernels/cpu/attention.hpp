#pragma once
// Multi-query attention on token-major (NHWC) data for one image:
//   q [L, heads*key_dim], k [P, key_dim], v [P, value_dim] -> o [L, heads*value_dim]
// One K/V head is shared by all query heads, so K and V are packed once per
// image (K transposed and pre-scaled by 1/sqrt(key_dim)) and both products run
// through the packed GEMM: S = Q_h · (K^T·scale), softmax over each row of S
// (max-subtracted), O_h = S · V. Nothing is allocated: all of it lives in the
// caller's scratch (attention_scratch floats).
#include "mnv4/config.hpp"
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "mnv4/kernels/cpu/gemm.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

struct AttentionArgs {
  std::size_t l = 0, p = 0;  // query and key/value token counts
  int heads = 0, key_dim = 0, value_dim = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* o = nullptr;
};

namespace detail {
// Floats rounded up to whole 64-byte lines, so packed panels stay aligned.
constexpr std::size_t whole_lines(std::size_t floats) { return (floats + 15) / 16 * 16; }

// Scratch layout (from a 64-byte aligned base):
//   [scores: l × p | packed K^T: key_dim × p | packed V: p × value_dim]
template <class Arch>
struct AttentionScratch {
  std::size_t key_t, value, total;  // offsets and size in floats
  AttentionScratch(std::size_t l, std::size_t p, int key_dim, int value_dim)
      : key_t(whole_lines(l * p)),
        value(key_t + whole_lines(packed_floats<Arch>(key_dim, static_cast<int>(p)))),
        total(value + packed_floats<Arch>(static_cast<int>(p), value_dim)) {}
  explicit AttentionScratch(const AttentionArgs& a) : AttentionScratch(a.l, a.p, a.key_dim, a.value_dim) {}
};
}  // namespace detail

template <class Arch>
std::size_t attention_scratch(std::size_t l, std::size_t p, int key_dim, int value_dim) {
  return detail::AttentionScratch<Arch>(l, p, key_dim, value_dim).total;
}

namespace detail {

// e^x for the x ≤ 0 of a softmax (s - max), U vectors at a time: 2^n · e^r with
// n = round(x·log2 e) and |r| ≤ ln2/2 (ln2 split in two so n·ln2_hi is exact),
// e^r from its Taylor series to degree 7, whose truncation error (< 6e-9
// relative) is under float's rounding. Adding 1.5·2^23 rounds x·log2 e to an
// integer and leaves n + 127 in the low mantissa bits, from where a shift makes
// 2^n. The U chains are interleaved step by step: one alone is a ~70-cycle
// dependency chain that the scheduler cannot overlap enough with the next.
// Lanes under -87 (true value denormal or 0) give 0; NaN stays NaN. Always
// inlined: as a call, the U vectors make a round trip through the stack.
template <class Arch, std::size_t U>
[[gnu::always_inline]] inline void exp_nonpositive(std::array<xsimd::batch<float, Arch>, U>& x) {
  using B = xsimd::batch<float, Arch>;
  using I = xsimd::batch<int32_t, Arch>;
  const B shifter(12582912.0f + 127.0f);  // 1.5·2^23, plus the exponent bias
  std::array<B, U> t, r, p;
  for (std::size_t u = 0; u < U; ++u) t[u] = xsimd::fma(x[u], B(1.44269504088896341f), shifter);
  for (std::size_t u = 0; u < U; ++u) {
    const B n = t[u] - shifter;
    r[u] = xsimd::fnma(n, B(0.693359375f), x[u]);
  }
  for (std::size_t u = 0; u < U; ++u) r[u] = xsimd::fnma(t[u] - shifter, B(-2.12194440054690583e-4f), r[u]);
  for (std::size_t u = 0; u < U; ++u) p[u] = xsimd::fma(B(1.0f / 5040.0f), r[u], B(1.0f / 720.0f));
  for (const float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f})
    for (std::size_t u = 0; u < U; ++u) p[u] = xsimd::fma(p[u], r[u], B(c));
  for (std::size_t u = 0; u < U; ++u) {
    const B scale = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(t[u]) << 23);
    x[u] = xsimd::select(x[u] < B(-87.0f), B(0.0f), p[u] * scale);
  }
}

// Each row: s = exp(s - max) / sum, vectorised. Rows go in groups, one pass
// at a time (maxima, then exponentials and sums, then scaling), so that each
// row's short dependency chains (a running max, a sum, a division) overlap with
// the other rows' instead of stalling one row after another.
template <class Arch>
void softmax_rows(float* s, std::size_t rows, std::size_t cols) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t kLanes = B::size, kUnroll = 4, kGroup = 8;
  const std::size_t body = cols / kLanes * kLanes;
  for (std::size_t r0 = 0; r0 < rows; r0 += kGroup) {
    const std::size_t group = std::min(kGroup, rows - r0);
    std::array<float, kGroup> max_v, inv;
    for (std::size_t g = 0; g < group; ++g) {
      const float* row = s + (r0 + g) * cols;
      float m = -std::numeric_limits<float>::infinity();
      if (body != 0) {
        B mv = B::load_unaligned(row);
        for (std::size_t j = kLanes; j < body; j += kLanes) mv = xsimd::max(mv, B::load_unaligned(row + j));
        alignas(64) float lanes[kLanes];
        mv.store_aligned(lanes);
        for (const float lane : lanes) m = std::max(m, lane);  // branch-free: maxss
      }
      for (std::size_t j = body; j < cols; ++j) m = std::max(m, row[j]);
      max_v[g] = m;
    }
    for (std::size_t g = 0; g < group; ++g) {
      float* row = s + (r0 + g) * cols;
      const B max_b(max_v[g]);
      B sums(0.0f);
      std::size_t j = 0;
      for (; j + kUnroll * kLanes <= body; j += kUnroll * kLanes) {
        std::array<B, kUnroll> e;
        for (std::size_t u = 0; u < kUnroll; ++u) e[u] = B::load_unaligned(row + j + u * kLanes) - max_b;
        exp_nonpositive<Arch>(e);
        for (std::size_t u = 0; u < kUnroll; ++u) {
          e[u].store_unaligned(row + j + u * kLanes);
          sums += e[u];
        }
      }
      for (; j < body; j += kLanes) {
        std::array<B, 1> e{B::load_unaligned(row + j) - max_b};
        exp_nonpositive<Arch>(e);
        e[0].store_unaligned(row + j);
        sums += e[0];
      }
      float sum = xsimd::hadd(sums);
      for (; j < cols; ++j) sum += (row[j] = std::exp(row[j] - max_v[g]));
      inv[g] = 1.0f / sum;
    }
    for (std::size_t g = 0; g < group; ++g) {
      float* row = s + (r0 + g) * cols;
      const B inv_b(inv[g]);
      std::size_t j = 0;
      for (; j < body; j += kLanes) (B::load_unaligned(row + j) * inv_b).store_unaligned(row + j);
      for (; j < cols; ++j) row[j] *= inv[g];
    }
  }
}
}  // namespace detail

// Packs this image's K (transposed, scaled) and V into `scratch` (64-byte
// aligned). Call once per image before the row ranges.
template <class Arch>
void prepare_attention(const AttentionArgs& a, float* scratch) {
  const detail::AttentionScratch<Arch> s(a);
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.key_dim));
  const auto kd = static_cast<std::size_t>(a.key_dim), vd = static_cast<std::size_t>(a.value_dim);
  const float* k = a.k;
  const float* v = a.v;
  pack_panels_from<Arch>([k, kd, scale](int d, int t) { return k[static_cast<std::size_t>(t) * kd + d] * scale; },
                         a.key_dim, static_cast<int>(a.p), scratch + s.key_t);
  pack_panels_from<Arch>([v, vd](int t, int d) { return v[static_cast<std::size_t>(t) * vd + d]; },
                         static_cast<int>(a.p), a.value_dim, scratch + s.value);
}

// Query rows [l_begin, l_end) for every head, after prepare_attention; only rows
// [l_begin, l_end) of the scores are used, so row ranges can run in parallel.
template <class Arch>
void multi_query_attention_rows(const AttentionArgs& a, float* scratch, std::size_t l_begin, std::size_t l_end) {
  const detail::AttentionScratch<Arch> s(a);
  const std::size_t rows = l_end - l_begin;
  float* scores = scratch + l_begin * a.p;
  const auto q_stride = static_cast<std::size_t>(a.heads) * a.key_dim;
  const auto o_stride = static_cast<std::size_t>(a.heads) * a.value_dim;
  for (int h = 0; h < a.heads; ++h) {
    gemm_bias_act<Arch>({.m = rows, .k = a.key_dim, .n = static_cast<int>(a.p),
                         .a = a.q + l_begin * q_stride + static_cast<std::size_t>(h) * a.key_dim, .lda = q_stride,
                         .b = scratch + s.key_t, .c = scores, .ldc = a.p});
    detail::softmax_rows<Arch>(scores, rows, a.p);
    gemm_bias_act<Arch>({.m = rows, .k = static_cast<int>(a.p), .n = a.value_dim, .a = scores, .lda = a.p,
                         .b = scratch + s.value, .c = a.o + l_begin * o_stride + static_cast<std::size_t>(h) * a.value_dim,
                         .ldc = o_stride});
  }
}

// The whole image on the calling thread; `scratch` (64-byte aligned) holds
// attention_scratch floats.
template <class Arch>
void multi_query_attention(const AttentionArgs& a, float* scratch) {
  prepare_attention<Arch>(a, scratch);
  multi_query_attention_rows<Arch>(a, scratch, 0, a.l);
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
