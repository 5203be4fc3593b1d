#pragma once
// MNv4-Hybrid-M (timm mobilenetv4_hybrid_medium, and its _075 width variant).
#include "mnv4/config.hpp"
#include "mnv4/models/recipe.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace models {
using namespace recipe;  // NOLINT(google-build-using-namespace)
inline constexpr Act kHybridMAct = Act::kRelu;

template <FixedString Name, Width W>
using HybridMediumOf = Network<Name, stem(W.stem(32), kHybridMAct),
  Stages<
    Stage<er(W.stem(32), 3, 2, 4, W(48), kHybridMAct)>,
    Stage<uir(W(48), 3, 5, 2, 4, W(80), kHybridMAct, true),
          uir(W(80), 3, 3, 1, 2, W(80), kHybridMAct, true)>,
    Stage<uir(W(80), 3, 5, 2, 6, W(160), kHybridMAct, true),
          uir(W(160), 0, 0, 1, 2, W(160), kHybridMAct, true),
          uir(W(160), 3, 3, 1, 4, W(160), kHybridMAct, true),
          uir(W(160), 3, 5, 1, 4, W(160), kHybridMAct, true),
          mqa(W(160), 4, 64, 2, true),
          uir(W(160), 3, 3, 1, 4, W(160), kHybridMAct, true),
          mqa(W(160), 4, 64, 2, true),
          uir(W(160), 3, 0, 1, 4, W(160), kHybridMAct, true),
          mqa(W(160), 4, 64, 2, true),
          uir(W(160), 3, 3, 1, 4, W(160), kHybridMAct, true),
          mqa(W(160), 4, 64, 2, true),
          uir(W(160), 3, 0, 1, 4, W(160), kHybridMAct, true)>,
    Stage<uir(W(160), 5, 5, 2, 6, W(256), kHybridMAct, true),
          uir(W(256), 5, 5, 1, 4, W(256), kHybridMAct, true),
          uir(W(256), 3, 5, 1, 4, W(256), kHybridMAct, true),
          uir(W(256), 3, 5, 1, 4, W(256), kHybridMAct, true),
          uir(W(256), 0, 0, 1, 2, W(256), kHybridMAct, true),
          uir(W(256), 3, 5, 1, 2, W(256), kHybridMAct, true),
          uir(W(256), 0, 0, 1, 2, W(256), kHybridMAct, true),
          uir(W(256), 0, 0, 1, 4, W(256), kHybridMAct, true),
          mqa(W(256), 4, 64, 1, true),
          uir(W(256), 3, 0, 1, 4, W(256), kHybridMAct, true),
          mqa(W(256), 4, 64, 1, true),
          uir(W(256), 5, 5, 1, 4, W(256), kHybridMAct, true),
          mqa(W(256), 4, 64, 1, true),
          uir(W(256), 5, 0, 1, 4, W(256), kHybridMAct, true),
          mqa(W(256), 4, 64, 1, true),
          uir(W(256), 5, 0, 1, 4, W(256), kHybridMAct, true)>,
    Stage<cn(W(256), 1, 1, W(960), kHybridMAct)>>,
  head(W(960), kHybridMAct)>;
}  // namespace models

using HybridMedium = models::HybridMediumOf<"mobilenetv4_hybrid_medium", Width{100}>;
using HybridMedium075 = models::HybridMediumOf<"mobilenetv4_hybrid_medium_075", Width{75}>;

static_assert(HybridMedium::channels_chain() && HybridMedium075::channels_chain());
static_assert(HybridMedium::params() == 11'074'648, "Hybrid-M parameter count must equal timm's");

}  // namespace mnv4
