#pragma once
// Row-major GEMM with a fused epilogue and weights packed once at load:
//   C[m, n] = act(A[m, :] · B[:, n] + bias[n]) + residual[m, n]
// An NHWC activation is a row-major [pixels, channels] matrix, so a 1×1
// convolution is this with A = input, B = weights [in, out].
//
// B is re-laid out at load into column panels (pack_panels): each panel is
// kPanel columns wide and k rows deep, contiguous, so the micro-kernel streams it
// with aligned loads and never packs anything per call. A is read in place (the
// activations are produced once and consumed once: packing them would cost as
// much as the GEMM saves on these shallow shapes). The micro-kernel holds a
// kRows × kPanel tile of C in registers for the whole depth and applies bias,
// activation and residual before the one store.
#include "mnv4/config.hpp"
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "mnv4/core/aligned_buffer.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

template <class Arch>
struct GemmTiling {
  using B = xsimd::batch<float, Arch>;
  static constexpr int kLanes = static_cast<int>(B::size);
  static constexpr int kPanelVectors = 2;
  static constexpr int kPanel = kPanelVectors * kLanes;
  // kRows × 2 accumulators, 2 B vectors and a broadcast must stay in registers:
  // 32 vector registers on AVX-512 and AArch64, 16 on SSE/AVX2.
#if defined(__aarch64__)
  static constexpr int kRows = 8;
#else
  static constexpr int kRows = kLanes >= 16 ? 8 : 6;
#endif
};

// Floats that pack_panels writes for a [k, n] matrix (the tail panel is only as
// wide as the vectors it needs).
template <class Arch>
constexpr std::size_t packed_floats(int k, int n) {
  using T = GemmTiling<Arch>;
  const int tail = n % T::kPanel;
  const int tail_width = (tail + T::kLanes - 1) / T::kLanes * T::kLanes;
  return static_cast<std::size_t>(k) * static_cast<std::size_t>(n / T::kPanel * T::kPanel + tail_width);
}

// The matrix with element (p, j) = at(p, j), p < k, j < n → column panels at
// `dst` (64-byte aligned, packed_floats() of room), zero-padded past column n.
template <class Arch, class At>
void pack_panels_from(At&& at, int k, int n, float* dst) {
  using T = GemmTiling<Arch>;
  for (int col = 0; col < n; col += T::kPanel) {
    const int width = std::min(T::kPanel, (n - col + T::kLanes - 1) / T::kLanes * T::kLanes);
    for (int p = 0; p < k; ++p)
      for (int j = 0; j < width; ++j) *dst++ = col + j < n ? at(p, col + j) : 0.0f;
  }
}

// B [k, n] row-major → column panels.
template <class Arch>
void pack_panels(const float* b, int k, int n, AlignedBuffer& packed) {
  packed.reserve(packed_floats<Arch>(k, n));
  pack_panels_from<Arch>([b, n](int p, int j) { return b[static_cast<std::size_t>(p) * n + j]; }, k, n, packed.data());
}

// A folded 1×1 or k×k convolution with its [k·k·in, out] weights packed for this GEMM.
template <class Arch>
FoldedConv pack_for_gemm(FoldedConv f) {
  AlignedBuffer packed;
  pack_panels<Arch>(f.weights.data(), f.k * f.k * f.in_c, f.out_c, packed);
  f.weights = std::move(packed);
  return f;
}

struct GemmArgs {
  std::size_t m = 0;
  int k = 0, n = 0;
  const float* a = nullptr;  // [m, k], row stride lda
  std::size_t lda = 0;
  const float* b = nullptr;  // [k, n] packed by pack_panels
  const float* bias = nullptr;
  Act act = Act::kNone;
  const float* residual = nullptr;  // [m, n], row stride ldr, or null
  std::size_t ldr = 0;
  float* c = nullptr;  // [m, n], row stride ldc
  std::size_t ldc = 0;
};

namespace detail {

// C[row .. row+R, col .. col+cols) from A rows `a` and one B panel V vectors wide.
template <class Arch, int R, int V>
void gemm_tile(const GemmArgs& g, std::size_t row, int col, int cols, const float* panel) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  std::array<const float*, R> a;
  for (int r = 0; r < R; ++r) a[r] = g.a + (row + r) * g.lda;
  std::array<std::array<B, V>, R> acc;
  for (auto& line : acc) line.fill(B(0.0f));
  for (int p = 0; p < g.k; ++p) {
    std::array<B, V> b;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = B::load_aligned(panel + (static_cast<std::size_t>(p) * V + v) * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const B x(a[r][p]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = xsimd::fma(x, b[v], acc[r][v]);
    }
  }
  // Raw sums out, then bias/activation/residual over the tile while it is in L1:
  // the micro-kernel stays free of the epilogue's branches and registers.
  float* c = g.c + row * g.ldc + col;
  if (cols == V * kLanes) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) acc[r][v].store_unaligned(c + r * g.ldc + v * kLanes);
  } else {  // the ragged last columns
    alignas(64) float tmp[V * kLanes];
    for (int r = 0; r < R; ++r) {
      for (int v = 0; v < V; ++v) acc[r][v].store_aligned(tmp + v * kLanes);
      std::copy_n(tmp, cols, c + r * g.ldc);
    }
  }
  bias_act_residual<Arch>(c, R, cols, g.ldc, g.bias != nullptr ? g.bias + col : nullptr, g.act,
                          g.residual != nullptr ? g.residual + row * g.ldr + col : nullptr, g.ldr);
}

template <class Arch, int V, std::size_t... R>
constexpr auto tile_table(std::index_sequence<R...>) {
  using Fn = void (*)(const GemmArgs&, std::size_t, int, int, const float*);
  return std::array<Fn, sizeof...(R)>{&gemm_tile<Arch, static_cast<int>(R) + 1, V>...};
}

template <class Arch, int V>
void gemm_panel(const GemmArgs& g, std::size_t row_begin, std::size_t row_end, int col, const float* panel) {
  constexpr int kRows = GemmTiling<Arch>::kRows;
  static constexpr auto kTiles = tile_table<Arch, V>(std::make_index_sequence<kRows>{});
  const int cols = std::min(V * GemmTiling<Arch>::kLanes, g.n - col);
  std::size_t row = row_begin;
  for (; row + kRows <= row_end; row += kRows) gemm_tile<Arch, kRows, V>(g, row, col, cols, panel);
  if (row < row_end) kTiles[row_end - row - 1](g, row, col, cols, panel);
}

}  // namespace detail

template <class Arch>
void gemm_bias_act(const GemmArgs& g) {
  using T = GemmTiling<Arch>;
  // Rows in blocks whose A slice stays in L2 while every panel of B passes over it.
  constexpr std::size_t kBlockBytes = 96 * 1024;
  const std::size_t row_bytes = static_cast<std::size_t>(std::max(g.k, 1)) * sizeof(float);
  const std::size_t block =
      std::max<std::size_t>(T::kRows, kBlockBytes / row_bytes / T::kRows * T::kRows);
  for (std::size_t r0 = 0; r0 < g.m; r0 += block) {
    const std::size_t r1 = std::min(g.m, r0 + block);
    const float* panel = g.b;
    for (int col = 0; col < g.n; col += T::kPanel) {
      if (g.n - col > T::kLanes) {
        detail::gemm_panel<Arch, T::kPanelVectors>(g, r0, r1, col, panel);
        panel += static_cast<std::size_t>(g.k) * T::kPanel;
      } else {
        detail::gemm_panel<Arch, 1>(g, r0, r1, col, panel);
        panel += static_cast<std::size_t>(g.k) * T::kLanes;
      }
    }
  }
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
