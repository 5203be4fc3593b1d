#pragma once
// Memory order of a 4-D activation tensor.
#include "mnv4/config.hpp"
namespace mnv4::inline MNV4_ISA_NAMESPACE {
enum class Layout { kNCHW, kNHWC };
}  // namespace mnv4
