#pragma once
// Row-major GEMM with a fused epilogue, through Eigen:
//   C[m, n] = act(A[m, :] · B[:, n] + bias[n]) + residual[m, n]
// An NHWC activation is a row-major [pixels, channels] matrix, so a 1×1
// convolution is this with A = input, B = weights [in, out].
#include "mnv4/config.hpp"
#include <Eigen/Core>
#include <cstddef>

#include "mnv4/kernels/cpu/epilogue.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using MatrixMap = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

struct GemmArgs {
  std::size_t m = 0;
  int k = 0, n = 0;
  const float* a = nullptr;  // [m, k], row stride lda
  std::size_t lda = 0;
  const float* b = nullptr;  // [k, n], dense
  const float* bias = nullptr;
  Act act = Act::kNone;
  const float* residual = nullptr;  // [m, n], row stride ldr, or null
  std::size_t ldr = 0;
  float* c = nullptr;  // [m, n], row stride ldc
  std::size_t ldc = 0;
};

template <class Arch>
void gemm_bias_act(const GemmArgs& g) {
  const auto rows = static_cast<Eigen::Index>(g.m);
  ConstMatrixMap a(g.a, rows, g.k, Eigen::OuterStride<>(static_cast<Eigen::Index>(g.lda)));
  ConstMatrixMap b(g.b, g.k, g.n, Eigen::OuterStride<>(g.n));
  MatrixMap c(g.c, rows, g.n, Eigen::OuterStride<>(static_cast<Eigen::Index>(g.ldc)));
  c.noalias() = a * b;
  bias_act_residual<Arch>(g.c, g.m, g.n, g.ldc, g.bias, g.act, g.residual, g.ldr);
}

}  // namespace mnv4::kernels::cpu
