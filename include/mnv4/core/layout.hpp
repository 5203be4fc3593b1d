#pragma once
// Memory order of a 4-D activation tensor.
namespace mnv4 {
enum class Layout { kNCHW, kNHWC };
}  // namespace mnv4
