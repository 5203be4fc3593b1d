#pragma once
// Which known MobileNetV4 a checkpoint holds, judged from its key names and the
// stem and head shapes: used to say "this is a Conv-M checkpoint" when someone
// loads it into the wrong model.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "mnv4/io/safetensors.hpp"
#include "mnv4/models/all.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::io {

namespace identify_detail {
// Blocks per stage as the file's "blocks.<s>.<i>." keys say.
inline std::vector<int> blocks_per_stage(const SafetensorsFile& file) {
  std::vector<int> counts;
  for (const TensorEntry& e : file.tensors()) {
    int s = 0, i = 0;
    if (std::sscanf(e.name.c_str(), "blocks.%d.%d.", &s, &i) != 2 || s < 0 || i < 0 || s > 64 || i > 1024) continue;
    if (counts.size() <= static_cast<std::size_t>(s)) counts.resize(static_cast<std::size_t>(s) + 1, 0);
    counts[static_cast<std::size_t>(s)] = std::max(counts[static_cast<std::size_t>(s)], i + 1);
  }
  return counts;
}

template <class Net>
bool matches(const SafetensorsFile& file, const std::vector<int>& counts) {
  std::vector<int> expected(static_cast<std::size_t>(Net::num_stages), 0);
  [&]<class... P>(TypeList<P...>) { ((expected[P::stage] = std::max(expected[P::stage], P::index + 1)), ...); }(
      typename Net::blocks{});
  if (counts != expected) return false;
  const TensorEntry* stem = file.find("conv_stem.weight");
  const TensorEntry* head = file.find("conv_head.weight");
  return stem != nullptr && head != nullptr && !stem->shape.empty() && head->shape.size() == 4 &&
         stem->shape[0] == Net::stem.out && head->shape[1] == Net::head.in;
}
}  // namespace identify_detail

using KnownNetworks = TypeList<ConvSmall, ConvSmall035, ConvSmall050, ConvMedium, ConvLarge, HybridMedium,
                               HybridMedium075, HybridLarge, HybridLarge075>;

// The timm name of the known model whose structure the checkpoint has, or "".
inline std::string identify_checkpoint(const SafetensorsFile& file) {
  const std::vector<int> counts = identify_detail::blocks_per_stage(file);
  std::string found;
  [&]<class... N>(TypeList<N...>) {
    ((found.empty() && identify_detail::matches<N>(file, counts) ? (found = std::string(N::name), 0) : 0), ...);
  }(KnownNetworks{});
  return found;
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::io
