#pragma once
// Block specs: plain structs used as compile-time (non-type template) parameters.
// Every number a block needs is here; the key names and weight shapes follow from
// them (see layers/params.hpp), and so do parameter and MAC counts (spec/network.hpp).
#include "mnv4/config.hpp"
#include <cstdint>

namespace mnv4::inline MNV4_ISA_NAMESPACE {

enum class Act { kNone, kRelu, kGelu };

constexpr const char* act_name(Act a) {
  return a == Act::kRelu ? "relu" : a == Act::kGelu ? "gelu" : "none";
}

// Output extent of a convolution with timm's symmetric padding.
constexpr int conv_pad(int k, int stride) { return ((stride - 1) + (k - 1)) / 2; }
constexpr int conv_out(int in, int k, int stride) {
  return (in + 2 * conv_pad(k, stride) - k) / stride + 1;
}

// timm's make_divisible: nearest multiple of `divisor`, never below it, and one
// step up if rounding lost more than 10%.
constexpr int make_divisible(double v, int divisor = 8) {
  int rounded = static_cast<int>(v + divisor / 2.0) / divisor * divisor;
  if (rounded < divisor) rounded = divisor;
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

// The stem: conv_stem (k×k, stride 2) + bn1 + act. Keys: conv_stem.weight, bn1.*
struct Stem {
  int in = 3, out = 32, k = 3, stride = 2;
  Act act = Act::kRelu;
};

// ConvBnAct (timm "cn"): conv + bn1 + act, never a residual. Keys: conv.weight, bn1.*
struct ConvBn {
  int in, out, k, stride;
  Act act = Act::kRelu;
};

// FusedIB (timm "er", EdgeResidual): k×k conv in→mid + BN + act, 1×1 mid→out + BN.
// Keys: conv_exp.weight, bn1.*, conv_pwl.weight, bn2.*
struct FusedIb {
  int in, mid, out, k, stride;
  Act act = Act::kRelu;
  constexpr bool skip() const { return in == out && stride == 1; }
};

// Universal Inverted Bottleneck (timm "uir"). start_k / mid_k == 0 means the
// depthwise conv is absent: ExtraDW (both), IR (mid only), ConvNeXt (start only),
// FFN (neither). The stride sits on dw_mid when present, else on dw_start.
struct Uib {
  int in, out, start_k, mid_k, stride, mid;
  Act act = Act::kRelu;
  bool layer_scale = false;
  constexpr bool skip() const { return in == out && stride == 1; }
  constexpr int start_stride() const { return mid_k ? 1 : stride; }
};

// Mobile multi-query attention (timm "mqa"): BN → Q (per head) and one shared K/V
// head, optionally downsampled by a stride-2 depthwise conv + BN, → output proj.
struct Mqa {
  int dim, heads, key_dim, value_dim, kv_stride;
  bool layer_scale = false;
  int kv_k = 3;
  constexpr bool skip() const { return true; }
};

// Head: global average pool → 1×1 conv_head (no bias) → norm_head + act → classifier.
struct Head {
  int in = 960, hidden = 1280, classes = 1000;
  Act act = Act::kRelu;
};

// Channel multiplier of timm's width variants, as a percentage (no floating-point
// template parameters in clang 14). Rounds exactly like timm's round_channels.
struct Width {
  int percent = 100;
  constexpr double multiplier() const { return percent / 100.0; }
  constexpr int operator()(int channels) const { return make_divisible(channels * multiplier()); }
  // timm keeps the stem at its nominal width when the multiplier is below 1.
  constexpr int stem(int channels) const { return percent < 100 ? channels : (*this)(channels); }
};

// Expanded width of a UIB / FusedIB block, from its (already scaled) input width.
constexpr int expand(int in, int ratio) { return make_divisible(static_cast<double>(in) * ratio); }

}  // namespace mnv4
