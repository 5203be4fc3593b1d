#pragma once
#include "mnv4/config.hpp"

#define MNV4_VERSION_MAJOR 0
#define MNV4_VERSION_MINOR 1
#define MNV4_VERSION_PATCH 0

namespace mnv4::inline MNV4_ISA_NAMESPACE {
inline constexpr int kVersionMajor = MNV4_VERSION_MAJOR;
inline constexpr int kVersionMinor = MNV4_VERSION_MINOR;
inline constexpr int kVersionPatch = MNV4_VERSION_PATCH;
}  // namespace mnv4
