#pragma once
// A small fork-join pool for intra-op parallelism: parallel_for splits [0, n)
// into one contiguous chunk per thread; the calling thread works too. No
// allocation per call, no OpenMP. One pool serves one caller at a time.
#include "mnv4/config.hpp"
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

#include "mnv4/core/error.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

class ThreadPool {
 public:
  // `threads` counts the caller: ThreadPool(2) starts one worker.
  explicit ThreadPool(int threads) {
    if (threads < 1) detail::fail("ThreadPool: thread count must be >= 1, got ", threads);
    workers_.reserve(static_cast<std::size_t>(threads - 1));
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls f(begin, end) on disjoint chunks covering [0, n); returns when all are done.
  template <class F>
  void parallel_for(std::size_t n, F&& f) {
    const std::size_t parts = std::min<std::size_t>(n, static_cast<std::size_t>(size()));
    if (parts <= 1) {
      if (n > 0) f(std::size_t{0}, n);
      return;
    }
    job_ = {&f, [](void* fn, std::size_t b, std::size_t e) { (*static_cast<std::remove_reference_t<F>*>(fn))(b, e); },
            n, parts};
    // Every worker acknowledges every job, so job_ is never rewritten while one still reads it.
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1);  // publishes job_ (seq_cst, paired with sleeping_ below)
    if (sleeping_.load() > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
    run_part(0);
    // Workers finish in microseconds: spin a little before sleeping.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      cpu_relax();
      if (spin > 200000) {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
        break;
      }
    }
  }

 private:
  struct Job {
    void* fn = nullptr;
    void (*call)(void*, std::size_t, std::size_t) = nullptr;
    std::size_t n = 0, parts = 0;
  };

  void run_part(std::size_t part) {
    const std::size_t begin = job_.n * part / job_.parts, end = job_.n * (part + 1) / job_.parts;
    if (begin < end) job_.call(job_.fn, begin, end);
  }

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void work(int index) {
    uint64_t seen = 0;
    for (;;) {
      // Forward passes call parallel_for every few microseconds: spin briefly
      // before sleeping so a wake-up does not cost a futex round trip.
      for (int spin = 0; spin < 20000 && generation_.load(std::memory_order_acquire) == seen; ++spin) cpu_relax();
      if (generation_.load() == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        sleeping_.fetch_sub(1);
      }
      seen = generation_.load();
      if (stop_.load()) return;
      if (static_cast<std::size_t>(index) < job_.parts) run_part(static_cast<std::size_t>(index));
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  Job job_;
  std::atomic<int> pending_{0};
};

// Splits [0, n) over the context's pool, or runs it inline without one.
template <class Pool, class F>
void parallel_for(Pool* pool, std::size_t n, F&& f) {
  if (pool == nullptr || pool->size() == 1) {
    if (n > 0) f(std::size_t{0}, n);
  } else {
    pool->parallel_for(n, std::forward<F>(f));
  }
}

}  // namespace mnv4
