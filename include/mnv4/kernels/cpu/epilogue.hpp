#pragma once
// The store-side of every CPU kernel: + bias, activation, + residual, row by row.
#include "mnv4/config.hpp"
#include <cmath>
#include <cstddef>

#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

inline float gelu(float x) {  // exact (erf) GELU, as timm's nn.GELU()
  return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
}

// For each of `rows` rows of `n` values (row stride `ld`):
//   y = act(y + bias) (+ residual, row stride `ld_res`)
inline void bias_act_residual(float* y, std::size_t rows, int n, std::size_t ld, const float* bias, Act act,
                              const float* residual, std::size_t ld_res) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    if (bias != nullptr)
      for (int j = 0; j < n; ++j) row[j] += bias[j];
    if (act == Act::kRelu) {
      for (int j = 0; j < n; ++j) row[j] = row[j] > 0.0f ? row[j] : 0.0f;
    } else if (act == Act::kGelu) {
      for (int j = 0; j < n; ++j) row[j] = gelu(row[j]);
    }
    if (residual != nullptr) {
      const float* res = residual + r * ld_res;
      for (int j = 0; j < n; ++j) row[j] += res[j];
    }
  }
}

}  // namespace mnv4::kernels::cpu
