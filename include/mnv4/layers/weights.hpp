#pragma once
// The weights each block reads from a checkpoint, in timm's names and shapes.
// One function per block kind builds the (empty) weights for a spec, and one
// `for_each_weight` per kind names every tensor: binding a checkpoint, random
// initialisation and counting all go through it, so key names live only here.
#include "mnv4/config.hpp"
#include <optional>
#include <string>
#include <vector>

#include "mnv4/core/tensor.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

struct Weight {
  Shape shape;
  std::vector<float> values;  // filled by binding; shape_numel(shape) values
  bool is_bn_variance = false;  // random init keeps variances positive
};

inline Weight weight_of(Shape shape) { return Weight{std::move(shape), {}}; }

// BatchNorm in eval mode (its running statistics are buffers, not parameters).
struct BnWeights {
  Weight gamma, beta, mean, var;
  int channels() const { return static_cast<int>(gamma.shape[0]); }
};
inline BnWeights bn_of(int c) {
  BnWeights bn{weight_of({c}), weight_of({c}), weight_of({c}), weight_of({c})};
  bn.var.is_bn_variance = true;
  return bn;
}
inline constexpr float kBnEps = 1e-5f;

// A bias-free convolution followed by BatchNorm.
struct ConvBnWeights {
  Weight conv;  // [out, in/groups, k, k]
  BnWeights bn;
};
inline ConvBnWeights conv_bn_of(int in_per_group, int out, int k) {
  return {weight_of({out, in_per_group, k, k}), bn_of(out)};
}

template <class F>
void for_each_weight(BnWeights& bn, const std::string& prefix, F&& f) {
  f(prefix + ".weight", bn.gamma);
  f(prefix + ".bias", bn.beta);
  f(prefix + ".running_mean", bn.mean);
  f(prefix + ".running_var", bn.var);
}

// ---- per block kind ------------------------------------------------------------

struct StemWeights {
  ConvBnWeights conv;
};
inline StemWeights make_weights(const Stem& s) { return {conv_bn_of(s.in, s.out, s.k)}; }
template <class F>
void for_each_weight(StemWeights& w, const std::string& prefix, F&& f) {
  f(prefix + "conv_stem.weight", w.conv.conv);
  for_each_weight(w.conv.bn, prefix + "bn1", f);
}

struct ConvBnBlockWeights {
  ConvBnWeights conv;
};
inline ConvBnBlockWeights make_weights(const ConvBn& s) { return {conv_bn_of(s.in, s.out, s.k)}; }
template <class F>
void for_each_weight(ConvBnBlockWeights& w, const std::string& prefix, F&& f) {
  f(prefix + "conv.weight", w.conv.conv);
  for_each_weight(w.conv.bn, prefix + "bn1", f);
}

struct FusedIbWeights {
  ConvBnWeights exp, pwl;
};
inline FusedIbWeights make_weights(const FusedIb& s) {
  return {conv_bn_of(s.in, s.mid, s.k), conv_bn_of(s.mid, s.out, 1)};
}
template <class F>
void for_each_weight(FusedIbWeights& w, const std::string& prefix, F&& f) {
  f(prefix + "conv_exp.weight", w.exp.conv);
  for_each_weight(w.exp.bn, prefix + "bn1", f);
  f(prefix + "conv_pwl.weight", w.pwl.conv);
  for_each_weight(w.pwl.bn, prefix + "bn2", f);
}

struct UibWeights {
  std::optional<ConvBnWeights> dw_start;
  ConvBnWeights pw_exp;
  std::optional<ConvBnWeights> dw_mid;
  ConvBnWeights pw_proj;
  std::optional<Weight> gamma;  // layer scale [out]
};
inline UibWeights make_weights(const Uib& s) {
  UibWeights w{std::nullopt, conv_bn_of(s.in, s.mid, 1), std::nullopt, conv_bn_of(s.mid, s.out, 1), std::nullopt};
  if (s.start_k) w.dw_start = conv_bn_of(1, s.in, s.start_k);
  if (s.mid_k) w.dw_mid = conv_bn_of(1, s.mid, s.mid_k);
  if (s.layer_scale) w.gamma = weight_of({s.out});
  return w;
}
template <class F>
void for_each_weight(ConvBnWeights& w, const std::string& prefix, F&& f) {
  f(prefix + ".conv.weight", w.conv);
  for_each_weight(w.bn, prefix + ".bn", f);
}
template <class F>
void for_each_weight(UibWeights& w, const std::string& prefix, F&& f) {
  if (w.dw_start) for_each_weight(*w.dw_start, prefix + "dw_start", f);
  for_each_weight(w.pw_exp, prefix + "pw_exp", f);
  if (w.dw_mid) for_each_weight(*w.dw_mid, prefix + "dw_mid", f);
  for_each_weight(w.pw_proj, prefix + "pw_proj", f);
  if (w.gamma) f(prefix + "layer_scale.gamma", *w.gamma);
}

struct MqaWeights {
  BnWeights norm;
  Weight query;                            // [heads*key_dim, C, 1, 1]
  std::optional<ConvBnWeights> key_down;   // depthwise [C, 1, k, k] + BN, when kv_stride > 1
  Weight key;                              // [key_dim, C, 1, 1]
  std::optional<ConvBnWeights> value_down;
  Weight value;                            // [value_dim, C, 1, 1]
  Weight output;                           // [C, heads*value_dim, 1, 1]
  std::optional<Weight> gamma;
};
inline MqaWeights make_weights(const Mqa& s) {
  MqaWeights w{bn_of(s.dim),
               weight_of({s.heads * s.key_dim, s.dim, 1, 1}),
               std::nullopt,
               weight_of({s.key_dim, s.dim, 1, 1}),
               std::nullopt,
               weight_of({s.value_dim, s.dim, 1, 1}),
               weight_of({s.dim, s.heads * s.value_dim, 1, 1}),
               std::nullopt};
  if (s.kv_stride > 1) {
    w.key_down = conv_bn_of(1, s.dim, s.kv_k);
    w.value_down = conv_bn_of(1, s.dim, s.kv_k);
  }
  if (s.layer_scale) w.gamma = weight_of({s.dim});
  return w;
}
template <class F>
void for_each_weight(MqaWeights& w, const std::string& prefix, F&& f) {
  for_each_weight(w.norm, prefix + "norm", f);
  f(prefix + "attn.query.proj.weight", w.query);
  if (w.key_down) {
    f(prefix + "attn.key.down_conv.weight", w.key_down->conv);
    for_each_weight(w.key_down->bn, prefix + "attn.key.norm", f);
  }
  f(prefix + "attn.key.proj.weight", w.key);
  if (w.value_down) {
    f(prefix + "attn.value.down_conv.weight", w.value_down->conv);
    for_each_weight(w.value_down->bn, prefix + "attn.value.norm", f);
  }
  f(prefix + "attn.value.proj.weight", w.value);
  f(prefix + "attn.output.proj.weight", w.output);
  if (w.gamma) f(prefix + "layer_scale.gamma", *w.gamma);
}

struct HeadWeights {
  ConvBnWeights conv;   // conv_head [hidden, in, 1, 1] + norm_head
  Weight fc_weight;     // classifier [classes, hidden]
  Weight fc_bias;       // [classes]
};
inline HeadWeights make_weights(const Head& s) {
  return {conv_bn_of(s.in, s.hidden, 1), weight_of({s.classes, s.hidden}), weight_of({s.classes})};
}
template <class F>
void for_each_weight(HeadWeights& w, const std::string& prefix, F&& f) {
  f(prefix + "conv_head.weight", w.conv.conv);
  for_each_weight(w.conv.bn, prefix + "norm_head", f);
  f(prefix + "classifier.weight", w.fc_weight);
  f(prefix + "classifier.bias", w.fc_bias);
}

}  // namespace mnv4
