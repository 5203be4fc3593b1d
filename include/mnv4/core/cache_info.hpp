#pragma once
// The L1 data and L2 cache sizes, for blocking choices that depend on them.
#include "mnv4/config.hpp"
#include <cstddef>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace mnv4::inline MNV4_ISA_NAMESPACE {

namespace detail {
// sysconf's answer for `name` in bytes, or 0 where the system does not say.
inline std::size_t sysconf_bytes([[maybe_unused]] int name) {
#if __has_include(<unistd.h>)
  const long v = ::sysconf(name);
  return v > 0 ? static_cast<std::size_t>(v) : std::size_t{0};
#else
  return std::size_t{0};
#endif
}
}  // namespace detail

// Bytes of L1 data cache per core, or 0 where the system does not say (the
// caller then keeps its default). Read once: glibc answers from CPUID.
inline std::size_t l1d_cache_bytes() {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  static const std::size_t bytes = detail::sysconf_bytes(_SC_LEVEL1_DCACHE_SIZE);
  return bytes;
#else
  return 0;
#endif
}

// Bytes of L2 cache per core, or 0 where the system does not say.
inline std::size_t l2_cache_bytes() {
#if defined(_SC_LEVEL2_CACHE_SIZE)
  static const std::size_t bytes = detail::sysconf_bytes(_SC_LEVEL2_CACHE_SIZE);
  return bytes;
#else
  return 0;
#endif
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE
