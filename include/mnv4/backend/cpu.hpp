#pragma once
// The default CPU backend: NHWC activations, BatchNorm and layer scale folded into
// the convolutions at load, 1×1 convolutions and attention as GEMMs, depthwise
// convolutions direct, bias/activation/residual fused into each kernel's store.
#include "mnv4/config.hpp"
#include <algorithm>
#include <cstddef>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <xsimd/xsimd.hpp>

#include "mnv4/backend/backend.hpp"
#include "mnv4/backend/reference.hpp"
#include "mnv4/core/run_context.hpp"
#include "mnv4/core/thread_pool.hpp"
#include "mnv4/kernels/cpu/attention.hpp"
#include "mnv4/kernels/cpu/dense_conv.hpp"
#include "mnv4/kernels/cpu/depthwise.hpp"
#include "mnv4/kernels/cpu/gemm.hpp"
#include "mnv4/kernels/cpu/winograd_s2.hpp"
#include "mnv4/layers/fold.hpp"
#include "mnv4/layers/weights.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace backend {

// Arch: an xsimd instruction-set tag; the kernels are compiled for it.
template <class Arch>
struct CpuFor {
  static constexpr std::string_view name = "cpu";
  static constexpr Layout layout = Layout::kNHWC;
  using arch = Arch;
  using fallback = Reference;
  template <class Op>
  static constexpr bool runs = is_one_of<Op, Stem, ConvBn, FusedIb, Uib, Mqa, Head>;
};

// The default backend: the best instruction set the consumer's compile flags allow.
using Cpu = CpuFor<xsimd::default_arch>;

}  // namespace backend

// A GEMM split across the pool: over row tiles when there are many rows, over
// column panels when there are few (deep layers at low resolution, the head),
// where a row split would leave threads idle on ragged tiles and make each
// thread stream all of B, or when B is wider than A is tall and too big to sit in
// L2 twice over: a thread then reads all of A but only its share of B (Conv-L's
// 24×24 and 12×12 blocks: 5–8 % faster on 2 threads). A B that fits stays on the
// row split, which keeps each row's data on one core for the next layer (a
// 410 KiB expansion split by columns made Conv-M's FFN block 10 % slower).
template <class Arch>
void parallel_gemm(const RunContext& ctx, const kernels::cpu::GemmArgs& g) {
  using T = kernels::cpu::GemmTiling<Arch>;
  constexpr std::size_t kSharedBBytes = 512 * 1024;
  const std::size_t threads = ctx.pool != nullptr ? static_cast<std::size_t>(ctx.pool->size()) : 1;
  const auto panels = static_cast<std::size_t>(kernels::cpu::gemm_panels<Arch>(g.n));
  const auto n = static_cast<std::size_t>(g.n);
  const bool wide_big_b = n > g.m && static_cast<std::size_t>(g.k) * n * sizeof(float) > kSharedBBytes;
  if (threads > 1 && (g.m < 64 * threads || wide_big_b) && panels >= 2 * threads) {
    parallel_for(ctx.pool, panels, [&](std::size_t b, std::size_t e) {
      kernels::cpu::gemm_bias_act_panels<Arch>(g, static_cast<int>(b), static_cast<int>(e));
    });
    return;
  }
  const std::size_t unit = T::kRowUnit;  // chunks of whole row tiles
  parallel_for(ctx.pool, (g.m + unit - 1) / unit, [&](std::size_t b, std::size_t e) {
    const std::size_t r0 = b * unit, r1 = std::min(g.m, e * unit);
    kernels::cpu::GemmArgs part = g;
    part.m = r1 - r0;
    part.a = g.a + r0 * g.lda;
    part.c = g.c + r0 * g.ldc;
    if (g.residual != nullptr) part.residual = g.residual + r0 * g.ldr;
    kernels::cpu::gemm_bias_act<Arch>(part);
  });
}

// A 1×1 convolution: a GEMM over pixels. Pixels sit in_pitch / out_pitch floats
// apart in `in` / `out` (0: their channel count); the residual is packed.
template <class Arch>
void pointwise(const RunContext& ctx, const float* in, Dims d, const FoldedConv& f, float* out,
               const float* residual = nullptr, std::size_t in_pitch = 0, std::size_t out_pitch = 0) {
  const std::size_t ci = static_cast<std::size_t>(f.in_c), co = static_cast<std::size_t>(f.out_c);
  parallel_gemm<Arch>(ctx, {.m = d.pixels(), .k = f.in_c, .n = f.out_c, .a = in, .lda = in_pitch != 0 ? in_pitch : ci,
                            .b = f.weights.data(), .bias = f.bias.data(), .act = f.act, .residual = residual,
                            .ldr = co, .c = out, .ldc = out_pitch != 0 ? out_pitch : co});
}

// A dense k×k convolution (im2col + GEMM, or direct) with its output pixels split across the pool.
template <class Arch>
Dims dense(const RunContext& ctx, const float* in, Dims d, const FoldedConv& f, float* scratch, float* out) {
  // 48 pixels: whole row tiles for every panel width (rows_for); their im2col
  // rows (54 KiB at k·k·c = 288) stay in L2 for the GEMM. Measured against 16, 24 and 96.
  constexpr std::size_t kPixelsPerTask = 2 * kernels::cpu::GemmTiling<Arch>::kRowUnit;
  const Dims o{d.n, f.out_c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
  const std::size_t pixels = o.pixels();
  if (kernels::cpu::dense_conv_is_direct<Arch>(d.c, f.out_c, f.k, f.stride)) {
    // Whole output rows: the direct kernel's pixel groups never straddle two tasks.
    const auto ow = static_cast<std::size_t>(o.w), co = static_cast<std::size_t>(f.out_c);
    parallel_for(ctx.pool, static_cast<std::size_t>(o.n) * o.h, [&](std::size_t b, std::size_t e) {
      kernels::cpu::dense_conv_rows<Arch>(in, d, f, nullptr, out + b * ow * co, nullptr, b * ow, e * ow);
    });
    return o;
  }
  const std::size_t depth = static_cast<std::size_t>(f.k) * f.k * d.c;
  const std::size_t threads = ctx.pool != nullptr ? static_cast<std::size_t>(ctx.pool->size()) : 1;
  const std::size_t part_floats = kernels::cpu::dense_conv_in_place_floats(d, f);
  const std::size_t out_rows = static_cast<std::size_t>(o.n) * o.h;
  // Output rows claimed a range at a time, each thread with its own edge batch
  // in the im2col scratch (pixels · depth floats: room for every thread but at tiny sizes).
  if (kernels::cpu::dense_conv_in_place<Arch>(d.c, f.out_c, f.k, f.stride) && threads * part_floats <= pixels * depth) {
    parallel_claim(ctx.pool, out_rows, threads, [&](std::size_t thread, auto& next) {
      for (std::size_t b = 0, e = 0; next(b, e);)
        kernels::cpu::dense_conv_in_place_rows<Arch>(in, d, f, scratch + thread * part_floats, out, b, e);
    });
    return o;
  }
  parallel_for(ctx.pool, (pixels + kPixelsPerTask - 1) / kPixelsPerTask, [&](std::size_t b, std::size_t e) {
    // One block of im2col rows per call (its first task's), reused for each task: L1-resident.
    float* rows = scratch + b * kPixelsPerTask * depth;
    for (std::size_t t = b; t < e; ++t)
      kernels::cpu::dense_conv_rows<Arch>(in, d, f, rows, out + t * kPixelsPerTask * f.out_c, nullptr,
                                          t * kPixelsPerTask, std::min(pixels, (t + 1) * kPixelsPerTask));
  });
  return o;
}

// Parts a layer split into one contiguous range per thread plans scratch for:
// the scratch is sized before the caller picks a thread count, so as many as
// the machine runs at once (a larger pool leaves its extra threads idle there).
inline std::size_t planned_parts() {
  static const std::size_t n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}

// Scratch floats winograd_s2 plans for input `in` and out_c outputs.
inline std::size_t winograd_s2_scratch(Dims in, int out_c) {
  return std::min(planned_parts(), kernels::cpu::winograd_s2_row_pairs(in)) * kernels::cpu::winograd_s2_floats(in.c, out_c);
}

// A 3×3 stride-2 convolution by the polyphase Winograd transform (f packed by
// pack_for_winograd_s2), output row pairs claimed a range at a time, each
// thread with its own transform blocks.
template <class Arch>
Dims winograd_s2(const RunContext& ctx, const float* in, Dims d, const FoldedConv& f, float* scratch, float* out) {
  const std::size_t pairs = kernels::cpu::winograd_s2_row_pairs(d), per = kernels::cpu::winograd_s2_floats(d.c, f.out_c);
  parallel_claim(ctx.pool, pairs, winograd_s2_scratch(d, f.out_c) / per, [&](std::size_t thread, auto& next) {
    for (std::size_t b = 0, e = 0; next(b, e);)
      kernels::cpu::winograd_s2_rows<Arch>(in, d, f, scratch + thread * per, out, b, e);
  });
  return {d.n, f.out_c, conv_out(d.h, 3, 2), conv_out(d.w, 3, 2)};
}

// A depthwise convolution with its (image, output row) range split across the pool
// (pixel pitches as in depthwise_conv_rows).
template <class Arch>
Dims depthwise(const RunContext& ctx, const float* in, Dims d, const FoldedConv& f, float* out,
               std::size_t in_pitch = 0, std::size_t out_pitch = 0) {
  parallel_for(ctx.pool, kernels::cpu::depthwise_rows(d, f), [&](std::size_t b, std::size_t e) {
    kernels::cpu::depthwise_conv_rows<Arch>(in, d, f, out, b, e, in_pitch, out_pitch);
  });
  return {d.n, d.c, conv_out(d.h, f.k, f.stride), conv_out(d.w, f.k, f.stride)};
}

// Whether a k×k convolution In → Out of a block runs by the Winograd transform:
// winograd_s2_preferred, asked at run time since for some shapes it depends on
// the CPU. Blocks whose shape it can never take compile no Winograd path (kShape).
template <class Arch, int In, int Out, int K, int Stride>
struct WinogradS2Choice {
  static constexpr bool kShape = kernels::cpu::winograd_s2_shape(In, K, Stride);
  static bool use() {
    if constexpr (kShape)
      return kernels::cpu::winograd_s2_preferred<Arch>(In, Out, K, Stride);
    else
      return false;
  }
};

// ---- Stem and ConvBnAct: one folded dense convolution ---------------------------

template <class Arch, class SpecT, SpecT S>
struct CpuConvBn {
  static constexpr Layout layout = Layout::kNHWC;
  // By the Winograd transform where WinogradS2Choice says; else direct or im2col.
  static bool winograd() { return WinogradS2Choice<Arch, S.in, S.out, S.k, S.stride>::use(); }
  explicit CpuConvBn(const ConvBnWeights& w) : conv_(pack(fold_dense(w, S.stride, S.act))) {}
  static Dims output_dims(Dims in) { return {in.n, S.out, conv_out(in.h, S.k, S.stride), conv_out(in.w, S.k, S.stride)}; }
  static std::size_t scratch_floats(Dims in) {
    if (winograd()) return winograd_s2_scratch(in, S.out);
    return kernels::cpu::im2col_floats<Arch>(output_dims(in).pixels(), S.in, S.out, S.k, S.stride);
  }
  void run(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    if constexpr (S.k == 1 && S.stride == 1) {
      pointwise<Arch>(ctx, in, d, conv_, out);
    } else {
      if (winograd())
        winograd_s2<Arch>(ctx, in, d, conv_, scratch, out);
      else
        dense<Arch>(ctx, in, d, conv_, scratch, out);
    }
  }
  static FoldedConv pack(FoldedConv f) {
    if (winograd()) return kernels::cpu::pack_for_winograd_s2<Arch>(std::move(f));
    return kernels::cpu::pack_for_gemm<Arch>(std::move(f));
  }
  FoldedConv conv_;
};

template <class Arch, Stem S>
struct BlockImpl<backend::CpuFor<Arch>, S> : CpuConvBn<Arch, Stem, S> {
  explicit BlockImpl(StemWeights&& w) : CpuConvBn<Arch, Stem, S>(w.conv) {}
};
template <class Arch, ConvBn S>
struct BlockImpl<backend::CpuFor<Arch>, S> : CpuConvBn<Arch, ConvBn, S> {
  explicit BlockImpl(ConvBnBlockWeights&& w) : CpuConvBn<Arch, ConvBn, S>(w.conv) {}
};

// ---- FusedIB: dense k×k expansion, 1×1 projection (+ residual) -------------------

template <class Arch, FusedIb S>
struct BlockImpl<backend::CpuFor<Arch>, S> {
  static constexpr Layout layout = Layout::kNHWC;
  // The expansion by the Winograd transform where WinogradS2Choice says (Conv-M's
  // and Hybrid-M's 32 → 128 everywhere, all four models' on AVX2/SSE), two output
  // rows at a time; else direct, in place, or im2col blocks (run).
  using Winograd = WinogradS2Choice<Arch, S.in, S.mid, S.k, S.stride>;
  explicit BlockImpl(FusedIbWeights&& w)
      : exp_(pack_expansion(fold_dense(w.exp, S.stride, S.act))),
        pwl_(kernels::cpu::pack_for_gemm<Arch>(fold_dense(w.pwl, 1, Act::kNone))) {}
  static Dims output_dims(Dims in) { return {in.n, S.out, conv_out(in.h, S.k, S.stride), conv_out(in.w, S.k, S.stride)}; }
  // [im2col rows | expanded]
  static std::size_t im2col(Dims in) {
    return kernels::cpu::im2col_floats<Arch>(output_dims(in).pixels(), S.in, S.mid, S.k, S.stride);
  }
  static std::size_t scratch_floats(Dims in) {
    if constexpr (Winograd::kShape) {
      if (Winograd::use()) return std::min(planned_parts(), kernels::cpu::winograd_s2_row_pairs(in)) * winograd_part_floats(in);
    }
    return im2col(in) + output_dims(in).pixels() * S.mid;
  }
  // Row by row with the input read in place where the shape allows
  // (run_rows_in_place), else in blocks of pixels gathered by im2col: either way
  // the expansion of a block of output pixels goes straight into the projection
  // while in L1/L2, so the expanded tensor (2 MB and more at these resolutions)
  // never makes a round trip through L3.
  void run(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    if constexpr (Winograd::kShape) {
      if (Winograd::use()) return run_winograd(in, d, out, scratch, ctx);
    }
    if (run_rows_in_place(in, d, out, scratch, ctx)) return;
    constexpr std::size_t kPixelsPerTask = 2 * kernels::cpu::GemmTiling<Arch>::kRowUnit;
    const Dims o = output_dims(d);
    const std::size_t pixels = o.pixels(), depth = static_cast<std::size_t>(S.k) * S.k * S.in;
    float* mid = scratch + im2col(d);
    parallel_for(ctx.pool, (pixels + kPixelsPerTask - 1) / kPixelsPerTask, [&](std::size_t b, std::size_t e) {
      // Per call, the blocks of its first task: im2col rows and expanded rows, reused.
      float* rows = scratch + b * kPixelsPerTask * depth;
      float* expanded = mid + b * kPixelsPerTask * S.mid;
      for (std::size_t t = b; t < e; ++t) {
        const std::size_t p0 = t * kPixelsPerTask, p1 = std::min(pixels, p0 + kPixelsPerTask);
        kernels::cpu::dense_conv_rows<Arch>(in, d, exp_, rows, expanded, nullptr, p0, p1);
        kernels::cpu::gemm_bias_act<Arch>({.m = p1 - p0, .k = S.mid, .n = S.out, .a = expanded, .lda = S.mid,
                                           .b = pwl_.weights.data(), .bias = pwl_.bias.data(), .act = Act::kNone,
                                           .residual = S.skip() ? in + p0 * S.out : nullptr, .ldr = S.out,
                                           .c = out + p0 * S.out, .ldc = S.out});
      }
    });
  }
  FoldedConv exp_, pwl_;

 private:
  static FoldedConv pack_expansion(FoldedConv f) {
    if (Winograd::use()) return kernels::cpu::pack_for_winograd_s2<Arch>(std::move(f));
    return kernels::cpu::pack_for_gemm<Arch>(std::move(f));
  }
  // A part's scratch on the Winograd path: the transform's blocks and a row pair's expansion.
  static std::size_t winograd_part_floats(Dims in) {
    return kernels::cpu::winograd_s2_floats(S.in, S.mid) + 2 * static_cast<std::size_t>(output_dims(in).w) * S.mid;
  }
  // Two output rows at a time: the pair's expansion by the Winograd transform
  // (winograd_s2_rows), then its projection while the expansion is in L1/L2.
  // Pairs claimed a range at a time, each thread with its own scratch.
  void run_winograd(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    const Dims o = output_dims(d);
    const std::size_t ow = static_cast<std::size_t>(o.w), pairs = kernels::cpu::winograd_s2_row_pairs(d);
    const std::size_t pairs_per_image = static_cast<std::size_t>((o.h + 1) / 2);
    const std::size_t part_floats = winograd_part_floats(d);
    parallel_claim(ctx.pool, pairs, scratch_floats(d) / part_floats, [&](std::size_t thread, auto& next) {
      float* transform = scratch + thread * part_floats;
      float* expanded = transform + kernels::cpu::winograd_s2_floats(S.in, S.mid);
      for (std::size_t b = 0, e = 0; next(b, e);) {
        for (std::size_t pair = b; pair < e; ++pair) {
          const std::size_t n = pair / pairs_per_image, oy = 2 * (pair % pairs_per_image);
          const std::size_t p0 = (n * static_cast<std::size_t>(o.h) + oy) * ow;
          const std::size_t pixels = std::min<std::size_t>(2, static_cast<std::size_t>(o.h) - oy) * ow;
          kernels::cpu::winograd_s2_rows<Arch>(in, d, exp_, transform, expanded, pair, pair + 1, p0);
          kernels::cpu::gemm_bias_act<Arch>({.m = pixels, .k = S.mid, .n = S.out, .a = expanded, .lda = S.mid,
                                             .b = pwl_.weights.data(), .bias = pwl_.bias.data(), .act = Act::kNone,
                                             .residual = S.skip() ? in + p0 * S.out : nullptr, .ldr = S.out,
                                             .c = out + p0 * S.out, .ldc = S.out});
        }
      }
    });
  }
  // Row by row where the expansion reads its input in place (a kernel row of
  // the patch within one GEMM depth slice, dense_conv_in_place): an output row's
  // expansion is one GEMM over its pixels, with no im2col copy, and goes on into
  // the projection while in L1/L2. Rows claimed a range at a time, each thread
  // with its edge batch and expanded row in the scratch. Conv-M's and Hybrid-M's
  // 32 → 128 (AVX-512), against the im2col blocks: 0.93–0.97 of the time at one
  // and two threads. False where the scratch has no room for the threads' parts.
  bool run_rows_in_place(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    if (!kernels::cpu::dense_conv_in_place<Arch>(S.in, S.mid, S.k, S.stride)) return false;
    const Dims o = output_dims(d);
    const std::size_t ow = static_cast<std::size_t>(o.w), rows = static_cast<std::size_t>(o.n) * o.h;
    const std::size_t edge_floats = kernels::cpu::dense_conv_in_place_floats(d, exp_);
    const std::size_t part_floats = edge_floats + ow * S.mid;
    const std::size_t threads = ctx.pool != nullptr ? static_cast<std::size_t>(ctx.pool->size()) : 1;
    if (std::min(threads, rows) * part_floats > scratch_floats(d)) return false;
    parallel_claim(ctx.pool, rows, threads, [&](std::size_t thread, auto& next) {
      float* edges = scratch + thread * part_floats;
      float* expanded = edges + edge_floats;
      for (std::size_t b = 0, e = 0; next(b, e);) {
        for (std::size_t r = b; r < e; ++r) {
          const std::size_t p0 = r * ow;
          kernels::cpu::dense_conv_in_place_rows<Arch>(in, d, exp_, edges, expanded, r, r + 1, p0);
          kernels::cpu::gemm_bias_act<Arch>({.m = ow, .k = S.mid, .n = S.out, .a = expanded, .lda = S.mid,
                                             .b = pwl_.weights.data(), .bias = pwl_.bias.data(), .act = Act::kNone,
                                             .residual = S.skip() ? in + p0 * S.out : nullptr, .ldr = S.out,
                                             .c = out + p0 * S.out, .ldc = S.out});
        }
      }
    });
    return true;
  }
};

// ---- UIB: [dw_start] → pw_exp → [dw_mid] → pw_proj (· layer scale) (+ residual) ----

template <class Arch, Uib S>
struct BlockImpl<backend::CpuFor<Arch>, S> {
  static constexpr Layout layout = Layout::kNHWC;
  explicit BlockImpl(UibWeights&& w)
      : pw_exp_(kernels::cpu::pack_for_gemm<Arch>(fold_dense(w.pw_exp, 1, S.act))),
        pw_proj_(kernels::cpu::pack_for_gemm<Arch>(fold_dense(w.pw_proj, 1, Act::kNone, w.gamma ? &*w.gamma : nullptr))) {
    using kernels::cpu::pack_for_depthwise;
    if (w.dw_start) dw_start_ = pack_for_depthwise<Arch>(fold_depthwise(*w.dw_start, S.start_stride(), Act::kNone));
    if (w.dw_mid) dw_mid_ = pack_for_depthwise<Arch>(fold_depthwise(*w.dw_mid, S.stride, S.act));
  }
  static Dims output_dims(Dims in) { return BlockImpl<backend::Reference, S>::output_dims(in); }
  static Dims start_dims(Dims in) { return BlockImpl<backend::Reference, S>::start_dims(in); }

  // [dw_start →] expand → dw_mid → project in bands of rows when one image's
  // expanded tensor is larger than L2: dw_start's rows for a band's new expanded
  // rows go into a small buffer the expansion reads from L1/L2, the expansion
  // into a window of rows (a ring) that stays in L2, the depthwise reads it from
  // there into a band of output rows the projection reads while it is still in
  // L2, and no expanded row is computed twice (only at the seams between
  // threads). Each band re-reads the expansion and projection weights, so that
  // must cost less than the round trips it saves: true for the high-resolution
  // blocks (96×96×192: 7 MB expanded, 37 KB of weights), not for 24×24×768
  // (590 KB of weights, 5 bands) or 12×12×2048 (4 MB, 12 bands), which were
  // 3–25 % slower banded. Smaller tensors stay op by op.
  static constexpr std::size_t kFuseBytes = std::size_t{1} << 20;
  static constexpr std::size_t kWindowBytes = 512 * 1024;
  static bool banded(Dims in) {
    if (S.mid_k == 0) return false;
    const Dims s = start_dims(in);
    const std::size_t expanded = s.plane() * S.mid * sizeof(float);
    const std::size_t weights = static_cast<std::size_t>(S.in) * S.mid * sizeof(float);
    const Banding bd = banding(s.w);
    const int oh = conv_out(s.h, S.mid_k, S.stride);
    const auto bands = static_cast<std::size_t>((oh + bd.band - 1) / bd.band);
    // A window never holds more rows than one image has; a part's window and
    // band of outputs live in region B.
    return expanded > kFuseBytes && bd.window <= s.h && bands * weights <= expanded &&
           part_floats(s.w) <= region_b(in);
  }
  struct Banding {
    int band = 1, window = 1;  // output rows per band; expanded rows a band's window holds
    // Expanded rows a band adds to its window (the first band of a range adds them in steps).
    constexpr int step() const { return band * S.stride; }
  };
  // The projection runs band by band too when the depthwise output would not
  // stay in L2 until a whole-image projection reads it (Conv-L's 48×48×384:
  // its block took 0.83 of the time); below that, the per-band projections
  // re-read their weights for little gain (a 491 KiB output: 1.04× the time).
  static constexpr std::size_t kProjectBytes = 512 * 1024;
  static bool projected_in_bands(Dims in) {
    return output_dims(in).plane() * static_cast<std::size_t>(S.mid) * sizeof(float) > kProjectBytes;
  }
  // Region B floats of one part: its window of expanded rows, its band of
  // depthwise outputs, then (with dw_start) dw_start's output for one step of
  // expanded rows.
  static std::size_t part_floats(int width) {
    const Banding bd = banding(width);
    const auto out_w = static_cast<std::size_t>(conv_out(width, S.mid_k, S.stride));
    const auto w = static_cast<std::size_t>(width);
    return (static_cast<std::size_t>(bd.window) * w + static_cast<std::size_t>(bd.band) * out_w) * S.mid +
           (S.start_k != 0 ? static_cast<std::size_t>(bd.step()) * w * S.in : 0);
  }
  static Banding banding(int width) {
    const std::size_t row_bytes = static_cast<std::size_t>(width) * S.mid * sizeof(float);
    const int fit = static_cast<int>(kWindowBytes / row_bytes);
    // A band of R output rows reads (R - 1)·stride + k rows, plus stride - 1 when
    // its first row is rounded down to a multiple of the stride.
    const int extra = S.mid_k + S.stride - 1;
    const int band = std::max(1, (fit - extra) / S.stride + 1);
    return {band, (band - 1) * S.stride + extra};
  }

  // Pixel pitch of the expanded tensors pw_exp → dw_mid → pw_proj pass on (op
  // by op): one cache line more than S.mid where S.mid·4 bytes is a multiple of
  // 512, whose pixels' lines would otherwise fall in 8 or fewer of L1's 64 sets,
  // so that the depthwise's columns evict one another (and their prefetches).
  // Measured on the depthwise alone (AVX-512): 12×12×2048 3×3 and 5×5 0.58 of the
  // time, 12×12×512 5×5 0.86, 24×24×768 5×5 0.95, 48×48×384 5×5/2 0.92; where
  // the lines spread over 16 sets or more (192, 480, 960) a pad only adds bytes.
  static constexpr std::size_t kMidPitch = S.mid_k != 0 && S.mid % 128 == 0 ? S.mid + 16 : S.mid;
  // [region A: dw_start or dw_mid output | region B: expanded]; banded, region B holds each part's
  // window, band of outputs and dw_start rows (part_floats).
  static std::size_t region_a(Dims in) {
    const Dims s = start_dims(in);
    return std::max(s.count(), output_dims(in).pixels() * kMidPitch);
  }
  static std::size_t region_b(Dims in) { return start_dims(in).pixels() * kMidPitch; }
  static std::size_t scratch_floats(Dims in) { return region_a(in) + region_b(in); }

  void run(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    using namespace kernels::cpu;  // NOLINT(google-build-using-namespace)
    float* a = scratch;
    float* b = scratch + region_a(d);
    if constexpr (S.mid_k != 0) {
      if (banded(d)) {  // dw_start runs band by band too
        if (projected_in_bands(d)) {
          expand_depthwise_banded(ctx, in, d, b, region_b(d), nullptr, S.skip() ? in : nullptr, out);
          return;
        }
        const Dims xd = expand_depthwise_banded(ctx, in, d, b, region_b(d), a, nullptr, nullptr);
        pointwise<Arch>(ctx, a, xd, pw_proj_, out, S.skip() ? in : nullptr);
        return;
      }
    }
    const float* x = in;
    Dims xd = d;
    if constexpr (S.start_k != 0) {
      xd = depthwise<Arch>(ctx, x, xd, dw_start_, a);
      x = a;
    }
    pointwise<Arch>(ctx, x, xd, pw_exp_, b, nullptr, 0, kMidPitch);
    xd.c = S.mid;
    x = b;
    if constexpr (S.mid_k != 0) {
      xd = depthwise<Arch>(ctx, x, xd, dw_mid_, a, kMidPitch, kMidPitch);
      x = a;
    }
    pointwise<Arch>(ctx, x, xd, pw_proj_, out, S.skip() ? in : nullptr, kMidPitch);
  }

  // [dw_start,] pw_exp and dw_mid of x [n, h, w, S.in] into dw [n, oh, ow, S.mid],
  // or with dw null, through pw_proj into out [n, oh, ow, S.out] (+ residual,
  // same shape as out); returns dw_mid's output dims. Output rows are claimed a
  // range at a time (parallel_claim), each thread with its own part of region B
  // (room for `room` floats): a window of expanded rows, a band of depthwise
  // outputs and dw_start's rows for one step. The window is a ring: expanded row
  // y sits in slot y % window, so the rows the next band shares stay where they
  // are and its new rows take the slots of the ones it no longer reads (moving
  // the shared rows to the front instead took 6 % of Conv-L's blocks.1.0). A
  // band's rows [lo, hi) are an image of their own to the depthwise kernel (lo a
  // multiple of the stride, so its output rows line up with the full image's).
  Dims expand_depthwise_banded(const RunContext& ctx, const float* x, Dims xd, float* region, std::size_t room,
                               float* dw, const float* residual, float* out) const {
    using namespace kernels::cpu;  // NOLINT(google-build-using-namespace)
    const int h = xd.h, w = xd.w, oh = conv_out(h, S.mid_k, S.stride), ow = conv_out(w, S.mid_k, S.stride);
    const int pad = conv_pad(S.mid_k, S.stride);
    const Banding bd = banding(w);
    const auto ring = static_cast<std::size_t>(bd.window);
    const std::size_t row_floats = static_cast<std::size_t>(w) * S.mid;
    const std::size_t out_row_floats = static_cast<std::size_t>(ow) * S.mid;
    const std::size_t in_row_floats = static_cast<std::size_t>(w) * S.in;
    const std::size_t total = static_cast<std::size_t>(xd.n) * oh;  // output rows
    parallel_claim(ctx.pool, total, room / part_floats(w), [&](std::size_t thread, auto& next) {
      float* window = region + thread * part_floats(w);
      float* band_rows = window + ring * row_floats;  // bd.band rows of depthwise output
      float* start_rows = band_rows + static_cast<std::size_t>(bd.band) * out_row_floats;  // bd.step() rows of dw_start
      int image_index = -1, held_lo = 0, held_hi = 0;  // expanded rows [held_lo, held_hi) of that image are held
      // Expanded rows [y0, y1) of image n into their slots, a step at a time and
      // split where the ring wraps, so that each piece is one GEMM over contiguous rows.
      const auto expand = [&](int n, int y0, int y1) {
        const float* image = x + static_cast<std::size_t>(n) * static_cast<std::size_t>(h) * in_row_floats;
        while (y0 < y1) {
          const auto slot = static_cast<std::size_t>(y0) % ring;
          const int y_end = std::min({y1, y0 + bd.step(), y0 + static_cast<int>(ring - slot)});
          const float* a = image + static_cast<std::size_t>(y0) * in_row_floats;
          if constexpr (S.start_k != 0) {
            depthwise_conv_rows<Arch>(image, Dims{1, S.in, h, w}, dw_start_, start_rows, static_cast<std::size_t>(y0),
                                      static_cast<std::size_t>(y_end),
                                      DepthwiseRowsLayout{.out_first = static_cast<std::size_t>(y0)});
            a = start_rows;
          }
          gemm_bias_act<Arch>({.m = static_cast<std::size_t>(y_end - y0) * w, .k = S.in, .n = S.mid, .a = a,
                               .lda = S.in, .b = pw_exp_.weights.data(), .bias = pw_exp_.bias.data(),
                               .act = pw_exp_.act, .c = window + slot * row_floats, .ldc = S.mid});
          y0 = y_end;
        }
      };
      // A thread's ranges follow one another until it takes some of another
      // thread's: the window carries over from one to the next.
      for (std::size_t r_begin = 0, r_end = 0; next(r_begin, r_end);) {
        for (std::size_t r = r_begin; r < r_end;) {
          const int n = static_cast<int>(r / static_cast<std::size_t>(oh)), oy0 = static_cast<int>(r % oh);
          const int oy1 = static_cast<int>(std::min<std::size_t>({static_cast<std::size_t>(oh),
                                                                   static_cast<std::size_t>(oy0 + bd.band),
                                                                   oy0 + (r_end - r)}));
          int lo = std::max(0, oy0 * S.stride - pad);
          lo -= lo % S.stride;
          const int hi = std::min(h, (oy1 - 1) * S.stride - pad + S.mid_k);
          if (n != image_index || lo < held_lo || lo >= held_hi) {
            image_index = n;
            held_lo = held_hi = lo;
          }
          held_lo = lo;
          if (held_hi < hi) {
            expand(n, held_hi, hi);
            held_hi = hi;
          }
          // Output row oy0 is row `skip` of the window's image.
          const auto skip = static_cast<std::size_t>(oy0 - lo / S.stride);
          const std::size_t pixel = (static_cast<std::size_t>(n) * oh + static_cast<std::size_t>(oy0)) * ow;
          depthwise_conv_rows<Arch>(window, Dims{1, S.mid, held_hi - held_lo, w}, dw_mid_,
                                    dw != nullptr ? dw + pixel * S.mid : band_rows, skip,
                                    skip + static_cast<std::size_t>(oy1 - oy0),
                                    DepthwiseRowsLayout{.ring = ring, .ring_first = static_cast<std::size_t>(held_lo) % ring,
                                                        .out_first = skip});
          r += static_cast<std::size_t>(oy1 - oy0);
          if (dw != nullptr) continue;
          gemm_bias_act<Arch>({.m = static_cast<std::size_t>(oy1 - oy0) * ow, .k = S.mid, .n = S.out,
                               .a = band_rows, .lda = S.mid,
                               .b = pw_proj_.weights.data(), .bias = pw_proj_.bias.data(), .act = pw_proj_.act,
                               .residual = residual != nullptr ? residual + pixel * S.out : nullptr, .ldr = S.out,
                               .c = out + pixel * S.out, .ldc = S.out});
        }
      }
    }, static_cast<std::size_t>(bd.band));  // whole bands a claim
    return {xd.n, S.mid, oh, ow};
  }
  FoldedConv dw_start_, pw_exp_, dw_mid_, pw_proj_;
};

// ---- Mobile MQA ---------------------------------------------------------------

template <class Arch, Mqa S>
struct BlockImpl<backend::CpuFor<Arch>, S> {
  static constexpr Layout layout = Layout::kNHWC;
  static constexpr int kQueryDim = S.heads * S.key_dim;
  static constexpr int kOutDim = S.heads * S.value_dim;

  explicit BlockImpl(MqaWeights&& w)
      : query_(kernels::cpu::pack_for_gemm<Arch>(fold_projection(w.query))),
        key_(kernels::cpu::pack_for_gemm<Arch>(fold_projection(w.key))),
        value_(kernels::cpu::pack_for_gemm<Arch>(fold_projection(w.value))),
        output_(kernels::cpu::pack_for_gemm<Arch>(fold_projection(w.output, w.gamma ? &*w.gamma : nullptr))) {
    std::vector<double> scale, shift;
    detail::bn_scale_shift(w.norm, nullptr, scale, shift);
    norm_scale_.assign(scale.begin(), scale.end());
    norm_shift_.assign(shift.begin(), shift.end());
    if constexpr (S.kv_stride > 1) {
      key_down_ = kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(*w.key_down, S.kv_stride, Act::kNone));
      value_down_ = kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(*w.value_down, S.kv_stride, Act::kNone));
    }
  }
  static Dims output_dims(Dims in) { return in; }
  static Dims kv_dims(Dims in) { return BlockImpl<backend::Reference, S>::kv_dims(in); }

  // Per image: normed [L,C] | q [L,heads*kd] | k_in, v_in [P,C] | k [P,kd] | v [P,vd] | attention scratch;
  // the attention output [N·L, heads*vd] is kept for the whole batch (one projection GEMM).
  struct Offsets {
    std::size_t normed, q, k_in, v_in, k, v, scores, o, total;
  };
  static Offsets offsets(Dims in) {
    const std::size_t l = in.plane(), p = kv_dims(in).plane(), c = static_cast<std::size_t>(in.c);
    Offsets o{};
    o.normed = 0;
    o.q = o.normed + l * c;
    o.k_in = o.q + l * kQueryDim;
    o.v_in = o.k_in + (S.kv_stride > 1 ? p * c : 0);
    o.k = o.v_in + (S.kv_stride > 1 ? p * c : 0);
    o.v = o.k + p * S.key_dim;
    o.scores = o.v + p * S.value_dim;
    o.scores = (o.scores + 15) / 16 * 16;  // the attention scratch holds packed panels: 64-byte aligned
    o.o = o.scores + kernels::cpu::attention_scratch<Arch>(l, p, S.key_dim, S.value_dim);
    o.total = o.o + in.pixels() * kOutDim;
    return o;
  }
  static std::size_t scratch_floats(Dims in) { return offsets(in).total; }

  void run(const float* in, Dims d, float* out, float* scratch, const RunContext& ctx) const {
    using namespace kernels::cpu;  // NOLINT(google-build-using-namespace)
    const Offsets off = offsets(d);
    const Dims one{1, d.c, d.h, d.w};
    const Dims kv = kv_dims(one);
    const std::size_t l = d.plane(), c = static_cast<std::size_t>(d.c);
    float* normed = scratch + off.normed;
    float* q = scratch + off.q;
    float* k = scratch + off.k;
    float* v = scratch + off.v;
    float* attn_out = scratch + off.o;

    for (int n = 0; n < d.n; ++n) {
      normalize(in + static_cast<std::size_t>(n) * l * c, l, normed, ctx);

      pointwise<Arch>(ctx, normed, one, query_, q);
      const float* k_src = normed;
      const float* v_src = normed;
      if constexpr (S.kv_stride > 1) {
        depthwise<Arch>(ctx, normed, one, key_down_, scratch + off.k_in);
        depthwise<Arch>(ctx, normed, one, value_down_, scratch + off.v_in);
        k_src = scratch + off.k_in;
        v_src = scratch + off.v_in;
      }
      parallel_gemm<Arch>(ctx, {.m = kv.plane(), .k = d.c, .n = S.key_dim, .a = k_src, .lda = c,
                                .b = key_.weights.data(), .c = k, .ldc = S.key_dim});
      parallel_gemm<Arch>(ctx, {.m = kv.plane(), .k = d.c, .n = S.value_dim, .a = v_src, .lda = c,
                                .b = value_.weights.data(), .c = v, .ldc = S.value_dim});
      const AttentionArgs args{.l = l, .p = kv.plane(), .heads = S.heads, .key_dim = S.key_dim,
                               .value_dim = S.value_dim, .q = q, .k = k, .v = v,
                               .o = attn_out + static_cast<std::size_t>(n) * l * kOutDim};
      prepare_attention<Arch>(args, scratch + off.scores);
      // Tasks of about 16 query rows (a head's scores stay in L1), as many for
      // each thread: 144 rows in 9 tasks made one of two threads do 5.
      const std::size_t threads = ctx.pool != nullptr ? static_cast<std::size_t>(ctx.pool->size()) : 1;
      const std::size_t tasks = threads * std::max<std::size_t>(1, (l + 16 * threads - 1) / (16 * threads));
      parallel_for(ctx.pool, tasks, [&](std::size_t b, std::size_t e) {
        multi_query_attention_rows<Arch>(args, scratch + off.scores, l * b / tasks, l * e / tasks);
      });
    }
    pointwise<Arch>(ctx, attn_out, Dims{d.n, kOutDim, d.h, d.w}, output_, out, in);
  }
  FoldedConv query_, key_, value_, output_, key_down_, value_down_;
  std::vector<float> norm_scale_, norm_shift_;

 private:
  // The block's BatchNorm on one image's `l` tokens, rows split across the pool.
  void normalize(const float* x, std::size_t l, float* normed, const RunContext& ctx) const {
    using B = xsimd::batch<float, Arch>;
    constexpr std::size_t kLanes = B::size;
    const std::size_t c = static_cast<std::size_t>(S.dim), body = c / kLanes * kLanes;
    parallel_for(ctx.pool, l, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        const float* row = x + i * c;
        float* dst = normed + i * c;
        std::size_t ch = 0;
        for (; ch < body; ch += kLanes)
          xsimd::fma(B::load_unaligned(row + ch), B::load_unaligned(norm_scale_.data() + ch),
                     B::load_unaligned(norm_shift_.data() + ch))
              .store_unaligned(dst + ch);
        for (; ch < c; ++ch) dst[ch] = row[ch] * norm_scale_[ch] + norm_shift_[ch];
      }
    });
  }
};

// ---- Head: average pool → conv_head + BN + act → classifier ----------------------

template <class Arch, Head S>
struct BlockImpl<backend::CpuFor<Arch>, S> {
  static constexpr Layout layout = Layout::kNHWC;
  explicit BlockImpl(HeadWeights&& w)
      : conv_(kernels::cpu::pack_for_gemm<Arch>(fold_dense(w.conv, 1, S.act))),
        classifier_(kernels::cpu::pack_for_gemm<Arch>(fold_projection(w.fc_weight))) {
    std::copy(w.fc_bias.values.begin(), w.fc_bias.values.end(), classifier_.bias.data());
  }
  static std::size_t scratch_floats(Dims in) { return static_cast<std::size_t>(in.n) * S.in; }

  void run(const float* in, Dims d, float* pre_logits, float* logits, float* scratch, const RunContext& ctx) const {
    const std::size_t c = static_cast<std::size_t>(S.in);
    const float inv = 1.0f / static_cast<float>(d.plane());
    for (int n = 0; n < d.n; ++n) {
      float* pooled = scratch + static_cast<std::size_t>(n) * c;
      std::fill(pooled, pooled + c, 0.0f);
      const float* x = in + static_cast<std::size_t>(n) * d.plane() * c;
      for (std::size_t i = 0; i < d.plane(); ++i)
        for (std::size_t ch = 0; ch < c; ++ch) pooled[ch] += x[i * c + ch];
      for (std::size_t ch = 0; ch < c; ++ch) pooled[ch] *= inv;
    }
    const auto batch = static_cast<std::size_t>(d.n);
    parallel_gemm<Arch>(ctx, {.m = batch, .k = S.in, .n = S.hidden, .a = scratch, .lda = c, .b = conv_.weights.data(),
                              .bias = conv_.bias.data(), .act = S.act, .c = pre_logits, .ldc = S.hidden});
    parallel_gemm<Arch>(ctx, {.m = batch, .k = S.hidden, .n = S.classes, .a = pre_logits, .lda = S.hidden,
                              .b = classifier_.weights.data(), .bias = classifier_.bias.data(), .c = logits,
                              .ldc = S.classes});
  }
  FoldedConv conv_, classifier_;
};

}  // namespace mnv4
