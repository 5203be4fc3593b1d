#pragma once
// The store side of the CPU kernels: + bias, activation, + residual, vectorised
// with xsimd for the instruction set `Arch`. Exact GELU uses xsimd's erf.
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mnv4/config.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// Exact GELU, x·Φ(x), as timm's nn.GELU(). Written with erfc, 1 + erf(t) = erfc(-t),
// which stays accurate in the negative tail where 1 + erf cancels.
inline float gelu(float x) { return 0.5f * x * std::erfc(x * -0.70710678118654752f); }

template <class Arch>
xsimd::batch<float, Arch> gelu(xsimd::batch<float, Arch> x) {
  using B = xsimd::batch<float, Arch>;
  return B(0.5f) * x * xsimd::erfc(x * B(-0.70710678118654752f));
}

template <class Arch>
xsimd::batch<float, Arch> activate(xsimd::batch<float, Arch> x, Act act) {
  if (act == Act::kRelu) return xsimd::max(x, xsimd::batch<float, Arch>(0.0f));
  if (act == Act::kGelu) return gelu(x);
  return x;
}

inline float activate(float x, Act act) {
  if (act == Act::kRelu) return x > 0.0f ? x : 0.0f;
  if (act == Act::kGelu) return gelu(x);
  return x;
}

namespace detail {
template <Act A, class Arch>
xsimd::batch<float, Arch> activate_as(xsimd::batch<float, Arch> x) {
  if constexpr (A == Act::kRelu) return xsimd::max(x, xsimd::batch<float, Arch>(0.0f));
  if constexpr (A == Act::kGelu) return gelu(x);
  return x;
}

template <Act A, class Arch>
void bias_act_residual_as(float* y, std::size_t rows, int n, std::size_t ld, const float* bias,
                          const float* residual, std::size_t ld_res) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = y + r * ld;
    const float* res = residual != nullptr ? residual + r * ld_res : nullptr;
    int j = 0;
    for (; j + kLanes <= n; j += kLanes) {
      B v = B::load_unaligned(row + j);
      if (bias != nullptr) v += B::load_unaligned(bias + j);
      v = activate_as<A>(v);
      if (res != nullptr) v += B::load_unaligned(res + j);
      v.store_unaligned(row + j);
    }
    for (; j < n; ++j) {
      float v = row[j] + (bias != nullptr ? bias[j] : 0.0f);
      v = activate(v, A);
      row[j] = res != nullptr ? v + res[j] : v;
    }
  }
}
}  // namespace detail

// For each of `rows` rows of `n` values (row stride `ld`):
//   y = act(y + bias) (+ residual, row stride `ld_res`)
// The activation is chosen once per call, not per vector.
template <class Arch>
void bias_act_residual(float* y, std::size_t rows, int n, std::size_t ld, const float* bias, Act act,
                       const float* residual, std::size_t ld_res) {
  switch (act) {
    case Act::kRelu:
      return detail::bias_act_residual_as<Act::kRelu, Arch>(y, rows, n, ld, bias, residual, ld_res);
    case Act::kGelu:
      return detail::bias_act_residual_as<Act::kGelu, Arch>(y, rows, n, ld, bias, residual, ld_res);
    case Act::kNone:
      break;
  }
  detail::bias_act_residual_as<Act::kNone, Arch>(y, rows, n, ld, bias, residual, ld_res);
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
