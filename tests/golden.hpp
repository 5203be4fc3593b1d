#pragma once
// Where the timm goldens live, and the skip-or-fail rule for when they are missing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace mnv4::test {

inline std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("MNV4_GOLDEN_DIR"); env != nullptr && *env != '\0') return env;
  return MNV4_DEFAULT_GOLDEN_DIR;
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace mnv4::test

// Skips the test when a golden file is absent, except under CI=true where it fails.
#define MNV4_REQUIRE_GOLDEN(path)                                                      \
  do {                                                                                 \
    if (!std::filesystem::exists(path)) {                                              \
      if (::mnv4::test::running_in_ci()) FAIL() << "golden file missing: " << (path); \
      GTEST_SKIP() << "golden file missing: " << (path);                              \
    }                                                                                  \
  } while (0)
