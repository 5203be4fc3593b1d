#pragma once
// Where a forward pass spends its time, block by block: opt-in per Workspace
// (Workspace::enable_profiling), read back with Workspace::profile(). Rows are
// named like timm's modules (conv_stem, blocks.S.I, head), so they line up with
// ONNX Runtime's per-node profile of the same model (benchmarks/ort_profile.mjs).
#include "mnv4/config.hpp"
#include <cstdint>
#include <string>
#include <vector>

namespace mnv4::inline MNV4_ISA_NAMESPACE {

struct BlockTime {
  std::string block;  // conv_stem, blocks.S.I or head
  std::string kind;   // stem, fused_ib, uib_extra_dw, mqa_kv_down, ... (spec/network.hpp)
  int64_t macs = 0;   // multiply-accumulates of one pass (all images)
  double seconds = 0;  // wall time summed over `passes`, including any layout conversion before the block
};

struct Profile {
  int64_t passes = 0;
  std::vector<BlockTime> blocks;  // in execution order
};

}  // namespace mnv4
