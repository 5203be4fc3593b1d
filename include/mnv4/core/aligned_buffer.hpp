#pragma once
// A float buffer aligned for the widest SIMD loads (64 bytes), that only grows.
#include "mnv4/config.hpp"
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>
#if __has_include(<sys/mman.h>)
#include <sys/mman.h>
#define MNV4_HAS_MMAP 1
#else
#define MNV4_HAS_MMAP 0
#endif

namespace mnv4::inline MNV4_ISA_NAMESPACE {

class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 64;
  // Buffers from this size on (packed weights, activation arenas) are mapped
  // from the OS, not taken from malloc: glibc raises its mmap threshold each time
  // a large block is freed, so after the load's temporaries the model's own
  // buffers landed in the heap between freed fragments it could not return
  // (Conv-L: 175 MB peak RSS at one thread, 191 at two; mapped: 146 and 146).
  static constexpr std::size_t kMapBytes = 128 * 1024;

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t floats) { reserve(floats); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)),
        mapped_bytes_(std::exchange(o.mapped_bytes_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      capacity_ = std::exchange(o.capacity_, 0);
      mapped_bytes_ = std::exchange(o.mapped_bytes_, 0);
    }
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { release(); }

  // Makes room for `floats` values; keeps the memory when it is already big enough.
  void reserve(std::size_t floats) {
    if (floats <= capacity_) return;
    const std::size_t bytes = (floats * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
    release();
    reservations_.fetch_add(1, std::memory_order_relaxed);
#if MNV4_HAS_MMAP
    if (bytes >= kMapBytes) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      data_ = static_cast<float*>(p);
      mapped_bytes_ = bytes;
      capacity_ = floats;
      return;
    }
#endif
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<float*>(p);
    capacity_ = floats;
  }

  float* data() { return data_; }
  const float* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

  // How many times any AlignedBuffer has taken memory (mapped or from malloc):
  // lets a test see allocations that do not go through malloc.
  static std::size_t reservations() { return reservations_.load(std::memory_order_relaxed); }

 private:
  void release() noexcept {
#if MNV4_HAS_MMAP
    if (mapped_bytes_ != 0) ::munmap(data_, mapped_bytes_);
    else
#endif
      std::free(data_);
    data_ = nullptr;
    capacity_ = 0;
    mapped_bytes_ = 0;
  }

  float* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t mapped_bytes_ = 0;  // non-zero: data_ is an mmap of this many bytes
  inline static std::atomic<std::size_t> reservations_{0};
};

}  // namespace mnv4
