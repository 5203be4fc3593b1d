#pragma once
// Decoding image files (PNG, JPEG, BMP, ...) to 8-bit RGB, for the tools and
// examples; not part of the core library. Uses stb_image as Debian packages it
// (libstb-dev: a shared libstb with its headers), linked through the
// mnv4::image_file CMake target. Alpha is dropped and grey expanded, like
// PIL's convert("RGB"); 16-bit images are reduced to 8 bits.
#include <filesystem>
#include <memory>
#include <string>

#include <stb_image.h>

#include "mnv4/core/error.hpp"
#include "mnv4/preprocess/image.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

inline Image load_image(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) detail::fail(path.string(), ": no such image file");
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &w, &h, &channels, 3), stbi_image_free);
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    detail::fail(path.string(), ": cannot decode image (", reason != nullptr ? reason : "unknown reason", ")");
  }
  Image img{w, h, std::vector<uint8_t>(pixels.get(), pixels.get() + static_cast<std::size_t>(w) * h * 3)};
  return img;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
