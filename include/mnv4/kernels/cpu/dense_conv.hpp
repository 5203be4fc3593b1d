#pragma once
// Dense k×k convolution on NHWC (stem, FusedIB expansion, ConvBnAct) as
// im2col + GEMM, or directly where few input channels or few outputs make the
// im2col copy a large share of the work (dense_conv_is_direct); a 1×1 stride-1
// convolution is the GEMM alone.
#include "mnv4/config.hpp"
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/gemm.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// Rows [p_begin, p_end) of the im2col matrix (row p = output pixel p of the
// flattened (image, oy, ox) range): the k×k×c patch, zeros where it leaves the image.
// In NHWC one kernel row of a patch is k·c contiguous floats, so interior pixels
// copy k runs instead of k·k taps; the position advances without a division per pixel.
inline void im2col_nhwc(const float* in, Dims d, int k, int stride, std::size_t p_begin, std::size_t p_end,
                        float* cols) {
  if (p_begin >= p_end) return;
  const int pad = conv_pad(k, stride);
  const int oh = conv_out(d.h, k, stride), ow = conv_out(d.w, k, stride);
  const std::size_t c = static_cast<std::size_t>(d.c), per_image = static_cast<std::size_t>(oh) * ow;
  const std::size_t run = static_cast<std::size_t>(k) * c;
  const auto copy = [](const float* from, std::size_t count, float* to) {
    for (std::size_t i = 0; i < count; ++i) to[i] = from[i];  // short runs: inline, no memmove call
  };
  std::size_t n = p_begin / per_image;
  int oy = static_cast<int>(p_begin % per_image) / ow, ox = static_cast<int>(p_begin % per_image) % ow;
  for (std::size_t p = p_begin; p < p_end; ++p) {
    const float* src = in + n * d.plane() * c;
    const int ix0 = ox * stride - pad;
    const bool x_inside = ix0 >= 0 && ix0 + k <= d.w;
    for (int ky = 0; ky < k; ++ky, cols += run) {
      const int iy = oy * stride - pad + ky;
      if (iy < 0 || iy >= d.h) {
        std::fill(cols, cols + run, 0.0f);
      } else if (x_inside) {
        copy(src + (static_cast<std::size_t>(iy) * d.w + ix0) * c, run, cols);
      } else {
        for (int kx = 0; kx < k; ++kx) {
          const int ix = ix0 + kx;
          if (ix >= 0 && ix < d.w)
            copy(src + (static_cast<std::size_t>(iy) * d.w + ix) * c, c, cols + kx * c);
          else
            std::fill(cols + kx * c, cols + (kx + 1) * c, 0.0f);
        }
      }
    }
    if (++ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++n;
      }
    }
  }
}

namespace detail {
// Longest patch (k·k·c floats) the direct path takes: its edge groups gather
// their patches on the stack.
inline constexpr int kDirectMaxDepth = 512;

// Widest output of the direct kernel, in vectors: with 32 registers, 4 pixels ×
// 6 vectors of accumulators, a row of 6 weights and a broadcast take 31; with 16,
// one GEMM panel.
template <class Arch>
constexpr int direct_max_vectors() {
  return GemmTiling<Arch>::kLanes >= 16 ? 6 : GemmTiling<Arch>::kPanelVectors;
}

// Direct convolution for outputs up to V vectors wide: a group of G output
// pixels of one row holds G·V accumulators in registers, and each input value
// is broadcast against a row of the [k·k·c, out] weights. Groups whose
// taps all fall inside the image read the input in place; the others (a row's
// edges, a row's or the range's last pixels) first gather their patches, zeros
// outside the image, with im2col, so no pixel takes a slower path. K, C, S are
// the kernel size, input channels and stride when known at compile time (0:
// read from f and d): the pixels' distance S·C is then an immediate of the
// loads, where a run-time one costs index registers GCC spills.
template <class Arch, int V, int K, int C, int S>
void direct_conv_rows(const float* in, Dims d, const FoldedConv& f, float* out_rows, std::size_t p_begin,
                      std::size_t p_end) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  // Pixels per group: G·V accumulators, 16 to 24 of the registers.
  constexpr int G = V <= 2 ? 8 : 4;
  const int k = K != 0 ? K : f.k, c = C != 0 ? C : d.c, stride = S != 0 ? S : f.stride;
  const int pad = conv_pad(k, stride), n_out = f.out_c;
  const int oh = conv_out(d.h, k, stride), ow = conv_out(d.w, k, stride);
  const std::size_t per_image = static_cast<std::size_t>(oh) * ow, co = static_cast<std::size_t>(n_out);
  const std::size_t depth = static_cast<std::size_t>(k) * k * c;  // ≤ kDirectMaxDepth (dense_conv_is_direct)
  // The weights in the GEMM's column panels (pack_for_gemm): vector v of a
  // weight row is vector v % kPV of panel v / kPV, whose rows are kPV vectors
  // wide except the last panel's.
  constexpr int kPV = GemmTiling<Arch>::kPanelVectors, kPanels = (V + kPV - 1) / kPV;
  constexpr auto panel_width = [](int j) { return (V - j * kPV < kPV ? V - j * kPV : kPV) * kLanes; };
  const float* w = f.weights.data();
  std::array<B, V> bias;
  alignas(64) float bias_padded[V * kLanes] = {};
  std::copy_n(f.bias.data(), n_out, bias_padded);
#pragma GCC unroll 16
  for (int v = 0; v < V; ++v) bias[v] = B::load_aligned(bias_padded + v * kLanes);
  // Output columns whose taps all fall inside the image: [ox_lo, ox_hi).
  const int ox_lo = std::min(ow, (pad + stride - 1) / stride);
  const int ox_hi = std::max(ox_lo, std::min(ow, (d.w - k + pad) / stride + 1));
  const Act act = f.act;
  // Bias, activation and store of a group's outputs, from `tile` (row i: pixel
  // p + i). The accumulators go through memory once per group (G·V stores for
  // k·k·c·G·V FMAs) so that the activation's code never shares registers with
  // them: with GELU inlined after the loop, GCC kept some accumulators in memory
  // throughout the loop in the dispatched model runners (the layer took 1.6x as long).
  const int whole = n_out / kLanes;  // vectors stored as they are; a last partial one goes through tmp
  const auto finish = [&](const float* tile, std::size_t p, int count) {
    for (int i = 0; i < count; ++i) {
      float* o = out_rows + (p + static_cast<std::size_t>(i) - p_begin) * co;
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        const B y = activate<Arch>(B::load_aligned(tile + (i * V + v) * kLanes), act);
        if (v < whole) {
          y.store_unaligned(o + v * kLanes);
        } else {
          alignas(64) float tmp[kLanes];
          y.store_aligned(tmp);
          std::copy_n(tmp, n_out - v * kLanes, o + v * kLanes);
        }
      }
    }
  };
  // Pixels p .. p+count of a group: pixel i's taps of kernel rows ky0 .. ky1 start
  // at x + (ky - ky0)·row_pitch + i·pitch (kPitch: pitch when a constant, else 0).
  const auto group = [&]<std::size_t kPitch>(const float* x, std::size_t pitch, std::size_t row_pitch, int ky0,
                                             int ky1, std::size_t p, int count) {
    const std::size_t ps = kPitch != 0 ? kPitch : pitch;
    // Every loop over acc is unrolled whole, or GCC keeps it in memory (see gemm_tile).
    std::array<std::array<B, V>, G> acc;
#pragma GCC unroll 16
    for (int i = 0; i < G; ++i) acc[i] = bias;
    for (int ky = ky0; ky < ky1; ++ky, x += row_pitch) {
      std::array<const float*, kPanels> w_rows;  // kernel row ky's first weight row, per panel
#pragma GCC unroll 4
      for (int j = 0; j < kPanels; ++j)
        w_rows[j] = w + depth * static_cast<std::size_t>(j * kPV * kLanes) +
                    static_cast<std::size_t>(ky * k * c) * static_cast<std::size_t>(panel_width(j));
      for (int t = 0; t < k * c; ++t) {  // (kx, ci) pairs: contiguous in NHWC and in the weights
        std::array<B, V> wv;
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
          wv[v] = B::load_aligned(w_rows[v / kPV] + static_cast<std::size_t>(t * panel_width(v / kPV) + v % kPV * kLanes));
#pragma GCC unroll 16
        for (int i = 0; i < G; ++i) {
          const B xb(x[i * ps + static_cast<std::size_t>(t)]);
#pragma GCC unroll 16
          for (int v = 0; v < V; ++v) acc[i][v] = xsimd::fma(xb, wv[v], acc[i][v]);
        }
      }
    }
    if (act != Act::kGelu && count == G) {
      // ReLU or none: stored straight from the accumulators (the stem: 0.91–0.95
      // of the time of the round trip through `tile`), a partial last vector through tmp.
      if (act == Act::kRelu)
#pragma GCC unroll 16
        for (int i = 0; i < G; ++i)
#pragma GCC unroll 16
          for (int v = 0; v < V; ++v) acc[i][v] = xsimd::max(acc[i][v], B(0.0f));
      float* o = out_rows + (p - p_begin) * co;
#pragma GCC unroll 16
      for (int i = 0; i < G; ++i)
#pragma GCC unroll 16
        for (int v = 0; v < V; ++v) {
          float* at = o + static_cast<std::size_t>(i) * co + static_cast<std::size_t>(v * kLanes);
          if (v < whole) {
            acc[i][v].store_unaligned(at);
          } else {
            alignas(64) float tmp[kLanes];
            acc[i][v].store_aligned(tmp);
            std::copy_n(tmp, n_out - v * kLanes, at);
          }
        }
      return;
    }
    alignas(64) float tile[G * V * kLanes];
#pragma GCC unroll 16
    for (int i = 0; i < G; ++i)
#pragma GCC unroll 16
      for (int v = 0; v < V; ++v) acc[i][v].store_aligned(tile + (i * V + v) * kLanes);
    finish(tile, p, count);
  };
  // An edge group's im2col rows. Zeroed once: a group short of G pixels still
  // computes G, and rows never written held stack garbage, over which such a
  // group took about 7 times as long (denormal or NaN operands).
  alignas(64) float patches[G * kDirectMaxDepth] = {};
  std::size_t n = p_begin / per_image;
  int oy = static_cast<int>(p_begin % per_image) / ow, ox = static_cast<int>(p_begin % per_image) % ow;
  for (std::size_t p = p_begin; p < p_end;) {
    const int count = static_cast<int>(std::min({static_cast<std::size_t>(G), static_cast<std::size_t>(ow - ox), p_end - p}));
    if (count == G && ox >= ox_lo && ox + G <= ox_hi) {
      // Kernel rows outside the image are skipped: they would only add zeros.
      const int iy0 = oy * stride - pad;
      const int ky0 = std::max(0, -iy0), ky1 = std::min(k, d.h - iy0);
      const float* x = in + ((n * static_cast<std::size_t>(d.h) + static_cast<std::size_t>(iy0 + ky0)) * d.w +
                             static_cast<std::size_t>(ox * stride - pad)) * c;
      group.template operator()<static_cast<std::size_t>(S * C)>(x, static_cast<std::size_t>(stride * c),
                                                                   static_cast<std::size_t>(d.w) * c, ky0, ky1, p, G);
    } else {
      im2col_nhwc(in, d, k, stride, p, p + static_cast<std::size_t>(count), patches);
      group.template operator()<static_cast<std::size_t>(K * K * C)>(patches, depth, static_cast<std::size_t>(k * c),
                                                                       0, k, p, count);
    }
    p += static_cast<std::size_t>(count);
    ox += count;
    if (ox == ow) {
      ox = 0;
      if (++oy == oh) {
        oy = 0;
        ++n;
      }
    }
  }
}

// The shapes with a compiled direct kernel beyond the few-channel generic one
// (which also runs MobileNetV4's stem, 3×3/2 from 3 channels): the 3×3/2
// convolutions from 24 or 32 channels into at most 96, Conv-S's first two blocks
// and the large models' FusedIB expansion.
constexpr bool direct_conv_compiled(int k, int in_c, int stride) {
  return k == 3 && stride == 2 && (in_c == 24 || in_c == 32);
}

template <class Arch, int V>
void direct_conv_rows_any(const float* in, Dims d, const FoldedConv& f, float* out_rows, std::size_t p_begin,
                          std::size_t p_end) {
  constexpr bool kPanelWide = V <= GemmTiling<Arch>::kPanelVectors;
  if constexpr (kPanelWide)
    if (f.k == 3 && f.stride == 2 && d.c == 3)
      return direct_conv_rows<Arch, V, 3, 3, 2>(in, d, f, out_rows, p_begin, p_end);
  if constexpr (GemmTiling<Arch>::kLanes >= 16) {
    if (f.k == 3 && f.stride == 2 && d.c == 32)
      return direct_conv_rows<Arch, V, 3, 32, 2>(in, d, f, out_rows, p_begin, p_end);
    if (f.k == 3 && f.stride == 2 && d.c == 24)
      return direct_conv_rows<Arch, V, 3, 24, 2>(in, d, f, out_rows, p_begin, p_end);
  }
  if constexpr (kPanelWide)
    direct_conv_rows<Arch, V, 0, 0, 0>(in, d, f, out_rows, p_begin, p_end);
  else  // dense_conv_is_direct admits wider outputs only for the compiled shapes
    mnv4::detail::fail("dense_conv: no direct kernel for ", f.k, "x", f.k, "/", f.stride, " from ", d.c, " channels");
}
}  // namespace detail

// True when dense_conv_rows takes the direct path, which needs no im2col scratch:
// few input channels (the stem: im2col + GEMM would spend more on moving 27-float
// patches than on the arithmetic), or, on AVX-512, a compiled shape with at most
// six vectors of outputs. There im2col moves k·k·c floats per pixel for few
// outputs, and the direct loop reads the input in place for all of them at once
// (the GEMM splits 96 outputs into a 64- and a 32-wide panel): measured against
// im2col + GEMM, 3×3/2 32 → 32 took 0.77 of the time, 32 → 96 0.91, 24 → 96 0.94.
template <class Arch>
constexpr bool dense_conv_is_direct(int in_c, int out_c, int k, int stride) {
  using T = GemmTiling<Arch>;
  if (k <= 1 || k * k * in_c > detail::kDirectMaxDepth) return false;
  if (in_c <= 4) return out_c <= T::kPanel;
  return T::kLanes >= 16 && out_c <= detail::direct_max_vectors<Arch>() * T::kLanes &&
         detail::direct_conv_compiled(k, in_c, stride);
}

// im2col floats dense_conv_rows needs for `pixels` output pixels (none for a 1×1
// stride-1 convolution or the direct path).
template <class Arch>
constexpr std::size_t im2col_floats(std::size_t pixels, int in_c, int out_c, int k, int stride) {
  if ((k == 1 && stride == 1) || dense_conv_is_direct<Arch>(in_c, out_c, k, stride)) return 0;
  return pixels * static_cast<std::size_t>(k * k * in_c);
}

// Scratch floats dense_conv needs for input `in`.
template <class Arch>
std::size_t dense_conv_scratch(Dims in, const FoldedConv& f) {
  const Dims o{in.n, f.out_c, conv_out(in.h, f.k, f.stride), conv_out(in.w, f.k, f.stride)};
  return im2col_floats<Arch>(o.pixels(), in.c, f.out_c, f.k, f.stride);
}

// Output pixels [p_begin, p_end) of act(conv(in) + bias) (+ residual), written to
// `out_rows` (its row 0 is pixel p_begin; `residual_rows` likewise, or null).
// `rows_scratch` holds (p_end - p_begin) im2col rows of k·k·c floats; a caller
// reuses one small block of it for consecutive ranges, so the patches stay in
// L1 between im2col and the GEMM.
template <class Arch>
void dense_conv_rows(const float* in, Dims d, const FoldedConv& f, float* rows_scratch, float* out_rows,
                     const float* residual_rows, std::size_t p_begin, std::size_t p_end) {
  if (dense_conv_is_direct<Arch>(d.c, f.out_c, f.k, f.stride)) {
    constexpr int kLanes = GemmTiling<Arch>::kLanes;
    const int vectors = (f.out_c + kLanes - 1) / kLanes;  // the width of the one weight panel
    [&]<int... V>(std::integer_sequence<int, V...>) {
      ((vectors == V + 1 ? detail::direct_conv_rows_any<Arch, V + 1>(in, d, f, out_rows, p_begin, p_end) : void()), ...);
    }(std::make_integer_sequence<int, detail::direct_max_vectors<Arch>()>{});
    if (residual_rows != nullptr)
      bias_act_residual<Arch>(out_rows, p_end - p_begin, f.out_c, static_cast<std::size_t>(f.out_c), nullptr,
                              Act::kNone, residual_rows, static_cast<std::size_t>(f.out_c));
    return;
  }
  const std::size_t depth = static_cast<std::size_t>(f.k) * f.k * d.c, co = static_cast<std::size_t>(f.out_c);
  const float* a = in + p_begin * depth;  // 1×1 stride 1: the input is the matrix
  if (f.k != 1 || f.stride != 1) {
    im2col_nhwc(in, d, f.k, f.stride, p_begin, p_end, rows_scratch);
    a = rows_scratch;
  }
  gemm_bias_act<Arch>({.m = p_end - p_begin, .k = static_cast<int>(depth), .n = f.out_c, .a = a, .lda = depth,
                       .b = f.weights.data(), .bias = f.bias.data(), .act = f.act, .residual = residual_rows,
                       .ldr = co, .c = out_rows, .ldc = co});
}

// True when dense_conv_in_place_rows runs this convolution: not direct, a
// kernel row's k·c floats at most one GEMM depth slice (a slice is then one
// kernel row of the pixels, read from the input where it is), and out_c ≤ k·k·c
// (its edge batch's results fit beside the patches in dense_conv_in_place_floats).
// The CPU backend's dense layers (ConvBn k×k) take it where the Winograd
// transform does not (winograd_s2.hpp, which now runs the models' 3×3/2 layers
// on AVX2 and SSE; direct on AVX-512). Measured against
// im2col + GEMM in 48-pixel blocks (bench_kernels dense/*): 32 → 32 at 112×112
// 0.87–0.92 of the time on AVX2, the other AVX2/SSE shapes 0.91–1.02, and the
// 32 → 128 shape of Conv-M's FusedIB 0.88–0.93 on AVX-512. The FusedIB block
// takes it row by row too (its expansion, see the CPU backend).
template <class Arch>
bool dense_conv_in_place(int in_c, int out_c, int k, int stride) {
  return k > 1 && !dense_conv_is_direct<Arch>(in_c, out_c, k, stride) && k * in_c <= GemmTiling<Arch>::depth() &&
         out_c <= k * k * in_c;
}

// Output pixels a batch of dense_conv_in_place_rows gathers at the image's edges.
inline constexpr int kInPlaceEdgeBatch = 24;

// Scratch floats dense_conv_in_place_rows needs (per concurrent caller).
inline std::size_t dense_conv_in_place_floats(Dims in, const FoldedConv& f) {
  return 2 * static_cast<std::size_t>(kInPlaceEdgeBatch) * static_cast<std::size_t>(f.k * f.k * in.c);
}

// Output rows [row_begin, row_end) of the flattened (image, output row) range of
// act(conv(in) + bias), written to `out` from its pixel `out_first` on (0: out
// holds the whole output; a caller with one row's buffer passes the row's first
// pixel), without im2col where the taps fall inside the image: a
// row's interior pixels are one GEMM whose A rows are the pixels' patches in
// place (stride·c apart), each depth slice one kernel row (a_run = k·c floats,
// an input row apart). Pixels with taps outside the image gather their patches
// into `scratch` in batches, and their results go through it to their places.
template <class Arch>
void dense_conv_in_place_rows(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out,
                              std::size_t row_begin, std::size_t row_end, std::size_t out_first = 0) {
  const int k = f.k, s = f.stride, pad = conv_pad(k, s);
  const int oh = conv_out(d.h, k, s), ow = conv_out(d.w, k, s);
  const std::size_t c = static_cast<std::size_t>(d.c), depth = static_cast<std::size_t>(k) * k * c;
  const std::size_t co = static_cast<std::size_t>(f.out_c);
  const int ox_lo = std::min(ow, (pad + s - 1) / s);
  const int ox_hi = std::max(ox_lo, std::min(ow, (d.w - k + pad) / s + 1));
  const GemmArgs base{.k = static_cast<int>(depth), .n = f.out_c, .b = f.weights.data(), .bias = f.bias.data(),
                      .act = f.act, .ldc = co};
  float* patches = scratch;
  float* results = scratch + kInPlaceEdgeBatch * depth;  // out_c ≤ depth floats a pixel
  std::array<std::size_t, kInPlaceEdgeBatch> pending{};
  std::size_t count = 0;
  const auto flush = [&] {
    if (count == 0) return;
    GemmArgs g = base;
    g.m = count;
    g.a = patches;
    g.lda = depth;
    g.c = results;
    gemm_bias_act<Arch>(g);
    for (std::size_t i = 0; i < count; ++i) std::copy_n(results + i * co, co, out + (pending[i] - out_first) * co);
    count = 0;
  };
  const auto edge = [&](std::size_t p) {
    im2col_nhwc(in, d, k, s, p, p + 1, patches + count * depth);
    pending[count++] = p;
    if (count == kInPlaceEdgeBatch) flush();
  };
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const std::size_t n = r / static_cast<std::size_t>(oh), first = r * static_cast<std::size_t>(ow);
    const int iy0 = static_cast<int>(r % static_cast<std::size_t>(oh)) * s - pad;
    if (iy0 < 0 || iy0 + k > d.h || ox_lo >= ox_hi) {
      for (int ox = 0; ox < ow; ++ox) edge(first + static_cast<std::size_t>(ox));
      continue;
    }
    for (int ox = 0; ox < ox_lo; ++ox) edge(first + static_cast<std::size_t>(ox));
    for (int ox = ox_hi; ox < ow; ++ox) edge(first + static_cast<std::size_t>(ox));
    GemmArgs g = base;
    g.m = static_cast<std::size_t>(ox_hi - ox_lo);
    g.a = in + ((n * static_cast<std::size_t>(d.h) + static_cast<std::size_t>(iy0)) * static_cast<std::size_t>(d.w) +
                static_cast<std::size_t>(ox_lo * s - pad)) * c;
    g.lda = static_cast<std::size_t>(s) * c;
    g.a_run = static_cast<std::size_t>(k) * c;
    g.a_run_pitch = static_cast<std::size_t>(d.w) * c;
    g.c = out + (first + static_cast<std::size_t>(ox_lo) - out_first) * co;
    gemm_bias_act<Arch>(g);
  }
  flush();
}

// out = act(conv(in) + bias) (+ residual, same shape as out); returns the output dims.
template <class Arch>
Dims dense_conv(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out,
                const float* residual = nullptr) {
  const Dims o{d.n, f.out_c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
  dense_conv_rows<Arch>(in, d, f, scratch, out, residual, 0, o.pixels());  // scratch: dense_conv_scratch floats
  return o;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
