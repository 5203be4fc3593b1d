#pragma once
// Tensor: the owning float32 array the public API passes in and out (NCHW unless stated).
#include "mnv4/config.hpp"
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mnv4/core/error.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

using Shape = std::vector<int64_t>;

inline std::string shape_string(std::span<const int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

inline int64_t shape_numel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape) : shape_(std::move(shape)), data_(check_numel(shape_), 0.0f) {}
  Tensor(Shape shape, std::vector<float> data) : shape_(std::move(shape)), data_(std::move(data)) {
    if (static_cast<int64_t>(data_.size()) != check_numel(shape_))
      detail::fail("Tensor: shape ", shape_string(shape_), " needs ", shape_numel(shape_),
                   " values, got ", data_.size());
  }

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(static_cast<std::size_t>(i)); }
  int64_t numel() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  std::span<float> values() { return data_; }
  std::span<const float> values() const { return data_; }

 private:
  static int64_t check_numel(const Shape& shape) {
    for (int64_t d : shape)
      if (d < 0) detail::fail("Tensor: negative dimension in shape ", shape_string(shape));
    return shape_numel(shape);
  }

  Shape shape_;
  std::vector<float> data_;
};

}  // namespace mnv4
