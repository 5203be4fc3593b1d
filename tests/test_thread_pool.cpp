// The intra-op pool: every index exactly once, any n, repeated use, GEMM splits and models
// giving the same answer with 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "compare.hpp"
#include "mnv4/backend/cpu.hpp"
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

// A thread that runs slow does not hold the others back: the calling thread's
// items each take a millisecond here, so the worker, done with its own half in
// microseconds, takes the rest of the caller's half from its back; every item
// still runs once, and each call gets a contiguous, non-empty range.
TEST(ThreadPool, IdleThreadTakesOverASlowThreadsItems) {
  ThreadPool pool(2);
  constexpr std::size_t kItems = 64;
  std::vector<std::atomic<int>> hits(kItems);
  std::atomic<std::size_t> caller_half_by_worker{0};
  std::atomic<bool> bad_range{false};
  const std::thread::id caller = std::this_thread::get_id();
  pool.parallel_for(kItems, [&](std::size_t b, std::size_t e) {
    if (b >= e || e > kItems) bad_range = true;
    for (std::size_t i = b; i < e; ++i) {
      hits[i].fetch_add(1);
      if (std::this_thread::get_id() == caller) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else if (i < kItems / 2) {
        caller_half_by_worker.fetch_add(1);
      }
    }
  });
  EXPECT_FALSE(bad_range.load());
  for (std::size_t i = 0; i < kItems; ++i) ASSERT_EQ(hits[i].load(), 1) << "item " << i;
  // Without stealing the worker would run none of them; with it, all but the
  // caller's first chunk or two.
  EXPECT_GE(caller_half_by_worker.load(), kItems / 4);
}

// parallel_claim: every item once; each body runs on its own thread index below
// min(n, threads, max_threads), never twice at once; the ranges a thread gets
// from its own share follow one another from that share's start.
TEST(ThreadPool, ClaimGivesEachThreadItsOwnIndex) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (std::size_t max_threads : {1u, 2u, 3u, 8u}) {
      for (std::size_t n : {0u, 1u, 5u, 64u, 1001u}) {
        std::vector<std::atomic<int>> hits(n);
        std::vector<std::atomic<int>> busy(8);
        std::atomic<bool> bad{false};
        const std::size_t limit = std::min({n, static_cast<std::size_t>(threads), max_threads});
        for (int round = 0; round < 10; ++round) {
          parallel_claim(&pool, n, max_threads, [&](std::size_t thread, auto& next) {
            if (thread >= limit) {
              bad = true;
              return;
            }
            if (busy[thread].fetch_add(1) != 0) bad = true;
            const std::size_t own_begin = n * thread / limit, own_end = n * (thread + 1) / limit;
            std::size_t b = 0, e = 0, cursor = own_begin;
            while (next(b, e)) {
              if (b >= e || e > n) bad = true;
              // Its own share it takes from the front, in order (others take from the back).
              if (b >= own_begin && b < own_end) {
                if (b != cursor) bad = true;
                cursor = e;
              }
              for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
            }
            busy[thread].fetch_sub(1);
          });
        }
        EXPECT_FALSE(bad.load()) << "threads " << threads << " max " << max_threads << " n " << n;
        for (std::size_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 10) << "threads " << threads << " max " << max_threads << " n " << n;
      }
    }
  }
  parallel_claim(static_cast<ThreadPool*>(nullptr), 7, 4, [](std::size_t thread, auto& next) {
    std::size_t b = 0, e = 0;
    EXPECT_EQ(thread, 0u);
    ASSERT_TRUE(next(b, e));
    EXPECT_EQ(b, 0u);
    EXPECT_EQ(e, 7u);
    EXPECT_FALSE(next(b, e));
  });
}

// With parallel_claim too, an idle thread takes a slow one's items (here, the
// calling thread's): what lets the per-thread-scratch layers (Winograd FusedIB,
// banded UIB, in-place convolutions) be balanced like the rest.
TEST(ThreadPool, ClaimLetsAnIdleThreadTakeOver) {
  ThreadPool pool(2);
  constexpr std::size_t kItems = 64;
  std::vector<std::atomic<int>> hits(kItems);
  std::atomic<std::size_t> caller_half_by_worker{0};
  pool.parallel_claim(kItems, 2, [&](std::size_t thread, auto& next) {
    for (std::size_t b = 0, e = 0; next(b, e);) {
      for (std::size_t i = b; i < e; ++i) {
        hits[i].fetch_add(1);
        if (thread == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else if (i < kItems / 2) {
          caller_half_by_worker.fetch_add(1);
        }
      }
    }
  });
  for (std::size_t i = 0; i < kItems; ++i) ASSERT_EQ(hits[i].load(), 1) << "item " << i;
  EXPECT_GE(caller_half_by_worker.load(), kItems / 4);
}

TEST(ThreadPool, RejectsZeroThreads) { EXPECT_THROW(ThreadPool(0), Error); }

// Each way parallel_gemm splits a GEMM (by rows; by column panels when there are
// few rows; by panels when B is wide and too big to be read by every thread)
// gives the bits of one thread, and those are a GEMM.
TEST(ThreadPool, GemmSplitsAgreeWithOneThread) {
  using Arch = xsimd::default_arch;
  struct Shape {
    std::size_t m;
    int k, n;
  };
  for (const Shape s : {Shape{500, 96, 160}, Shape{100, 64, 256}, Shape{144, 512, 2048}}) {
    std::vector<float> a(s.m * static_cast<std::size_t>(s.k)), b(static_cast<std::size_t>(s.k) * s.n);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 29) % 97) / 48.0f - 1.0f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 13) % 89) / 44.0f - 1.0f;
    AlignedBuffer packed;
    kernels::cpu::pack_panels<Arch>(b.data(), s.k, s.n, packed);
    Tensor one({static_cast<int64_t>(s.m), s.n}), two(one.shape()), expected(one.shape());
    const auto co = static_cast<std::size_t>(s.n);
    kernels::cpu::GemmArgs g{.m = s.m, .k = s.k, .n = s.n, .a = a.data(), .lda = static_cast<std::size_t>(s.k),
                             .b = packed.data(), .act = Act::kRelu, .c = one.data(), .ldc = co};
    parallel_gemm<Arch>(RunContext{}, g);
    ThreadPool pool(2);
    g.c = two.data();
    parallel_gemm<Arch>(RunContext{.pool = &pool}, g);
    for (std::size_t i = 0; i < s.m; ++i)
      for (std::size_t j = 0; j < co; ++j) {
        double acc = 0.0;
        for (std::size_t p = 0; p < static_cast<std::size_t>(s.k); ++p) acc += double{a[i * s.k + p]} * b[p * co + j];
        expected.data()[i * co + j] = static_cast<float>(std::max(acc, 0.0));
      }
    EXPECT_LE(relative_error(one, expected), 2e-6) << "m " << s.m << " k " << s.k << " n " << s.n;
    EXPECT_EQ(relative_error(two, one), 0.0) << "m " << s.m << " k " << s.k << " n " << s.n;
  }
}

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
