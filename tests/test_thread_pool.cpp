// The intra-op pool: every index exactly once, any n, repeated use, and models
// giving the same answer with 1 and 2 threads.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "compare.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (std::size_t n : {0u, 1u, 2u, 3u, 7u, 64u, 1001u}) {
      std::vector<std::atomic<int>> hits(n);
      for (int round = 0; round < 20; ++round)
        pool.parallel_for(n, [&](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 20) << "threads " << threads << " n " << n;
    }
  }
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), Error); }

template <class Net>
void check_threads_agree() {
  Model<Net> model;
  model.load_random(9);
  Tensor input({2, 3, 67, 51});
  for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  const Tensor one = model.run(input);
  model.set_threads(2);
  EXPECT_EQ(model.threads(), 2);
  const Features two = model.features(input);
  EXPECT_LE(relative_error(two.logits, one), 1e-6);
  const Tensor again = model.run(input);
  EXPECT_EQ(relative_error(again, two.logits), 0.0);
}

TEST(ThreadPool, ConvSmallSameWithTwoThreads) { check_threads_agree<ConvSmall>(); }
TEST(ThreadPool, HybridMediumSameWithTwoThreads) { check_threads_agree<HybridMedium>(); }

}  // namespace
}  // namespace mnv4::test
