#pragma once
// A float buffer aligned for the widest SIMD loads (64 bytes), that only grows.
#include "mnv4/config.hpp"
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace mnv4::inline MNV4_ISA_NAMESPACE {

class AlignedBuffer {
 public:
  static constexpr std::size_t kAlignment = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t floats) { reserve(floats); }

  // Makes room for `floats` values; keeps the memory when it is already big enough.
  void reserve(std::size_t floats) {
    if (floats <= capacity_) return;
    const std::size_t bytes = (floats * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<float*>(p));
    capacity_ = floats;
  }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
  std::size_t capacity_ = 0;
};

}  // namespace mnv4
