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
#include <cmath>
#include <cstddef>

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

// Each row: s = exp(s - max) / sum, vectorised.
template <class Arch>
void softmax_rows(float* s, std::size_t rows, std::size_t cols) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t kLanes = B::size;
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = s + r * cols;
    float max_v = *std::max_element(row, row + cols);
    float sum = 0.0f;
    std::size_t j = 0;
    B sums(0.0f);
    for (; j + kLanes <= cols; j += kLanes) {
      const B e = xsimd::exp(B::load_unaligned(row + j) - B(max_v));
      e.store_unaligned(row + j);
      sums += e;
    }
    sum = xsimd::hadd(sums);
    for (; j < cols; ++j) sum += (row[j] = std::exp(row[j] - max_v));
    const float inv = 1.0f / sum;
    j = 0;
    for (; j + kLanes <= cols; j += kLanes) (B::load_unaligned(row + j) * B(inv)).store_unaligned(row + j);
    for (; j < cols; ++j) row[j] *= inv;
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
