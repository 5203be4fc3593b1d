// The forward pass allocates nothing once a workspace has seen an input extent.
// This executable interposes the C allocator (malloc and friends; operator new and
// Eigen's aligned allocations go through them) and counts calls while a pass runs.
// It is its own executable because the interposition covers the whole process.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <vector>

#include "mnv4/models/all.hpp"
#include "mnv4/model.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MNV4_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MNV4_SANITIZED 1
#endif
#endif

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
void note() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

#if !defined(MNV4_SANITIZED) && defined(__GLIBC__)
// glibc's own entry points, which the interposed functions forward to.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) {
  note();
  return __libc_malloc(n);
}
void* calloc(std::size_t count, std::size_t n) {
  note();
  return __libc_calloc(count, n);
}
void* realloc(void* p, std::size_t n) {
  note();
  return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  note();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  note();
  *out = __libc_memalign(alignment, n);
  return *out != nullptr ? 0 : ENOMEM;
}
}
constexpr bool kCounts = true;
#else
constexpr bool kCounts = false;  // sanitizers bring their own allocator
#endif

namespace mnv4::test {
namespace {

// Allocator calls made by `f`, and AlignedBuffer's own reservations (large
// ones are mapped from the OS, past malloc).
template <class F>
long allocations_in(F&& f) {
  allocations.store(0);
  const std::size_t reserved = AlignedBuffer::reservations();
  counting.store(true);
  f();
  counting.store(false);
  return allocations.load() + static_cast<long>(AlignedBuffer::reservations() - reserved);
}

template <class Net>
void expect_no_allocation_after_first_call(int threads) {
  if (!kCounts) {
    GTEST_SKIP() << "allocator interposition is off under sanitizers";
  }
  Model<Net> model;
  model.load_random(3);
  Workspace ws(threads);
  bool first_extent = true;
  for (const Dims in : {Dims{1, 3, 224, 224}, Dims{2, 3, 97, 131}}) {
    std::vector<float> input(in.count()), logits(static_cast<std::size_t>(in.n) * Model<Net>::num_classes);
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i % 97) / 48.0f - 1.0f;
    // The first call at an extent may plan (allocate); on a fresh workspace it must,
    // which checks the counter itself.
    const long first = allocations_in([&] { model.run(input.data(), in, Layout::kNCHW, ws, logits.data()); });
    if (first_extent) {
      EXPECT_GT(first, 0) << "the counter saw nothing: interposition is not working";
    }
    first_extent = false;
    const std::vector<float> expected = logits;
    for (int pass = 0; pass < 3; ++pass) {
      const long later = allocations_in([&] { model.run(input.data(), in, Layout::kNCHW, ws, logits.data()); });
      EXPECT_EQ(later, 0) << Net::name << " " << in.n << "x" << in.h << "x" << in.w << " threads " << threads
                          << " pass " << pass;
    }
    EXPECT_EQ(logits, expected);
  }
}

TEST(NoAllocation, ConvSmallOneThread) { expect_no_allocation_after_first_call<ConvSmall>(1); }
TEST(NoAllocation, ConvSmallTwoThreads) { expect_no_allocation_after_first_call<ConvSmall>(2); }
TEST(NoAllocation, HybridMediumOneThread) { expect_no_allocation_after_first_call<HybridMedium>(1); }
TEST(NoAllocation, HybridMediumTwoThreads) { expect_no_allocation_after_first_call<HybridMedium>(2); }

}  // namespace
}  // namespace mnv4::test
