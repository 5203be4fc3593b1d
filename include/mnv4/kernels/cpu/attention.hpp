#pragma once
// Multi-query attention on token-major (NHWC) data for one image, through Eigen:
//   q [L, heads*key_dim], k [P, key_dim], v [P, value_dim] -> o [L, heads*value_dim]
// One K/V head is shared by all query heads. Softmax subtracts the row maximum.
#include "mnv4/config.hpp"
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>

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

inline std::size_t attention_scratch(std::size_t l, std::size_t p) { return l * p; }

inline void softmax_rows(float* s, std::size_t rows, std::size_t cols) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = s + r * cols;
    const float max_v = *std::max_element(row, row + cols);
    float sum = 0.0f;
    for (std::size_t j = 0; j < cols; ++j) sum += (row[j] = std::exp(row[j] - max_v));
    const float inv = 1.0f / sum;
    for (std::size_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

// Query rows [l_begin, l_end) for every head; `scores` is the [l, p] scratch of
// attention_scratch(), of which only rows [l_begin, l_end) are used, so row ranges
// can run in parallel.
template <class Arch>
void multi_query_attention_rows(const AttentionArgs& a, float* scores, std::size_t l_begin, std::size_t l_end) {
  const auto rows = static_cast<Eigen::Index>(l_end - l_begin), p = static_cast<Eigen::Index>(a.p);
  const float scale = 1.0f / std::sqrt(static_cast<float>(a.key_dim));
  ConstMatrixMap k(a.k, p, a.key_dim, Eigen::OuterStride<>(a.key_dim));
  ConstMatrixMap v(a.v, p, a.value_dim, Eigen::OuterStride<>(a.value_dim));
  float* s_rows = scores + l_begin * a.p;
  MatrixMap s(s_rows, rows, p, Eigen::OuterStride<>(p));
  for (int h = 0; h < a.heads; ++h) {
    ConstMatrixMap q(a.q + l_begin * a.heads * a.key_dim + static_cast<std::size_t>(h) * a.key_dim, rows, a.key_dim,
                     Eigen::OuterStride<>(a.heads * a.key_dim));
    MatrixMap o(a.o + l_begin * a.heads * a.value_dim + static_cast<std::size_t>(h) * a.value_dim, rows, a.value_dim,
                Eigen::OuterStride<>(a.heads * a.value_dim));
    s.noalias() = (q * k.transpose()) * scale;
    softmax_rows(s_rows, l_end - l_begin, a.p);
    o.noalias() = s * v;
  }
}

template <class Arch>
void multi_query_attention(const AttentionArgs& a, float* scores) {
  multi_query_attention_rows<Arch>(a, scores, 0, a.l);
}

}  // namespace mnv4::kernels::cpu
