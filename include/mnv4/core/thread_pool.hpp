#pragma once
// A small fork-join pool for intra-op parallelism: parallel_for splits [0, n)
// into one contiguous range per thread; the calling thread works too.
// parallel_claim does the same for work that keeps per-thread scratch. No
// allocation per call, no OpenMP. One pool serves one caller at a time.
//
// Each thread works through its own range from the front, a chunk at a time,
// and a thread whose range is used up takes chunks from the back of the
// others'. When the threads run at the same speed every one does exactly its
// own range (the rows it wrote in the layer before stay in its cache); when one
// is slower — a core shared with another tenant's thread, a worker still waking
// up, an efficiency core — the other takes over its tail instead of waiting.
// On this project's 2-vCPU host, before stealing, one thread sat idle 7–9 ms of
// a 46 ms Conv-L inference waiting for the other; with it, two threads took
// 0.92–0.96 of the time on Conv-M, Hybrid-M and Conv-L (3 alternating runs).
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
  explicit ThreadPool(int threads) : ranges_(static_cast<std::size_t>(std::max(threads, 1))) {
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

  // Calls f(begin, end) on disjoint sub-ranges that together cover [0, n), from
  // all threads; returns when all are done. f must accept any sub-range.
  template <class F>
  void parallel_for(std::size_t n, F&& f) {
    parallel_claim(n, static_cast<std::size_t>(size()), [&f](std::size_t, auto& next) {
      std::size_t b = 0, e = 0;
      while (next(b, e)) f(b, e);
    });
  }

  // For work whose threads each need their own scratch (or carry state from one
  // sub-range to the next): calls body(thread, next) once on each of up to
  // `max_threads` threads, `thread` in [0, that count) and distinct, and returns
  // when all are done. next(begin, end) claims the calling thread's next
  // sub-range of [0, n), false once none is left: first its own range in order,
  // then chunks taken from the back of the others'. Chunks are a multiple of
  // `grain` items (but a range's last), for work that runs in steps of that many.
  template <class Body>
  void parallel_claim(std::size_t n, std::size_t max_threads, Body&& body, std::size_t grain = 1) {
    const std::size_t parts = std::min({n, static_cast<std::size_t>(size()), std::max<std::size_t>(max_threads, 1)});
    if (parts <= 1) {
      if (n > 0) {
        Whole next{n};
        body(std::size_t{0}, next);
      }
      return;
    }
    if (static_cast<std::uint64_t>(n) > kMaxItems) detail::fail("ThreadPool: ", n, " items, more than ", kMaxItems);
    job_ = {&body,
            [](void* fn, ThreadPool& pool, std::size_t part) {
              Claimer next{pool, part};
              (*static_cast<std::remove_reference_t<Body>*>(fn))(part, next);
            },
            n, parts, std::max<std::size_t>(1, grain)};
    // Every worker acknowledges every job, so job_ and ranges_ are never
    // rewritten while one still reads them.
    for (std::size_t t = 0; t < parts; ++t)  // threads past `parts` sit this job out
      ranges_[t].span.store(pack(n * t / parts, n * (t + 1) / parts), std::memory_order_relaxed);
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1);  // publishes job_ and ranges_ (seq_cst, paired with sleeping_ below)
    if (sleeping_.load() > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
    job_.call(job_.fn, *this, 0);
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

  // parallel_claim's next() on one thread: the whole of [0, n) once.
  struct Whole {
    std::size_t n;
    bool given = false;
    bool operator()(std::size_t& begin, std::size_t& end) {
      if (given) return false;
      given = true;
      begin = 0;
      end = n;
      return true;
    }
  };

 private:
  // parallel_claim's next() on a pool thread: its own range, then the others'.
  class Claimer {
   public:
    Claimer(ThreadPool& pool, std::size_t part)
        : pool_(pool),
          part_(part),
          chunk_(round_up((pool.job_.n / pool.job_.parts + kChunksPerRange - 1) / kChunksPerRange, pool.job_.grain)) {}
    bool operator()(std::size_t& begin, std::size_t& end) {
      for (; victim_ < pool_.job_.parts; ++victim_) {
        Range& r = pool_.ranges_[(part_ + victim_) % pool_.job_.parts];
        if (claim(r, chunk_, pool_.job_.grain, victim_ == 0, begin, end)) return true;
      }
      return false;
    }

   private:
    ThreadPool& pool_;
    std::size_t part_, chunk_;
    std::size_t victim_ = 0;  // 0: its own range; i: the range i threads on
  };

  struct Job {
    void* fn = nullptr;
    void (*call)(void*, ThreadPool&, std::size_t) = nullptr;
    std::size_t n = 0, parts = 0, grain = 1;
  };
  // A thread's unclaimed items [begin, end), both in one word so that the owner
  // (taking from the front) and a thief (from the back) claim with one CAS.
  struct alignas(64) Range {
    std::atomic<std::uint64_t> span{0};
  };
  static constexpr std::uint64_t kMaxItems = 0xffffffffu;
  static std::uint64_t pack(std::size_t begin, std::size_t end) {
    return static_cast<std::uint64_t>(begin) | static_cast<std::uint64_t>(end) << 32;
  }
  // Chunks a range is taken in: enough that a thread finishing early finds some
  // left to take, few enough that each call still covers a long run of rows
  // (a GEMM re-reads its weights per call). 4 measured ahead of 8 and 16, and of
  // owners taking half of what is left from the start; with claim()'s halving
  // near a range's end, 2 and 8 measured level and behind.
  static constexpr std::size_t kChunksPerRange = 4;

  static std::size_t round_up(std::size_t items, std::size_t grain) {
    return std::max<std::size_t>(1, (items + grain - 1) / grain) * grain;
  }
  // Claims up to `chunk` items of range r, from its front or its back; near the
  // range's end, half of what is left (in grains), so that its last claims are
  // small and a faster thread can take a slower one's tail at a finer grain.
  // Against whole chunks to the end, at two threads: idle time per pass 804 →
  // 499 µs on Conv-M, 2675 → 1839 on Hybrid-L, 1996 → 1560 on Conv-L (medians of
  // 6 alternating runs); time, both builds alternating pass by pass in one
  // process (paired medians, 3 runs): Hybrid-M 0.968–0.988, Hybrid-L 0.977–0.985,
  // Conv-M 0.979–0.996, Conv-L 0.993–1.005, Conv-S 0.997–1.005.
  static bool claim(Range& r, std::size_t chunk, std::size_t grain, bool front, std::size_t& begin, std::size_t& end) {
    std::uint64_t cur = r.span.load(std::memory_order_acquire);
    for (;;) {
      const std::size_t b = cur & 0xffffffffu, e = cur >> 32;
      if (b >= e) return false;
      const std::size_t take = std::min({chunk, round_up((e - b + 1) / 2, grain), e - b});
      const std::uint64_t next = front ? pack(b + take, e) : pack(b, e - take);
      if (r.span.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_acquire)) {
        begin = front ? b : e - take;
        end = front ? b + take : e;
        return true;
      }
    }
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
      if (static_cast<std::size_t>(index) < job_.parts) job_.call(job_.fn, *this, static_cast<std::size_t>(index));
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::vector<Range> ranges_;  // one per thread; declared before workers_, which use it
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

// ThreadPool::parallel_claim over the context's pool, or without one body(0, next)
// inline with next giving all of [0, n) at once.
template <class Pool, class Body>
void parallel_claim(Pool* pool, std::size_t n, std::size_t max_threads, Body&& body, std::size_t grain = 1) {
  if (pool != nullptr) return pool->parallel_claim(n, max_threads, std::forward<Body>(body), grain);
  if (n == 0) return;
  ThreadPool::Whole next{n};
  body(std::size_t{0}, next);
}

}  // namespace mnv4
