// Per-kernel throughput at the real shapes of the models: every distinct stem,
// dense (FusedIB), pointwise, depthwise and attention call that Conv-S, Conv-L and
// Hybrid-M make at their native resolution, single thread; every pointwise shape
// also through Eigen's GEMM (pointwise_eigen), the alternative the packed GEMM must
// beat, and every 3×3 stride-2 shape also through the polyphase Winograd transform
// (winograd; its FLOP/s count the direct convolution's operations, so the two
// compare as times and the transform's can exceed the peak). Counters:
//   FLOP/s     2 × multiply-accumulates per second
//   B/s        the kernel's compulsory traffic (input + weights + output) per second
//   FLOP/B     arithmetic intensity of that traffic
//   roof%      achieved / attainable, attainable = min(peak, bandwidth × FLOP/B)
// with the peak and bandwidth of ../shared/peers (override with MNV4_PEAK_GFLOPS
// and MNV4_BANDWIDTH_GBS for another machine). The kernel farthest below its
// roofline is the one to work on.
//
// Compiled once per instruction set (like the tests); only those this CPU has run:
//   bench_kernels --benchmark_filter='avx512bw/pointwise'
// avx512bw/fma_peak (and avx2/, baseline/) measure this core's own fp32 peak.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <Eigen/Core>

#include "mnv4/backend/cpu.hpp"
#include "mnv4/models/all.hpp"

#ifndef MNV4_BENCH_ISA
#define MNV4_BENCH_ISA native
#endif
#define MNV4_BENCH_STR2(x) #x
#define MNV4_BENCH_STR(x) MNV4_BENCH_STR2(x)

namespace mnv4 {
namespace {

using Arch = xsimd::default_arch;
constexpr const char* kIsa = MNV4_BENCH_STR(MNV4_BENCH_ISA);

bool isa_available() {
  const std::string isa = kIsa;
  const auto cpu = xsimd::available_architectures();
  if (isa == "avx512bw") return cpu.avx512bw;
  if (isa == "avx2") return cpu.fma3_avx2;
  return true;
}

double env_or(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atof(v) : fallback;
}

// One kernel call: what runs, on which extent.
struct Case {
  std::string kind;  // stem, dense, winograd, pointwise, pointwise_eigen, depthwise, attention, uib
  int h = 0, w = 0, in_c = 0, out_c = 0, k = 1, stride = 1;
  int heads = 0, key_dim = 0, kv_h = 0, kv_w = 0;  // attention only
  int band = 0;  // uib only: output rows per band (0: each op over the whole image)
  auto key() const { return std::tie(kind, h, w, in_c, out_c, k, stride, heads, key_dim, kv_h, kv_w, band); }
  bool operator<(const Case& o) const { return key() < o.key(); }
};

// A dense k×k convolution, and the same through the Winograd transform where it runs 3×3/2.
void add_dense(std::vector<Case>& out, int h, int w, int in_c, int out_c, int k, int stride) {
  out.push_back({"dense", h, w, in_c, out_c, k, stride});
  if (k == 3 && stride == 2 && in_c >= 16) out.push_back({"winograd", h, w, in_c, out_c, k, stride});
}

void add_block(std::vector<Case>& out, const FusedIb& s, int h, int w) {
  add_dense(out, h, w, s.in, s.mid, s.k, s.stride);
  const int oh = conv_out(h, s.k, s.stride), ow = conv_out(w, s.k, s.stride);
  out.push_back({"pointwise", oh, ow, s.mid, s.out});
}
void add_block(std::vector<Case>& out, const ConvBn& s, int h, int w) {
  if (s.k == 1 && s.stride == 1)
    out.push_back({"pointwise", h, w, s.in, s.out});
  else
    add_dense(out, h, w, s.in, s.out, s.k, s.stride);
}
void add_block(std::vector<Case>& out, const Uib& s, int h, int w) {
  if (s.start_k) {
    out.push_back({"depthwise", h, w, s.in, s.in, s.start_k, s.start_stride()});
    h = conv_out(h, s.start_k, s.start_stride());
    w = conv_out(w, s.start_k, s.start_stride());
  }
  out.push_back({"pointwise", h, w, s.in, s.mid});
  if (s.mid_k && s.stride == 1 && s.in == s.out) {
    // The block's expand -> depthwise -> project chain, whole and in bands of rows.
    for (int band : {0, 4, 8}) out.push_back({.kind = "uib", .h = h, .w = w, .in_c = s.in, .out_c = s.mid, .k = s.mid_k, .band = band});
  }
  if (s.mid_k) {
    out.push_back({"depthwise", h, w, s.mid, s.mid, s.mid_k, s.stride});
    h = conv_out(h, s.mid_k, s.stride);
    w = conv_out(w, s.mid_k, s.stride);
  }
  out.push_back({"pointwise", h, w, s.mid, s.out});
}
void add_block(std::vector<Case>& out, const Mqa& s, int h, int w) {
  out.push_back({"pointwise", h, w, s.dim, s.heads * s.key_dim});  // query
  int kh = h, kw = w;
  if (s.kv_stride > 1) {
    out.push_back({"depthwise", h, w, s.dim, s.dim, s.kv_k, s.kv_stride});
    kh = conv_out(h, s.kv_k, s.kv_stride);
    kw = conv_out(w, s.kv_k, s.kv_stride);
  }
  out.push_back({"pointwise", kh, kw, s.dim, s.key_dim});  // key (value has the same shape here)
  out.push_back({"attention", h, w, 0, 0, 1, 1, s.heads, s.key_dim, kh, kw});
  out.push_back({"pointwise", h, w, s.heads * s.value_dim, s.dim});  // output
}

template <class Net>
void add_model(std::set<Case>& cases, int res) {
  std::vector<Case> calls;
  calls.push_back({"stem", res, res, Net::stem.in, Net::stem.out, Net::stem.k, Net::stem.stride});
  const auto rows = Net::describe(res, res);
  std::size_t i = 1;
  [&]<class... P>(TypeList<P...>) {
    ((add_block(calls, P::spec, rows[i - 1].out_h, rows[i - 1].out_w), ++i), ...);
  }(typename Net::blocks{});
  calls.push_back({"pointwise", 1, 1, Net::head.in, Net::head.hidden});
  calls.push_back({"pointwise", 1, 1, Net::head.hidden, Net::head.classes});
  cases.insert(calls.begin(), calls.end());
}

std::vector<float> randoms(std::size_t n, float lo, float hi) {
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

ConvBnWeights conv_bn(int out, int in_per_group, int k) {
  ConvBnWeights w = conv_bn_of(in_per_group, out, k);
  w.conv.values = randoms(static_cast<std::size_t>(shape_numel(w.conv.shape)), -0.1f, 0.1f);
  w.bn.gamma.values = randoms(static_cast<std::size_t>(out), 0.5f, 1.5f);
  w.bn.beta.values = randoms(static_cast<std::size_t>(out), -0.1f, 0.1f);
  w.bn.mean.values = randoms(static_cast<std::size_t>(out), -0.1f, 0.1f);
  w.bn.var.values = randoms(static_cast<std::size_t>(out), 0.5f, 1.5f);
  return w;
}

// `seconds`: the kernel calls' own time over the state's iterations.
void set_counters(benchmark::State& state, double macs, double bytes, double seconds) {
  const double peak = env_or("MNV4_PEAK_GFLOPS", 210.7) * 1e9, bandwidth = env_or("MNV4_BANDWIDTH_GBS", 31.0) * 1e9;
  using benchmark::Counter;
  state.counters["FLOP/s"] = Counter(2.0 * macs, Counter::kIsIterationInvariantRate, Counter::kIs1000);
  state.counters["B/s"] = Counter(bytes, Counter::kIsIterationInvariantRate, Counter::kIs1000);
  state.counters["FLOP/B"] = 2.0 * macs / bytes;
  const double attainable = std::max(2.0 * macs / peak, bytes / bandwidth);  // seconds per call on the roofline
  const double measured = seconds / static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  state.counters["roof%"] = 100.0 * attainable / measured;
}

// Runs `call` for the state's iterations; returns the seconds spent in it.
template <class F>
double timed_loop(benchmark::State& state, F&& call) {
  double seconds = 0.0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return seconds;
}

// Row-band fusion, measured: a UIB's expand (1x1, ReLU) -> depthwise k x k ->
// project (1x1, + residual), either op by op over the whole image (band 0) or in
// bands of `band` output rows, each band expanding the input rows its depthwise
// needs (the halo rows are expanded twice) into a buffer that stays in L2. Both
// give the same bits. The models run the op-by-op path at these stride-1 shapes;
// the CPU backend's own banding (Uib's expand_depthwise_banded, no halo expanded
// twice) takes over only where the expanded tensor outgrows L2 and the weights
// are small.
void run_uib(benchmark::State& state, const Case& c) {
  namespace cpu = kernels::cpu;
  const int h = c.h, w = c.w, in_c = c.in_c, mid = c.out_c, k = c.k, pad = k / 2;
  const std::size_t px = static_cast<std::size_t>(h) * w, ci = static_cast<std::size_t>(in_c), cm = static_cast<std::size_t>(mid);
  const FoldedConv expand = cpu::pack_for_gemm<Arch>(fold_dense(conv_bn(mid, in_c, 1), 1, Act::kRelu));
  const FoldedConv depth = cpu::pack_for_depthwise<Arch>(fold_depthwise(conv_bn(mid, 1, k), 1, Act::kRelu));
  const FoldedConv project = cpu::pack_for_gemm<Arch>(fold_dense(conv_bn(in_c, mid, 1), 1, Act::kNone));
  const auto x = randoms(px * ci, -1, 1);
  std::vector<float> y(px * ci);
  const int band_rows = c.band == 0 ? h : c.band;
  const std::size_t halo_rows = static_cast<std::size_t>(std::min(h, band_rows + k - 1));
  std::vector<float> expanded(halo_rows * w * cm), filtered(halo_rows * w * cm);
  const auto gemm = [&](const FoldedConv& f, const float* a, std::size_t rows, float* out, const float* residual) {
    cpu::gemm_bias_act<Arch>({.m = rows, .k = f.in_c, .n = f.out_c, .a = a, .lda = static_cast<std::size_t>(f.in_c),
                              .b = f.weights.data(), .bias = f.bias.data(), .act = f.act, .residual = residual,
                              .ldr = static_cast<std::size_t>(f.out_c), .c = out, .ldc = static_cast<std::size_t>(f.out_c)});
  };
  const double seconds = timed_loop(state, [&] {
    for (int y0 = 0; y0 < h; y0 += band_rows) {
      const int y1 = std::min(h, y0 + band_rows);
      const int lo = std::max(0, y0 - pad), hi = std::min(h, y1 - 1 + k - pad);  // input rows the band reads
      gemm(expand, x.data() + static_cast<std::size_t>(lo) * w * ci, static_cast<std::size_t>(hi - lo) * w, expanded.data(), nullptr);
      // Rows [lo, hi) as an image of their own: its rows y0 - lo .. y1 - lo are the band's.
      const std::size_t skip = static_cast<std::size_t>(y0 - lo);
      cpu::depthwise_conv_rows<Arch>(expanded.data(), Dims{1, mid, hi - lo, w}, depth, filtered.data(), skip,
                                     static_cast<std::size_t>(y1 - lo));
      const std::size_t first = static_cast<std::size_t>(y0) * w * ci;
      gemm(project, filtered.data() + skip * w * cm, static_cast<std::size_t>(y1 - y0) * w, y.data() + first,
           x.data() + first);
    }
    benchmark::DoNotOptimize(y.data());
  });
  const double macs = static_cast<double>(px) * (2.0 * in_c * mid + k * k * mid);
  set_counters(state, macs, 4.0 * (2.0 * static_cast<double>(px) * (ci + 2 * cm)), seconds);
}

void run_case(benchmark::State& state, const Case& c) {
  const RunContext ctx{};
  const Dims in{1, c.in_c, c.h, c.w};
  if (c.kind == "attention") {
    const std::size_t l = static_cast<std::size_t>(c.h) * c.w, p = static_cast<std::size_t>(c.kv_h) * c.kv_w;
    const auto q = randoms(l * c.heads * c.key_dim, -1, 1), k = randoms(p * c.key_dim, -1, 1),
               v = randoms(p * c.key_dim, -1, 1);
    std::vector<float> o(l * c.heads * c.key_dim);
    AlignedBuffer scratch(kernels::cpu::attention_scratch<Arch>(l, p, c.key_dim, c.key_dim));
    const kernels::cpu::AttentionArgs args{.l = l, .p = p, .heads = c.heads, .key_dim = c.key_dim,
                                           .value_dim = c.key_dim, .q = q.data(), .k = k.data(), .v = v.data(),
                                           .o = o.data()};
    const double seconds = timed_loop(state, [&] {
      kernels::cpu::multi_query_attention<Arch>(args, scratch.data());
      benchmark::DoNotOptimize(o.data());
    });
    set_counters(state, 2.0 * static_cast<double>(l * p) * c.heads * c.key_dim,
                 4.0 * static_cast<double>(q.size() + k.size() + v.size() + o.size()), seconds);
    return;
  }
  if (c.kind == "pointwise_eigen") {  // the peer for the packed GEMM: Eigen's GEMM + the same epilogue
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto rows = static_cast<Eigen::Index>(c.h) * c.w;
    const Matrix a = Matrix::Random(rows, c.in_c), b = Matrix::Random(c.in_c, c.out_c);
    const auto bias = randoms(static_cast<std::size_t>(c.out_c), -1, 1);
    Matrix y(rows, c.out_c);
    const double seconds = timed_loop(state, [&] {
      y.noalias() = a * b;
      kernels::cpu::bias_act_residual<Arch>(y.data(), static_cast<std::size_t>(rows), c.out_c,
                                            static_cast<std::size_t>(c.out_c), bias.data(), Act::kRelu, nullptr, 0);
      benchmark::DoNotOptimize(y.data());
    });
    set_counters(state, static_cast<double>(rows) * c.in_c * c.out_c,
                 4.0 * static_cast<double>(a.size() + b.size() + y.size() + c.out_c), seconds);
    return;
  }
  if (c.kind == "uib") {
    run_uib(state, c);
    return;
  }
  const bool dw = c.kind == "depthwise", wino = c.kind == "winograd";
  const FoldedConv f =
      dw     ? kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(conv_bn(c.in_c, 1, c.k), c.stride, Act::kRelu))
      : wino ? kernels::cpu::pack_for_winograd_s2<Arch>(fold_dense(conv_bn(c.out_c, c.in_c, c.k), c.stride, Act::kRelu))
             : kernels::cpu::pack_for_gemm<Arch>(fold_dense(conv_bn(c.out_c, c.in_c, c.k), c.stride, Act::kRelu));
  const Dims out{1, c.out_c, conv_out(c.h, c.k, c.stride), conv_out(c.w, c.k, c.stride)};
  const auto x = randoms(in.count(), -1, 1);
  std::vector<float> y(out.count()),
      scratch(wino ? winograd_s2_scratch(in, c.out_c) : kernels::cpu::dense_conv_scratch<Arch>(in, f) + 1);
  const double seconds = timed_loop(state, [&] {
    if (dw)
      depthwise<Arch>(ctx, x.data(), in, f, y.data());
    else if (wino)
      winograd_s2<Arch>(ctx, x.data(), in, f, scratch.data(), y.data());
    else if (c.kind == "pointwise")
      pointwise<Arch>(ctx, x.data(), in, f, y.data());
    else
      dense<Arch>(ctx, x.data(), in, f, scratch.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  });
  const double weights = dw ? static_cast<double>(c.in_c) * c.k * c.k : static_cast<double>(c.in_c) * c.out_c * c.k * c.k;
  const double macs = static_cast<double>(out.pixels()) * (dw ? c.k * c.k : c.in_c * c.k * c.k) * c.out_c;
  set_counters(state, macs, 4.0 * (static_cast<double>(in.count() + out.count()) + weights + c.out_c), seconds);
}

std::string name_of(const Case& c) {
  std::string n = std::string(kIsa) + "/" + c.kind + "/" + std::to_string(c.h) + "x" + std::to_string(c.w);
  if (c.kind == "attention")
    return n + "/heads" + std::to_string(c.heads) + "_d" + std::to_string(c.key_dim) + "_kv" +
           std::to_string(c.kv_h) + "x" + std::to_string(c.kv_w);
  n += "/" + std::to_string(c.in_c) + "to" + std::to_string(c.out_c);
  if (c.kind.rfind("pointwise", 0) != 0) n += "_k" + std::to_string(c.k) + "s" + std::to_string(c.stride);
  if (c.kind == "uib") n += c.band == 0 ? "_whole" : "_band" + std::to_string(c.band);
  return n;
}

// This core's fp32 peak for this instruction set: independent FMA chains on
// registers, no memory. Its FLOP/s is the figure to give MNV4_PEAK_GFLOPS (and
// benchmarks/compare_ort.sh) on a machine other than ../shared/peers' one.
void run_fma_peak(benchmark::State& state) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kChains = 12;  // more than FMA latency × ports on every x86/ARM core
  constexpr int kSteps = 1 << 14;
  std::array<B, kChains> acc;
  for (int i = 0; i < kChains; ++i) acc[static_cast<std::size_t>(i)] = B(1e-3f * static_cast<float>(i));
  const B scale(0.999f), shift(1e-4f);
  for (auto _ : state) {
    for (int step = 0; step < kSteps; ++step) {
#pragma GCC unroll 12
      for (auto& a : acc) a = xsimd::fma(a, scale, shift);
    }
    benchmark::DoNotOptimize(acc);
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * kChains * kSteps * static_cast<double>(B::size),
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

const bool registered = [] {
  if (!isa_available()) return false;
  benchmark::RegisterBenchmark((std::string(kIsa) + "/fma_peak").c_str(), run_fma_peak)
      ->Unit(benchmark::kMicrosecond);
  std::set<Case> cases;
  add_model<ConvSmall>(cases, 224);
  add_model<ConvLarge>(cases, 384);
  add_model<HybridMedium>(cases, 256);
  for (const Case& c : cases) {
    benchmark::RegisterBenchmark(name_of(c).c_str(), [c](benchmark::State& s) { run_case(s, c); })
        ->Unit(benchmark::kMicrosecond);
    if (c.kind == "pointwise") {  // the same shape through Eigen, side by side
      Case e = c;
      e.kind = "pointwise_eigen";
      benchmark::RegisterBenchmark(name_of(e).c_str(), [e](benchmark::State& s) { run_case(s, e); })
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace
}  // namespace mnv4
