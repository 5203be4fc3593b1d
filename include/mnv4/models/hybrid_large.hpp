#pragma once
// MNv4-Hybrid-L (timm mobilenetv4_hybrid_large, and its _075 width variant).
#include "mnv4/config.hpp"
#include "mnv4/models/recipe.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace models {
using namespace recipe;  // NOLINT(google-build-using-namespace)
inline constexpr Act kHybridLAct = Act::kGelu;

template <FixedString Name, Width W>
using HybridLargeOf = Network<Name, stem(W.stem(24), kHybridLAct),
  Stages<
    Stage<er(W.stem(24), 3, 2, 4, W(48), kHybridLAct)>,
    Stage<uir(W(48), 3, 5, 2, 4, W(96), kHybridLAct, true),
          uir(W(96), 3, 3, 1, 4, W(96), kHybridLAct, true)>,
    Stage<uir(W(96), 3, 5, 2, 4, W(192), kHybridLAct, true),
          uir(W(192), 3, 3, 1, 4, W(192), kHybridLAct, true),
          uir(W(192), 3, 3, 1, 4, W(192), kHybridLAct, true),
          uir(W(192), 3, 3, 1, 4, W(192), kHybridLAct, true),
          uir(W(192), 3, 5, 1, 4, W(192), kHybridLAct, true),
          uir(W(192), 5, 3, 1, 4, W(192), kHybridLAct, true),
          uir(W(192), 5, 3, 1, 4, W(192), kHybridLAct, true),
          mqa(W(192), 8, 48, 2, true),
          uir(W(192), 5, 3, 1, 4, W(192), kHybridLAct, true),
          mqa(W(192), 8, 48, 2, true),
          uir(W(192), 5, 3, 1, 4, W(192), kHybridLAct, true),
          mqa(W(192), 8, 48, 2, true),
          uir(W(192), 5, 3, 1, 4, W(192), kHybridLAct, true),
          mqa(W(192), 8, 48, 2, true),
          uir(W(192), 3, 0, 1, 4, W(192), kHybridLAct, true)>,
    Stage<uir(W(192), 5, 5, 2, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 5, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 5, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 5, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 3, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 3, 1, 4, W(512), kHybridLAct, true),
          uir(W(512), 5, 5, 1, 4, W(512), kHybridLAct, true),
          mqa(W(512), 8, 64, 1, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          mqa(W(512), 8, 64, 1, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          mqa(W(512), 8, 64, 1, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true),
          mqa(W(512), 8, 64, 1, true),
          uir(W(512), 5, 0, 1, 4, W(512), kHybridLAct, true)>,
    Stage<cn(W(512), 1, 1, W(960), kHybridLAct)>>,
  head(W(960), kHybridLAct)>;
}  // namespace models

using HybridLarge = models::HybridLargeOf<"mobilenetv4_hybrid_large", Width{100}>;
using HybridLarge075 = models::HybridLargeOf<"mobilenetv4_hybrid_large_075", Width{75}>;

static_assert(HybridLarge::channels_chain() && HybridLarge075::channels_chain());
static_assert(HybridLarge::params() == 37'764'624, "Hybrid-L parameter count must equal timm's");

}  // namespace mnv4
