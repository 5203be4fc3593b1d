#pragma once
// Helpers for tests compiled once per instruction set (mnv4_add_isa_test): suite
// names carry the instruction set, and cases skip when the CPU lacks it.
#include <gtest/gtest.h>

#include <string_view>

#include <xsimd/xsimd.hpp>

#ifndef MNV4_TEST_ISA
#define MNV4_TEST_ISA native  // built without mnv4_add_isa_test: the compiler's own flags
#endif

#define MNV4_ISA_CAT2(a, b) a##_##b
#define MNV4_ISA_CAT(a, b) MNV4_ISA_CAT2(a, b)
#define MNV4_ISA_STR2(x) #x
#define MNV4_ISA_STR(x) MNV4_ISA_STR2(x)
// TEST() whose suite name ends in the instruction set, skipping when it is unavailable.
#define ISA_TEST(suite, name) TEST(MNV4_ISA_CAT(suite, MNV4_TEST_ISA), name)

namespace mnv4::test {

inline bool isa_available() {
  constexpr std::string_view isa = MNV4_ISA_STR(MNV4_TEST_ISA);
  const auto cpu = xsimd::available_architectures();
  if (isa == "avx512bw") return cpu.avx512bw;
  if (isa == "avx2") return cpu.fma3_avx2;
  return true;
}

}  // namespace mnv4::test

#define MNV4_REQUIRE_ISA() \
  if (!::mnv4::test::isa_available()) GTEST_SKIP() << "CPU lacks " MNV4_ISA_STR(MNV4_TEST_ISA)
