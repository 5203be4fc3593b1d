#pragma once
// MNv4-Conv-M (timm mobilenetv4_conv_medium).
#include "mnv4/config.hpp"
#include "mnv4/models/recipe.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace models {
using namespace recipe;  // NOLINT(google-build-using-namespace)
inline constexpr Act kConvMAct = Act::kRelu;

template <FixedString Name, Width W>
using ConvMediumOf = Network<Name, stem(W.stem(32), kConvMAct),
  Stages<
    Stage<er(W.stem(32), 3, 2, 4, W(48), kConvMAct)>,
    Stage<uir(W(48), 3, 5, 2, 4, W(80), kConvMAct, false),
          uir(W(80), 3, 3, 1, 2, W(80), kConvMAct, false)>,
    Stage<uir(W(80), 3, 5, 2, 6, W(160), kConvMAct, false),
          uir(W(160), 3, 3, 1, 4, W(160), kConvMAct, false),
          uir(W(160), 3, 3, 1, 4, W(160), kConvMAct, false),
          uir(W(160), 3, 5, 1, 4, W(160), kConvMAct, false),
          uir(W(160), 3, 3, 1, 4, W(160), kConvMAct, false),
          uir(W(160), 3, 0, 1, 4, W(160), kConvMAct, false),
          uir(W(160), 0, 0, 1, 2, W(160), kConvMAct, false),
          uir(W(160), 3, 0, 1, 4, W(160), kConvMAct, false)>,
    Stage<uir(W(160), 5, 5, 2, 6, W(256), kConvMAct, false),
          uir(W(256), 5, 5, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 3, 5, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 3, 5, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 0, 0, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 3, 0, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 3, 5, 1, 2, W(256), kConvMAct, false),
          uir(W(256), 5, 5, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 0, 0, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 0, 0, 1, 4, W(256), kConvMAct, false),
          uir(W(256), 5, 0, 1, 2, W(256), kConvMAct, false)>,
    Stage<cn(W(256), 1, 1, W(960), kConvMAct)>>,
  head(W(960), kConvMAct)>;
}  // namespace models

using ConvMedium = models::ConvMediumOf<"mobilenetv4_conv_medium", Width{100}>;

static_assert(ConvMedium::channels_chain());
static_assert(ConvMedium::params() == 9'715'512, "Conv-M parameter count must equal timm's");

}  // namespace mnv4
