#pragma once
// Facts about the CPU's core that kernel choices depend on and that the
// instruction set alone does not tell.
#include "mnv4/config.hpp"
#if (defined(__x86_64__) || defined(__i386__)) && __has_include(<cpuid.h>)
#include <cpuid.h>
#define MNV4_HAVE_CPUID 1
#endif

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// True on cores that run a 512-bit FMA as two halves on 256-bit units, so that
// AVX-512 doubles the work an instruction does but not the FLOPs a cycle:
// AMD's family 19h (Zen 4; Zen 3, the same family, has no AVX-512). There, a
// kernel that does fewer FMAs for some extra loads and stores wins where it
// would not on a core with full-width units (Zen 5, Intel's server cores).
// Read once from CPUID; false where CPUID is not available.
inline bool avx512_on_half_width_units() {
#if defined(MNV4_HAVE_CPUID)
  static const bool half = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
    // "AuthenticAMD" in EBX, EDX, ECX.
    const bool amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;
    if (!amd || __get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
    const unsigned base = (eax >> 8) & 0xfu;
    const unsigned family = base == 0xfu ? base + ((eax >> 20) & 0xffu) : base;
    return family == 0x19u;
  }();
  return half;
#else
  return false;
#endif
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
