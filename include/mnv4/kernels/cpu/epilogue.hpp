#pragma once
// The store side of the CPU kernels: + bias, activation, + residual, vectorised
// with xsimd for the instruction set `Arch`. GELU is timm's erf form (see gelu).
#include <array>
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

#include "mnv4/config.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// Exact GELU, x·Φ(x), as timm's nn.GELU(). Written with erfc, 1 + erf(t) = erfc(-t),
// which stays accurate in the negative tail where 1 + erf cancels.
inline float gelu(float x) { return 0.5f * x * std::erfc(x * -0.70710678118654752f); }

// The vector version computes timm's formula, 0.5·x·(1 + erf(x/√2)), with erf(u)
// = u·P(u²) on |u| < 4: P is a degree-15 polynomial in t = u²/8 - 1 ∈ [-1, 1] (a
// Chebyshev fit of erf(u)/u, made for this file with mpmath), in Horner's form,
// which rounds least here. erf is within 1.7e-7 of the true value; past |u| = 4 it
// is ±1 to within 1.5e-8. Near x = -3.4 the relative error (about 1e-4) is that of
// the formula itself in fp32, as PyTorch evaluates it: 1 + erf cancels there.
// About 10 % of Hybrid-L's time less than going through xsimd's erfc.
namespace detail {
inline constexpr std::array<float, 16> kErfPoly = {
    3.535309732e-01f,  -1.765762269e-01f, 1.316772550e-01f,  -1.077113003e-01f,
    9.016425908e-02f,  -7.470989227e-02f, 6.024049968e-02f,  -4.590728879e-02f,
    3.169913217e-02f,  -2.192523330e-02f, 1.715935767e-02f,  -9.740832262e-03f,
    1.721844659e-03f,  -1.307657920e-03f, 2.996226540e-03f,  -1.311137923e-03f};
// P·(0.5/√2), so that Φ(x) = 0.5 + x·P'(t) with t = x²/16 - 1 needs no u = x/√2.
// That pays where GELU is the work (depthwise, ragged tiles); inside the GEMM
// tile's epilogue the two forms measured the same.
inline constexpr std::array<float, 16> kPhiPoly = [] {
  std::array<float, 16> c{};
  for (std::size_t i = 0; i < c.size(); ++i)
    c[i] = static_cast<float>(static_cast<double>(kErfPoly[i]) * 0.35355339059327376);  // rounded once
  return c;
}();
}  // namespace detail

template <class Arch>
xsimd::batch<float, Arch> gelu(xsimd::batch<float, Arch> x) {
  using B = xsimd::batch<float, Arch>;
  // No clamp: lanes with |x| ≥ 4√2 (|u| ≥ 4; even ±inf, whose t is inf) are
  // replaced at the end by x or -0, so Φ is exactly 1 or 0 there. 24 operations
  // a vector, against 27 with u = x/√2 and a separate 0.5·u: 0.79 → 0.48 ns a value.
  const B t = xsimd::fma(x * x, B(0.0625f), B(-1.0f));
  B p(detail::kPhiPoly[15]);
  for (int k = 14; k >= 0; --k) p = xsimd::fma(p, t, B(detail::kPhiPoly[static_cast<std::size_t>(k)]));
  const B phi = xsimd::fma(x, p, B(0.5f));
  return xsimd::select(xsimd::abs(x) < B(5.656854249f), x * phi, xsimd::select(x < B(0.0f), B(-0.0f), x));
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
