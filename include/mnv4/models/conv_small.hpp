#pragma once
// MNv4-Conv-S (timm mobilenetv4_conv_small, and its _035/_050 width variants).
#include "mnv4/config.hpp"
#include "mnv4/models/recipe.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace models {
using namespace recipe;  // NOLINT(google-build-using-namespace): keeps the tables readable

template <FixedString Name, Width W>
using ConvSmallOf = Network<Name, stem(W.stem(32), Act::kRelu),
  Stages<
    Stage<cn(W.stem(32), 3, 2, W(32), Act::kRelu), cn(W(32), 1, 1, W(32), Act::kRelu)>,
    Stage<cn(W(32), 3, 2, W(96), Act::kRelu), cn(W(96), 1, 1, W(64), Act::kRelu)>,
    Stage<uir(W(64), 5, 5, 2, 3, W(96), Act::kRelu, false),
          uir(W(96), 0, 3, 1, 2, W(96), Act::kRelu, false),
          uir(W(96), 0, 3, 1, 2, W(96), Act::kRelu, false),
          uir(W(96), 0, 3, 1, 2, W(96), Act::kRelu, false),
          uir(W(96), 0, 3, 1, 2, W(96), Act::kRelu, false),
          uir(W(96), 3, 0, 1, 4, W(96), Act::kRelu, false)>,
    Stage<uir(W(96), 3, 3, 2, 6, W(128), Act::kRelu, false),
          uir(W(128), 5, 5, 1, 4, W(128), Act::kRelu, false),
          uir(W(128), 0, 5, 1, 4, W(128), Act::kRelu, false),
          uir(W(128), 0, 5, 1, 3, W(128), Act::kRelu, false),
          uir(W(128), 0, 3, 1, 4, W(128), Act::kRelu, false),
          uir(W(128), 0, 3, 1, 4, W(128), Act::kRelu, false)>,
    Stage<cn(W(128), 1, 1, W(960), Act::kRelu)>>,
  head(W(960), Act::kRelu)>;
}  // namespace models

using ConvSmall = models::ConvSmallOf<"mobilenetv4_conv_small", Width{100}>;
using ConvSmall035 = models::ConvSmallOf<"mobilenetv4_conv_small_035", Width{35}>;
using ConvSmall050 = models::ConvSmallOf<"mobilenetv4_conv_small_050", Width{50}>;

static_assert(ConvSmall::channels_chain() && ConvSmall035::channels_chain() && ConvSmall050::channels_chain());
static_assert(ConvSmall::params() == 3'774'024, "Conv-S parameter count must equal timm's");

}  // namespace mnv4
