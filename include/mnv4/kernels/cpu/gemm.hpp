#pragma once
// Row-major GEMM with a fused epilogue and weights packed once at load:
//   C[m, n] = act(A[m, :] · B[:, n] + bias[n]) + residual[m, n]
// An NHWC activation is a row-major [pixels, channels] matrix, so a 1×1
// convolution is this with A = input, B = weights [in, out].
//
// B is re-laid out at load into column panels (pack_panels): each panel is
// kPanel columns wide and k rows deep, contiguous, so the micro-kernel streams it
// with aligned loads and never packs anything per call. A is read in place (the
// activations are produced once and consumed once; on these shallow shapes a
// copy of A costs about what it would save). Up to whole_depth() the depth is
// taken in one pass; deeper, in slices of depth() so that the slice of a panel
// being used stays in cache across all row tiles. The micro-kernel holds a
// kRows × kPanel tile of C in registers for one slice and applies bias,
// activation and residual after the last. While one
// panel slice is in use, the next one is prefetched into L2 (large B only).
#include "mnv4/config.hpp"
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "mnv4/core/aligned_buffer.hpp"
#include "mnv4/core/cache_info.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

template <class Arch>
struct GemmTiling {
  using B = xsimd::batch<float, Arch>;
  static constexpr int kLanes = static_cast<int>(B::size);
  // The register tile is kRows × kPanelVectors accumulators, plus the panel's
  // vectors and one broadcast: 6 × 4 (+ 5) of the 32 registers on AVX-512 and
  // AArch64, 6 × 2 (+ 3) of 16 on AVX2/SSE. Four vectors per row keep the loop at
  // 10 loads and 24 FMAs per step, inside a 4-wide front end where 12 × 2 is not.
#if defined(__aarch64__)
  static constexpr int kPanelVectors = 4;
#else
  static constexpr int kPanelVectors = kLanes >= 16 ? 4 : 2;
#endif
  static constexpr int kPanel = kPanelVectors * kLanes;
  static constexpr int kRows = 6;
  // Rows of a tile over a panel v vectors wide: narrower panels (a last ragged one,
  // or all of a 16..48-column GEMM) take more rows, so the tile still has about
  // 24 (12 on AVX2/SSE) accumulators to hide the FMA latency and fewer loads per FMA.
  static constexpr int kAccumulators = kPanelVectors * kRows;
  static constexpr int rows_for(int v) { return std::min(12, kAccumulators / v); }
  // A multiple of every rows_for(v): row blocks and thread chunks end on whole tiles.
  static constexpr int kRowUnit = 24;  // checked in gemm_blocking
  // Depth of one pass over a panel: every row tile re-reads its slice. The
  // deepest of 256 and 128 whose slice fits in 2/3 of L1d, so it streams from L1
  // with room left for A and C; where none fits, 256, since the slice then comes
  // from L2 either way and half the depth would double C's round trips. Measured
  // on AVX-512 (a 64 KiB slice at 256 deep, 32 KiB at 128): with a 48 KiB L1d
  // (Sapphire Rapids) 128 deep took 0.95 of the time of Conv-S and Conv-L; with a
  // 32 KiB L1d (Cascade Lake) 128 was slower than 256. AVX2/SSE and NEON panels are
  // 16 floats wide, so 256 deep fits a 32 KiB L1d.
  static int depth() {
    static const int d = [] {
      const std::size_t l1 = l1d_cache_bytes();
      for (int kc : {256, 128})
        if (3 * static_cast<std::size_t>(kc) * kPanel * sizeof(float) <= 2 * l1) return kc;
      return 256;
    }();
    return d;
  }
  // Rows per block: their depth()-deep slice of A (≤ 192 KiB) stays in L2 while all
  // panels pass over it.
  static constexpr std::size_t kBlockBytes = 192 * 1024;
  // Depth up to which a GEMM takes all of k in one pass: a panel that deep fits
  // in a quarter of L2 (1024 with AVX-512's 64-float panels and 1 MiB). Each row
  // tile then streams its panel from L2 instead of L1, and C is written once
  // instead of once a slice. Measured on AMD Zen 5 (48 KiB L1d, 1 MiB L2), B cold
  // as in a model, against 128-deep slices: 144×512→2048 1.04–1.07× the GFLOP/s,
  // 144×512→960 1.04–1.05, 576×768→192 1.01–1.05, 64×256→1024 1.05–1.07, the
  // rest within ±2 %; on AVX2 (16-float panels) 0.99–1.07×.
  static int whole_depth() {
    static const int d = std::max(256, static_cast<int>(l2_bytes() / 4 / (kPanel * sizeof(float))));
    return d;
  }
  // L2 per core, 1 MiB where the system does not say.
  static std::size_t l2_bytes() { return l2_cache_bytes() != 0 ? l2_cache_bytes() : std::size_t{1} << 20; }
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
  // A row's k values in runs of a_run contiguous floats, a_run_pitch apart (0:
  // one run). A k×k convolution reads its NHWC input in place this way: a row
  // is an output pixel, a run one kernel row's k·c floats (dense_conv_in_place).
  std::size_t a_run = 0, a_run_pitch = 0;
  const float* b = nullptr;  // [k, n] packed by pack_panels
  const float* bias = nullptr;
  Act act = Act::kNone;
  const float* residual = nullptr;  // [m, n], row stride ldr, or null
  std::size_t ldr = 0;
  float* c = nullptr;  // [m, n], row stride ldc
  std::size_t ldc = 0;
};

namespace detail {

// Rows of A and depth of B that one pass of the micro-kernel covers: a kc-deep
// slice of a B panel (kc × kPanel floats) stays in L1/L2 while every row tile of
// the block passes over it, and the block's mc × kc slice of A stays in L2.
struct GemmBlocking {
  int kc = 0;
  std::size_t mc = 0;
};

template <class Arch>
GemmBlocking gemm_blocking(const GemmArgs& g) {
  using T = GemmTiling<Arch>;
  static_assert(
      [] {
        for (int v = 1; v <= T::kPanelVectors; ++v)
          if (T::kRowUnit % T::rows_for(v) != 0) return false;
        return true;
      }(),
      "kRowUnit must be a multiple of every tile's rows");
  constexpr std::size_t kUnit = T::kRowUnit;
  // A in runs: one slice a run, so that a slice's row is contiguous.
  if (g.a_run != 0) {
    const std::size_t rows = T::kBlockBytes / (g.a_run * sizeof(float));
    return {static_cast<int>(g.a_run), std::max(kUnit, rows / kUnit * kUnit)};
  }
  // One row tile: no panel slice is re-read, so stream each panel whole, in order.
  if (g.m <= static_cast<std::size_t>(T::kRows)) return {g.k, T::kRows};
  if (g.k <= T::whole_depth()) {
    // A's rows in blocks of half of L2 (K = 512: 256 rows). A last block of fewer
    // than half that would stream all of B again for a few rows: one block then.
    const std::size_t rows = T::l2_bytes() / 2 / (static_cast<std::size_t>(std::max(g.k, 1)) * sizeof(float));
    const std::size_t mc = g.m <= rows + rows / 2 ? g.m : rows;
    return {g.k, std::max(kUnit, (mc + kUnit - 1) / kUnit * kUnit)};
  }
  const int depth = T::depth();
  const int slices = std::max(1, (g.k + depth - 1) / depth);  // equal slices: no thin last one
  const int kc = (g.k + slices - 1) / slices;
  const std::size_t rows = T::kBlockBytes / (static_cast<std::size_t>(std::max(kc, 1)) * sizeof(float));
  return {kc, std::max(kUnit, rows / kUnit * kUnit)};
}

// C[row .. row+R, col .. col+cols) += A[rows, p0 .. p0+kc) · B panel slice.
// The first slice starts from zero, later ones from C; after the last slice the
// epilogue (bias, activation, residual) runs on the registers, or for ragged
// tiles over the tile while it is in L1.
// kFull: the tile is V whole vectors wide (every panel but a ragged last one);
// a compile-time flag, so the common case carries no code for the ragged one.
// pf, pf_lines: lines of the next slice to prefetch, one per step of the k loop.
template <class Arch, int R, int V, bool kFull>
void gemm_tile_as(const GemmArgs& g, std::size_t row, int col, int cols, const float* panel, int p0, int kc,
                  bool first, bool last, const char* pf, int pf_lines) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  std::array<const float*, R> a;
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) a[r] = g.a + (row + r) * g.lda + p0;
  if (g.a_run != 0) {  // slices are whole runs (gemm_blocking)
    const std::size_t run = static_cast<std::size_t>(p0) / g.a_run;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) a[r] += run * (g.a_run_pitch - g.a_run);
  }
  float* c = g.c + row * g.ldc + col;
  // Every loop over acc is unrolled whole: one left rolled makes acc an array in
  // memory, and GCC then spills all R·V accumulators around the k loop of every
  // tile (up to 17 % of a shallow GEMM's time).
  std::array<std::array<B, V>, R> acc;
  if (first) {
#pragma GCC unroll 16
    for (auto& line : acc) line.fill(B(0.0f));
  } else if constexpr (kFull) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] = B::load_unaligned(c + r * g.ldc + v * kLanes);
  } else {
    alignas(64) float tmp[V * kLanes] = {};
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      std::copy_n(c + r * g.ldc, cols, tmp);
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v] = B::load_aligned(tmp + v * kLanes);
    }
  }
  const float* b_ptr = panel + static_cast<std::size_t>(p0) * V * kLanes;
  // Two steps per iteration: 0.96-0.98 of the time on whole models (Sapphire
  // Rapids; 1.05x the GFLOP/s of the tile on data hot in L1); four, no better.
#pragma GCC unroll 2
  for (int p = 0; p < kc; ++p) {
    if (p < pf_lines) __builtin_prefetch(pf + 64 * static_cast<std::ptrdiff_t>(p), 0, 2);
    std::array<B, V> b;
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = B::load_aligned(b_ptr + v * kLanes);
    b_ptr += V * kLanes;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const B x(a[r][p]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = xsimd::fma(x, b[v], acc[r][v]);
    }
  }
  if (kFull && last) {
    // Bias, activation and residual on the registers: C is written once.
    const float* res = g.residual != nullptr ? g.residual + row * g.ldr + col : nullptr;
    std::array<B, V> bias;
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) bias[v] = g.bias != nullptr ? B::load_unaligned(g.bias + col + v * kLanes) : B(0.0f);
    if (g.act == Act::kGelu) {
      // Storing the tile and running GELU over it in a second pass cost 8–16 %
      // of the GELU GEMMs (2304×96×384, 9216×48×192): its second round of
      // stores waits on C's lines still coming in from L3.
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v) {
          B x = gelu<Arch>(acc[r][v] + bias[v]);
          if (res != nullptr) x += B::load_unaligned(res + r * g.ldr + v * kLanes);
          x.store_unaligned(c + r * g.ldc + v * kLanes);
        }
      return;
    }
    const bool relu = g.act == Act::kRelu;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        B x = acc[r][v] + bias[v];
        if (relu) x = xsimd::max(x, B(0.0f));
        if (res != nullptr) x += B::load_unaligned(res + r * g.ldr + v * kLanes);
        x.store_unaligned(c + r * g.ldc + v * kLanes);
      }
    return;
  }
  if constexpr (kFull) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v].store_unaligned(c + r * g.ldc + v * kLanes);
  } else {  // the ragged last columns
    alignas(64) float tmp[V * kLanes];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[r][v].store_aligned(tmp + v * kLanes);
      std::copy_n(tmp, cols, c + r * g.ldc);
    }
  }
  if (last)
    bias_act_residual<Arch>(c, R, cols, g.ldc, g.bias != nullptr ? g.bias + col : nullptr, g.act,
                            g.residual != nullptr ? g.residual + row * g.ldr + col : nullptr, g.ldr);
}

template <class Arch, int R, int V>
void gemm_tile(const GemmArgs& g, std::size_t row, int col, int cols, const float* panel, int p0, int kc,
               bool first, bool last, const char* pf = nullptr, int pf_lines = 0) {
  if (cols == V * static_cast<int>(xsimd::batch<float, Arch>::size))
    gemm_tile_as<Arch, R, V, true>(g, row, col, cols, panel, p0, kc, first, last, pf, pf_lines);
  else
    gemm_tile_as<Arch, R, V, false>(g, row, col, cols, panel, p0, kc, first, last, pf, pf_lines);
}

template <class Arch, int V, std::size_t... R>
constexpr auto tile_table(std::index_sequence<R...>) {
  using Fn = void (*)(const GemmArgs&, std::size_t, int, int, const float*, int, int, bool, bool, const char*, int);
  return std::array<Fn, sizeof...(R)>{&gemm_tile<Arch, static_cast<int>(R) + 1, V>...};
}

// The B slice the next gemm_panel call will stream: prefetched into L2 a share
// per row tile while this one computes, so the first tile of the next panel does
// not wait on memory for weights that do not stay in cache between inferences.
// Each tile issues its share one line per step of its k loop: issued as a burst
// before the tile, they filled the fill buffers and the burst stalled (8 % of
// Hybrid-M's and Conv-L's time sat on it); spread, Hybrid-M took 0.95 of the time.
struct NextSlice {
  const char* begin = nullptr;
  std::size_t lines = 0;  // 64-byte lines
};

template <class Arch, int V>
void gemm_panel(const GemmArgs& g, std::size_t row_begin, std::size_t row_end, int col, const float* panel, int p0,
                int kc, NextSlice next) {
  using T = GemmTiling<Arch>;
  constexpr int kRows = T::rows_for(V), kTail = T::kRows;
  // Leftover rows take tiles of at most kTail rows: fewer instantiations to compile.
  static constexpr auto kTiles = tile_table<Arch, V>(std::make_index_sequence<kTail>{});
  const int cols = std::min(V * T::kLanes, g.n - col);
  const bool first = p0 == 0, last = p0 + kc >= g.k;
  const std::size_t tiles = (row_end - row_begin + kRows - 1) / kRows;
  const std::size_t share = (next.lines + tiles - 1) / tiles;
  std::size_t row = row_begin;
  for (; row + kRows <= row_end; row += kRows) {
    const std::size_t n = std::min(share, next.lines);
    const std::size_t in_loop = std::min(n, static_cast<std::size_t>(kc));  // more than kc: the rest now
    for (std::size_t i = in_loop; i < n; ++i) __builtin_prefetch(next.begin + 64 * i, 0, 2);
    gemm_tile<Arch, kRows, V>(g, row, col, cols, panel, p0, kc, first, last, next.begin, static_cast<int>(in_loop));
    next.begin += 64 * n;
    next.lines -= n;
  }
  if constexpr (kRows > kTail) {
    if (row + kTail <= row_end) {
      gemm_tile<Arch, kTail, V>(g, row, col, cols, panel, p0, kc, first, last);
      row += kTail;
    }
  }
  if (row < row_end) kTiles[row_end - row - 1](g, row, col, cols, panel, p0, kc, first, last, nullptr, 0);
}

template <class Arch, int... V>
void gemm_panel_dispatch(std::integer_sequence<int, V...>, int vectors, const GemmArgs& g, std::size_t r0,
                         std::size_t r1, int col, const float* panel, int p0, int kc, NextSlice next) {
  ((vectors == V + 1 ? gemm_panel<Arch, V + 1>(g, r0, r1, col, panel, p0, kc, next) : void()), ...);
}

// A panel `vectors` SIMD vectors wide (the last panel of B may be narrower).
template <class Arch>
void gemm_panel_any(int vectors, const GemmArgs& g, std::size_t r0, std::size_t r1, int col, const float* panel,
                    int p0, int kc, NextSlice next) {
  gemm_panel_dispatch<Arch>(std::make_integer_sequence<int, GemmTiling<Arch>::kPanelVectors>{}, vectors, g, r0, r1,
                            col, panel, p0, kc, next);
}

}  // namespace detail

// Column panels of a GEMM with n columns: the unit a caller may split C into.
template <class Arch>
constexpr int gemm_panels(int n) {
  return (n + GemmTiling<Arch>::kPanel - 1) / GemmTiling<Arch>::kPanel;
}

namespace detail {
// Width in floats of the panel that starts at column `col` (the last may be narrower).
template <class Arch>
constexpr int panel_width(int n, int col) {
  using T = GemmTiling<Arch>;
  return std::min(T::kPanel, (n - col + T::kLanes - 1) / T::kLanes * T::kLanes);
}
}  // namespace detail

// C's columns of panels [panel_begin, panel_end) (all rows).
template <class Arch>
void gemm_bias_act_panels(const GemmArgs& g, int panel_begin, int panel_end) {
  using T = GemmTiling<Arch>;
  const detail::GemmBlocking blk = detail::gemm_blocking<Arch>(g);
  const int col_begin = panel_begin * T::kPanel, col_end = std::min(g.n, panel_end * T::kPanel);
  // A model's weights come from L3 or memory at every inference: prefetch any B
  // over 64 KiB (measured with B cold: 0.93-0.98 of the time from 64 KiB up; a B
  // that is already hot in L2 pays 1-3 % for the prefetches on the smallest shapes).
  constexpr std::size_t kPrefetchBBytes = 64 * 1024;
  const bool prefetch = static_cast<std::size_t>(g.k) * static_cast<std::size_t>(g.n) * sizeof(float) > kPrefetchBBytes;
  // Every panel before the last is kPanel wide.
  const float* first_panel = g.b + static_cast<std::size_t>(g.k) * T::kPanel * panel_begin;
  // The depth slice p0.. of the panel at `col`, to prefetch while the step before it runs.
  const auto slice = [&](int col, int p0) -> detail::NextSlice {
    if (!prefetch || col >= col_end || p0 >= g.k) return {};
    const int w = detail::panel_width<Arch>(g.n, col);
    const float* panel = first_panel + static_cast<std::size_t>(g.k) * T::kPanel * ((col - col_begin) / T::kPanel);
    return {reinterpret_cast<const char*>(panel + static_cast<std::size_t>(p0) * w),
            static_cast<std::size_t>(std::min(blk.kc, g.k - p0)) * w * sizeof(float) / 64};
  };
  for (std::size_t r0 = 0; r0 < g.m; r0 += blk.mc) {
    const std::size_t r1 = std::min(g.m, r0 + blk.mc);
    for (int p0 = 0; p0 == 0 || p0 < g.k; p0 += blk.kc) {  // once even when k == 0: bias and activation
      const int kc = std::min(blk.kc, g.k - p0);
      const float* panel = first_panel;
      for (int col = col_begin; col < col_end; col += T::kPanel) {
        const int width = detail::panel_width<Arch>(g.n, col);
        // Next: this depth slice of the following panel, or the next slice of the first.
        const detail::NextSlice next =
            col + T::kPanel < col_end ? slice(col + T::kPanel, p0) : slice(col_begin, p0 + kc);
        detail::gemm_panel_any<Arch>(width / T::kLanes, g, r0, r1, col, panel, p0, kc, next);
        panel += static_cast<std::size_t>(g.k) * width;
      }
      if (blk.kc == 0) break;
    }
  }
}

template <class Arch>
void gemm_bias_act(const GemmArgs& g) {
  gemm_bias_act_panels<Arch>(g, 0, gemm_panels<Arch>(g.n));
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
