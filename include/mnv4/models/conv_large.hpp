#pragma once
// MNv4-Conv-L (timm mobilenetv4_conv_large).
#include "mnv4/config.hpp"
#include "mnv4/models/recipe.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace models {
using namespace recipe;  // NOLINT(google-build-using-namespace)
inline constexpr Act kConvLAct = Act::kRelu;

template <FixedString Name, Width W>
using ConvLargeOf = Network<Name, stem(W.stem(24), kConvLAct),
  Stages<
    Stage<er(W.stem(24), 3, 2, 4, W(48), kConvLAct)>,
    Stage<uir(W(48), 3, 5, 2, 4, W(96), kConvLAct, false),
          uir(W(96), 3, 3, 1, 4, W(96), kConvLAct, false)>,
    Stage<uir(W(96), 3, 5, 2, 4, W(192), kConvLAct, false),
          uir(W(192), 3, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 3, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 3, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 3, 5, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 5, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 5, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 5, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 5, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 5, 3, 1, 4, W(192), kConvLAct, false),
          uir(W(192), 3, 0, 1, 4, W(192), kConvLAct, false)>,
    Stage<uir(W(192), 5, 5, 2, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 5, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 5, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 5, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 3, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 3, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 5, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false),
          uir(W(512), 5, 0, 1, 4, W(512), kConvLAct, false)>,
    Stage<cn(W(512), 1, 1, W(960), kConvLAct)>>,
  head(W(960), kConvLAct)>;
}  // namespace models

using ConvLarge = models::ConvLargeOf<"mobilenetv4_conv_large", Width{100}>;

static_assert(ConvLarge::channels_chain());
static_assert(ConvLarge::params() == 32'590'864, "Conv-L parameter count must equal timm's");

}  // namespace mnv4
