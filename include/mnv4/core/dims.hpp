#pragma once
// Logical extent of a batch of feature maps, whatever its memory layout.
#include "mnv4/config.hpp"
#include <cstddef>

namespace mnv4::inline MNV4_ISA_NAMESPACE {

struct Dims {
  int n = 0, c = 0, h = 0, w = 0;
  std::size_t plane() const { return static_cast<std::size_t>(h) * static_cast<std::size_t>(w); }
  std::size_t pixels() const { return static_cast<std::size_t>(n) * plane(); }  // N·H·W
  std::size_t count() const { return pixels() * static_cast<std::size_t>(c); }
  friend bool operator==(const Dims&, const Dims&) = default;
};

}  // namespace mnv4
