// Whole-model latency: every MNv4 model at its native resolution and at 224,
// batch 1, on synthetic weights (latency does not depend on weight values).
//   ./bench_models --benchmark_filter=ConvSmall --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <string>

#include "mnv4/mnv4.hpp"

namespace {

template <class Net, class B = mnv4::backend::Cpu>
void BM_Model(benchmark::State& state) {
  const int side = static_cast<int>(state.range(0));
  mnv4::Model<Net, B> model;
  model.load_random(0);
  mnv4::Tensor input({1, 3, side, side});
  for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = static_cast<float>(i % 251) / 125.0f - 1.0f;
  mnv4::Workspace ws;
  mnv4::Tensor logits({1, Net::head.classes});
  const mnv4::Dims dims{1, 3, side, side};
  model.run(input.data(), dims, mnv4::Layout::kNCHW, ws, logits.data());  // plan buffers, warm caches
  for (auto _ : state) {
    model.run(input.data(), dims, mnv4::Layout::kNCHW, ws, logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  const double flops = 2.0 * static_cast<double>(Net::macs_at(side, side));
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GMACs"] = static_cast<double>(Net::macs_at(side, side)) * 1e-9;
  state.SetLabel(std::string(Net::name));
}

BENCHMARK_TEMPLATE(BM_Model, mnv4::ConvSmall)->ArgName("res")->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Model, mnv4::ConvMedium)->ArgName("res")->Arg(256)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Model, mnv4::ConvLarge)->ArgName("res")->Arg(384)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Model, mnv4::HybridMedium)->ArgName("res")->Arg(256)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Model, mnv4::HybridLarge)->ArgName("res")->Arg(384)->Arg(224)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
