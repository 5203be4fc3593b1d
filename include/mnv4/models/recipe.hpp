#pragma once
// Shorthands that read like timm's arch strings ("uir_r1_a3_k5_s2_e4_c80"):
// channel arguments are actual (already width-scaled) counts, expansion ratios
// are applied to the block's actual input width as timm does.
#include "mnv4/config.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::recipe {

constexpr Stem stem(int out, Act act) { return Stem{3, out, 3, 2, act}; }
constexpr ConvBn cn(int in, int k, int s, int out, Act act) { return ConvBn{in, out, k, s, act}; }
constexpr FusedIb er(int in, int k, int s, int e, int out, Act act) {
  return FusedIb{in, expand(in, e), out, k, s, act};
}
// a: dw_start kernel (0 = none), k: dw_mid kernel (0 = none), e: expansion ratio.
constexpr Uib uir(int in, int a, int k, int s, int e, int out, Act act, bool layer_scale) {
  return Uib{in, out, a, k, s, expand(in, e), act, layer_scale};
}
constexpr Mqa mqa(int dim, int heads, int key_dim, int kv_stride, bool layer_scale) {
  return Mqa{dim, heads, key_dim, key_dim, kv_stride, layer_scale};
}
constexpr Head head(int in, Act act) { return Head{in, 1280, 1000, act}; }

}  // namespace mnv4::recipe
