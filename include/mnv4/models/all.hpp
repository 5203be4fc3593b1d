#pragma once
// Every MobileNetV4 model mnv4 defines.
#include "mnv4/models/conv_large.hpp"
#include "mnv4/models/conv_medium.hpp"
#include "mnv4/models/conv_small.hpp"
#include "mnv4/models/hybrid_large.hpp"
#include "mnv4/models/hybrid_medium.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// Every network type, in the order the tools list them.
using AllNetworks = TypeList<ConvSmall, ConvSmall035, ConvSmall050, ConvMedium, ConvLarge, HybridMedium,
                             HybridMedium075, HybridLarge, HybridLarge075>;

}  // namespace mnv4
