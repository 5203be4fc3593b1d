// Whole-model latency: every MNv4 model at its native resolution and at 224,
// batch 1, 1 and 2 threads, on synthetic weights (latency does not depend on the
// weight values), with the instruction set chosen at start-up like mnv4-run.
//   bench_models --benchmark_filter=conv_small --benchmark_repetitions=5
//   MNV4_ISA=avx2 bench_models ...   (force an instruction set)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mnv4/dispatch/runner.hpp"

namespace {

void run_model(benchmark::State& state, const mnv4::dispatch::RunnerSet& set, const std::string& model, int side,
               int threads) {
  auto runner = set.make(model, "cpu");
  runner->load_random(0);
  runner->set_threads(threads);
  const std::vector<int64_t> shape{1, 3, side, side};
  std::vector<float> input(static_cast<std::size_t>(3 * side * side));
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i % 251) / 125.0f - 1.0f;
  std::vector<float> logits(1000);
  runner->run_into(input.data(), shape, logits.data());  // plans buffers, warms caches
  for (auto _ : state) {
    runner->run_into(input.data(), shape, logits.data());
    benchmark::DoNotOptimize(logits.data());
  }
  const double macs = static_cast<double>(runner->macs(side, side));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * macs, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.counters["GMACs"] = macs * 1e-9;
  state.SetLabel(runner->isa());
}

}  // namespace

int main(int argc, char** argv) {
  const char* forced = std::getenv("MNV4_ISA");
  const mnv4::dispatch::RunnerSet set = mnv4::dispatch::runners(forced != nullptr ? forced : "");
  if (set.make == nullptr) {
    std::fprintf(stderr, "bench_models: instruction set '%s' is not available\n", forced);
    return 1;
  }
  const struct {
    const char* name;
    int native;
  } models[] = {{"mobilenetv4_conv_small", 224},
                {"mobilenetv4_conv_medium", 256},
                {"mobilenetv4_conv_large", 384},
                {"mobilenetv4_hybrid_medium", 256},
                {"mobilenetv4_hybrid_large", 384}};
  for (const auto& m : models) {
    std::vector<int> sides{m.native};
    if (m.native != 224) sides.push_back(224);
    for (int side : sides)
      for (int threads : {1, 2}) {
        const std::string name =
            std::string(m.name) + "/res:" + std::to_string(side) + "/threads:" + std::to_string(threads);
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=](benchmark::State& st) { run_model(st, set, m.name, side, threads); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
