// One loaded model serving many threads: weights are immutable after load and
// each caller owns its Workspace, so every result equals the single-thread one.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "compare.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

Tensor input_for(int i) {
  Tensor t({1, 3, 48 + 8 * (i % 3), 40 + 8 * (i % 2)});  // several sizes: workspaces re-plan
  for (int64_t j = 0; j < t.numel(); ++j) t.data()[j] = static_cast<float>((j * (i + 3) * 7919) % 1000) / 500.0f - 1.0f;
  return t;
}

template <class Net>
void hammer(int threads, int runs_per_thread) {
  Model<Net> model;
  model.load_random(17);
  constexpr int kInputs = 6;
  std::vector<Tensor> expected;
  for (int i = 0; i < kInputs; ++i) expected.push_back(model.run(input_for(i)));

  const Model<Net>& shared = model;
  std::atomic<int> mismatches{0}, done{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      Workspace ws;  // each caller's own buffers
      for (int r = 0; r < runs_per_thread; ++r) {
        const int i = (t + r) % kInputs;
        const Tensor logits = shared.run(input_for(i), ws);
        if (relative_error(logits, expected[static_cast<std::size_t>(i)]) != 0.0) mismatches.fetch_add(1);
        done.fetch_add(1);
      }
    });
  for (std::thread& t : pool) t.join();
  EXPECT_EQ(done.load(), threads * runs_per_thread);
  EXPECT_EQ(mismatches.load(), 0);
  std::printf("[ threads  ] %s: %d threads x %d runs, %d mismatches\n", Net::name.data(), threads, runs_per_thread,
              mismatches.load());
}

TEST(Concurrency, ConvSmallEightThreadsFiftyRuns) { hammer<ConvSmall>(8, 50); }
TEST(Concurrency, HybridMediumFourThreadsTenRuns) { hammer<HybridMedium>(4, 10); }

// Workspaces with their own intra-op threads may also run side by side.
TEST(Concurrency, CallersWithTwoThreadWorkspaces) {
  Model<ConvSmall> model;
  model.load_random(3);
  const Tensor input = input_for(1);
  const Tensor expected = model.run(input);
  std::vector<std::thread> callers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      Workspace ws(2);
      for (int r = 0; r < 5; ++r)
        if (relative_error(model.run(input, ws), expected) > 1e-6) bad.fetch_add(1);
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace mnv4::test
