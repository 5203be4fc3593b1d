#pragma once
// 8-bit RGB images in memory: the input of preprocessing.
#include <cstdint>
#include <span>
#include <vector>

#include "mnv4/config.hpp"
#include "mnv4/core/error.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// Interleaved RGB, row-major, 3 bytes per pixel, no padding.
struct ImageView {
  int width = 0, height = 0;
  std::span<const uint8_t> rgb;

  void validate() const {
    if (width < 1 || height < 1) detail::fail("image: width and height must be >= 1, got ", width, "x", height);
    const auto expected = static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3;
    if (rgb.size() != expected)
      detail::fail("image: ", width, "x", height, " RGB needs ", expected, " bytes, got ", rgb.size());
  }
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  ImageView view() const { return {width, height, rgb}; }
};

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
