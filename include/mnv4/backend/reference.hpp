#pragma once
// The reference backend: every block in plain scalar C++ on NCHW tensors, with
// BatchNorm applied as written (not folded). It is the oracle the other backends
// are tested against, so it favours obviousness over speed.
//
// The interface every BlockImpl<Backend, Spec> provides (Head differs in run()):
//   static constexpr Layout layout;
//   explicit BlockImpl(Weights&& w);              // weights as make_weights(Spec) names them
//   static Dims output_dims(Dims in);
//   static std::size_t scratch_floats(Dims in);   // workspace run() may use
//   void run(const float* in, Dims in_dims, float* out, float* scratch, const RunContext&) const;
#include "mnv4/config.hpp"
#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

#include "mnv4/backend/backend.hpp"
#include "mnv4/kernels/reference/ops.hpp"
#include "mnv4/layers/weights.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {
namespace backend {

struct Reference {
  static constexpr std::string_view name = "reference";
  static constexpr Layout layout = Layout::kNCHW;
  template <class Op>
  static constexpr bool runs = is_one_of<Op, Stem, ConvBn, FusedIb, Uib, Mqa, Head>;
};

namespace reference_detail {
namespace ref = kernels::reference;

// conv → BN → act; returns the output dims.
inline Dims conv_bn_act(const float* in, Dims d, const ConvBnWeights& w, int k, int stride, int groups, Act act,
                        float* out) {
  const int out_c = static_cast<int>(w.conv.shape[0]);
  const Dims o = ref::conv2d(in, d, w.conv.values.data(), out_c, k, stride, groups, out);
  ref::batch_norm(out, o, w.bn.gamma.values.data(), w.bn.beta.values.data(), w.bn.mean.values.data(),
                  w.bn.var.values.data(), kBnEps);
  ref::activate(out, o.count(), act);
  return o;
}

inline std::size_t conv_floats(Dims in, int out_c, int k, int stride) {
  return static_cast<std::size_t>(in.n) * out_c * conv_out(in.h, k, stride) * conv_out(in.w, k, stride);
}
}  // namespace reference_detail

}  // namespace backend

// ---- Stem and ConvBnAct --------------------------------------------------------

template <class SpecT, class WeightsT>
struct ReferenceConvBn {
  static constexpr Layout layout = Layout::kNCHW;
  explicit ReferenceConvBn(WeightsT&& w, const SpecT& s) : w_(std::move(w)), s_(s) {}
  static Dims output_dims(const SpecT& s, Dims in) {
    return {in.n, s.out, conv_out(in.h, s.k, s.stride), conv_out(in.w, s.k, s.stride)};
  }
  void run(const float* in, Dims d, float* out) const {
    backend::reference_detail::conv_bn_act(in, d, w_.conv, s_.k, s_.stride, 1, s_.act, out);
  }
  WeightsT w_;
  SpecT s_;
};

template <Stem S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(StemWeights&& w) : impl_(std::move(w), S) {}
  static Dims output_dims(Dims in) { return ReferenceConvBn<Stem, StemWeights>::output_dims(S, in); }
  static std::size_t scratch_floats(Dims) { return 0; }
  void run(const float* in, Dims d, float* out, float*, const RunContext&) const { impl_.run(in, d, out); }
  ReferenceConvBn<Stem, StemWeights> impl_;
};

template <ConvBn S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(ConvBnBlockWeights&& w) : impl_(std::move(w), S) {}
  static Dims output_dims(Dims in) { return ReferenceConvBn<ConvBn, ConvBnBlockWeights>::output_dims(S, in); }
  static std::size_t scratch_floats(Dims) { return 0; }
  void run(const float* in, Dims d, float* out, float*, const RunContext&) const { impl_.run(in, d, out); }
  ReferenceConvBn<ConvBn, ConvBnBlockWeights> impl_;
};

// ---- FusedIB -------------------------------------------------------------------

template <FusedIb S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(FusedIbWeights&& w) : w_(std::move(w)) {}
  static Dims output_dims(Dims in) { return {in.n, S.out, conv_out(in.h, S.k, S.stride), conv_out(in.w, S.k, S.stride)}; }
  static std::size_t scratch_floats(Dims in) { return backend::reference_detail::conv_floats(in, S.mid, S.k, S.stride); }

  void run(const float* in, Dims d, float* out, float* scratch, const RunContext&) const {
    using backend::reference_detail::conv_bn_act;
    const Dims m = conv_bn_act(in, d, w_.exp, S.k, S.stride, 1, S.act, scratch);
    const Dims o = conv_bn_act(scratch, m, w_.pwl, 1, 1, 1, Act::kNone, out);
    if constexpr (S.skip()) kernels::reference::add(out, in, o.count());
  }
  FusedIbWeights w_;
};

// ---- UIB -----------------------------------------------------------------------

template <Uib S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(UibWeights&& w) : w_(std::move(w)) {}

  // Extent after dw_start (which carries the stride only when there is no dw_mid).
  static Dims start_dims(Dims in) {
    if constexpr (S.start_k != 0)
      return {in.n, S.in, conv_out(in.h, S.start_k, S.start_stride()), conv_out(in.w, S.start_k, S.start_stride())};
    else
      return in;
  }
  static Dims output_dims(Dims in) {
    Dims d = start_dims(in);
    if constexpr (S.mid_k != 0) d = {d.n, d.c, conv_out(d.h, S.mid_k, S.stride), conv_out(d.w, S.mid_k, S.stride)};
    return {d.n, S.out, d.h, d.w};
  }
  // Two regions: [start output | expanded], then dw_mid writes over the first.
  static std::size_t scratch_floats(Dims in) {
    const Dims s = start_dims(in);
    const std::size_t expanded = s.pixels() * S.mid;
    return std::max(s.count(), expanded) + expanded;
  }

  void run(const float* in, Dims d, float* out, float* scratch, const RunContext&) const {
    using backend::reference_detail::conv_bn_act;
    const Dims sd = start_dims(d);
    float* region_a = scratch;
    float* region_b = scratch + std::max(sd.count(), sd.pixels() * S.mid);

    const float* x = in;
    Dims xd = d;
    if (w_.dw_start) {
      xd = conv_bn_act(x, xd, *w_.dw_start, S.start_k, S.start_stride(), S.in, Act::kNone, region_a);
      x = region_a;
    }
    xd = conv_bn_act(x, xd, w_.pw_exp, 1, 1, 1, S.act, region_b);
    x = region_b;
    if (w_.dw_mid) {
      xd = conv_bn_act(x, xd, *w_.dw_mid, S.mid_k, S.stride, S.mid, S.act, region_a);
      x = region_a;
    }
    const Dims o = conv_bn_act(x, xd, w_.pw_proj, 1, 1, 1, Act::kNone, out);
    if (w_.gamma) kernels::reference::scale_channels(out, o, w_.gamma->values.data());
    if constexpr (S.skip()) kernels::reference::add(out, in, o.count());
  }
  UibWeights w_;
};

// ---- Mobile MQA ----------------------------------------------------------------

template <Mqa S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(MqaWeights&& w) : w_(std::move(w)) {}

  static Dims kv_dims(Dims in) {
    if constexpr (S.kv_stride > 1)
      return {in.n, in.c, conv_out(in.h, S.kv_k, S.kv_stride), conv_out(in.w, S.kv_k, S.kv_stride)};
    else
      return in;
  }
  static Dims output_dims(Dims in) { return in; }
  static std::size_t scratch_floats(Dims in) {
    const Dims kv = kv_dims(in);
    return in.count()                                  // normalised input
           + in.pixels() * S.heads * S.key_dim         // q
           + 2 * kv.count()                            // downsampled k/v inputs
           + kv.pixels() * (S.key_dim + S.value_dim)   // k, v
           + in.pixels() * S.heads * S.value_dim;      // attention output
  }

  void run(const float* in, Dims d, float* out, float* scratch, const RunContext&) const {
    namespace ref = kernels::reference;
    using backend::reference_detail::conv_bn_act;
    const Dims kv = kv_dims(d);
    float* normed = scratch;
    float* q = normed + d.count();
    float* k_in = q + d.pixels() * S.heads * S.key_dim;
    float* v_in = k_in + kv.count();
    float* k = v_in + kv.count();
    float* v = k + kv.pixels() * S.key_dim;
    float* o = v + kv.pixels() * S.value_dim;

    std::copy(in, in + d.count(), normed);
    ref::batch_norm(normed, d, w_.norm.gamma.values.data(), w_.norm.beta.values.data(), w_.norm.mean.values.data(),
                    w_.norm.var.values.data(), kBnEps);
    ref::conv2d(normed, d, w_.query.values.data(), S.heads * S.key_dim, 1, 1, 1, q);
    const float* k_src = normed;
    const float* v_src = normed;
    if constexpr (S.kv_stride > 1) {
      conv_bn_act(normed, d, *w_.key_down, S.kv_k, S.kv_stride, S.dim, Act::kNone, k_in);
      conv_bn_act(normed, d, *w_.value_down, S.kv_k, S.kv_stride, S.dim, Act::kNone, v_in);
      k_src = k_in;
      v_src = v_in;
    }
    ref::conv2d(k_src, kv, w_.key.values.data(), S.key_dim, 1, 1, 1, k);
    ref::conv2d(v_src, kv, w_.value.values.data(), S.value_dim, 1, 1, 1, v);
    ref::multi_query_attention(q, k, v, d.n, S.heads, S.key_dim, S.value_dim, d.plane(), kv.plane(), o);
    const Dims od{d.n, S.heads * S.value_dim, d.h, d.w};
    ref::conv2d(o, od, w_.output.values.data(), S.dim, 1, 1, 1, out);
    if (w_.gamma) ref::scale_channels(out, d, w_.gamma->values.data());
    ref::add(out, in, d.count());
  }
  MqaWeights w_;
};

// ---- Head ----------------------------------------------------------------------

template <Head S>
struct BlockImpl<backend::Reference, S> {
  static constexpr Layout layout = Layout::kNCHW;
  explicit BlockImpl(HeadWeights&& w) : w_(std::move(w)) {}
  static std::size_t scratch_floats(Dims in) { return static_cast<std::size_t>(in.n) * S.in; }

  // in: [N, S.in, H, W] -> pre_logits [N, hidden], logits [N, classes]
  void run(const float* in, Dims d, float* pre_logits, float* logits, float* scratch, const RunContext&) const {
    namespace ref = kernels::reference;
    ref::global_avg_pool(in, d, scratch);
    ref::linear(scratch, d.n, S.in, w_.conv.conv.values.data(), nullptr, S.hidden, pre_logits);
    const Dims hd{d.n, S.hidden, 1, 1};
    ref::batch_norm(pre_logits, hd, w_.conv.bn.gamma.values.data(), w_.conv.bn.beta.values.data(),
                    w_.conv.bn.mean.values.data(), w_.conv.bn.var.values.data(), kBnEps);
    ref::activate(pre_logits, hd.count(), S.act);
    ref::linear(pre_logits, d.n, S.hidden, w_.fc_weight.values.data(), w_.fc_bias.values.data(), S.classes, logits);
  }
  HeadWeights w_;
};

}  // namespace mnv4
