#pragma once
// A network is a type: a stem, stages of block specs, and a head, all compile-time.
//   using Net = Network<"name", Stem{...}, Stages<Stage<ConvBn{...}, Uib{...}>, ...>, Head{...}>;
// From the specs alone it derives, at compile time, the parameter count, MACs at
// a resolution, and every block's output shape (describe()).
#include "mnv4/config.hpp"
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

template <std::size_t N>
struct FixedString {
  char chars[N]{};
  constexpr FixedString(const char (&s)[N]) {  // NOLINT: implicit on purpose (NTTP literal)
    for (std::size_t i = 0; i < N; ++i) chars[i] = s[i];
  }
  constexpr std::string_view view() const { return {chars, N - 1}; }
};

template <auto... Blocks>
struct Stage {};
template <class... S>
struct Stages {};

// A block spec together with where it sits: key prefix "blocks.<stage>.<index>".
template <int StageIdx, int BlockIdx, auto Spec>
struct Placed {
  static constexpr auto spec = Spec;
  static constexpr int stage = StageIdx;
  static constexpr int index = BlockIdx;
};

template <class... T>
struct TypeList {
  static constexpr std::size_t size = sizeof...(T);
};

namespace detail {
template <class... Lists>
struct Concat;
template <>
struct Concat<> {
  using type = TypeList<>;
};
template <class... A>
struct Concat<TypeList<A...>> {
  using type = TypeList<A...>;
};
template <class... A, class... B, class... Rest>
struct Concat<TypeList<A...>, TypeList<B...>, Rest...> {
  using type = typename Concat<TypeList<A..., B...>, Rest...>::type;
};

template <int S, int I>
constexpr auto find_placed(TypeList<>) {
  static_assert(S < 0 && S >= 0, "no block at this stage and index");
}
template <int S, int I, class P, class... Rest>
constexpr auto find_placed(TypeList<P, Rest...>) {
  if constexpr (P::stage == S && P::index == I)
    return P{};
  else
    return find_placed<S, I>(TypeList<Rest...>{});
}

template <int S, class StageT, class Seq>
struct PlaceStage;
template <int S, auto... B, std::size_t... I>
struct PlaceStage<S, Stage<B...>, std::index_sequence<I...>> {
  using type = TypeList<Placed<S, static_cast<int>(I), B>...>;
};
template <int S, class StageT>
struct PlaceStageOf;
template <int S, auto... B>
struct PlaceStageOf<S, Stage<B...>> {
  using type = typename PlaceStage<S, Stage<B...>, std::make_index_sequence<sizeof...(B)>>::type;
};

template <class StageList, class Seq>
struct Flatten;
template <class... S, std::size_t... I>
struct Flatten<Stages<S...>, std::index_sequence<I...>> {
  using type = typename Concat<typename PlaceStageOf<static_cast<int>(I), S>::type...>::type;
};
}  // namespace detail

// ---- per-op compile-time facts ------------------------------------------------

constexpr int64_t bn_params(int c) { return 2 * int64_t{c}; }  // weight + bias (running stats are buffers)

constexpr int in_channels(const Stem& s) { return s.in; }
constexpr int in_channels(const ConvBn& s) { return s.in; }
constexpr int in_channels(const FusedIb& s) { return s.in; }
constexpr int in_channels(const Uib& s) { return s.in; }
constexpr int in_channels(const Mqa& s) { return s.dim; }
constexpr int out_channels(const Stem& s) { return s.out; }
constexpr int out_channels(const ConvBn& s) { return s.out; }
constexpr int out_channels(const FusedIb& s) { return s.out; }
constexpr int out_channels(const Uib& s) { return s.out; }
constexpr int out_channels(const Mqa& s) { return s.dim; }
constexpr int block_stride(const Stem& s) { return s.stride; }
constexpr int block_stride(const ConvBn& s) { return s.stride; }
constexpr int block_stride(const FusedIb& s) { return s.stride; }
constexpr int block_stride(const Uib& s) { return s.stride; }
constexpr int block_stride(const Mqa&) { return 1; }
// The kernel that sets the output extent (it carries the stride).
constexpr int stride_kernel(const Stem& s) { return s.k; }
constexpr int stride_kernel(const ConvBn& s) { return s.k; }
constexpr int stride_kernel(const FusedIb& s) { return s.k; }
constexpr int stride_kernel(const Uib& s) { return s.mid_k ? s.mid_k : (s.start_k ? s.start_k : 1); }
constexpr int stride_kernel(const Mqa&) { return 1; }

constexpr const char* kind_name(const Stem&) { return "stem"; }
constexpr const char* kind_name(const ConvBn&) { return "conv_bn"; }
constexpr const char* kind_name(const FusedIb&) { return "fused_ib"; }
constexpr const char* kind_name(const Uib& s) {
  return s.start_k && s.mid_k ? "uib_extra_dw" : s.mid_k ? "uib_ir" : s.start_k ? "uib_convnext" : "uib_ffn";
}
constexpr const char* kind_name(const Mqa& s) { return s.kv_stride > 1 ? "mqa_kv_down" : "mqa"; }

constexpr int64_t param_count(const Stem& s) { return int64_t{s.out} * s.in * s.k * s.k + bn_params(s.out); }
constexpr int64_t param_count(const ConvBn& s) { return int64_t{s.out} * s.in * s.k * s.k + bn_params(s.out); }
constexpr int64_t param_count(const FusedIb& s) {
  return int64_t{s.mid} * s.in * s.k * s.k + bn_params(s.mid) + int64_t{s.out} * s.mid + bn_params(s.out);
}
constexpr int64_t param_count(const Uib& s) {
  int64_t n = int64_t{s.mid} * s.in + bn_params(s.mid) + int64_t{s.out} * s.mid + bn_params(s.out);
  if (s.start_k) n += int64_t{s.in} * s.start_k * s.start_k + bn_params(s.in);
  if (s.mid_k) n += int64_t{s.mid} * s.mid_k * s.mid_k + bn_params(s.mid);
  if (s.layer_scale) n += s.out;
  return n;
}
constexpr int64_t param_count(const Mqa& s) {
  const int64_t c = s.dim;
  int64_t n = bn_params(s.dim) + c * s.heads * s.key_dim + c * s.key_dim + c * s.value_dim +
              int64_t{s.heads} * s.value_dim * c;
  if (s.kv_stride > 1) n += 2 * (c * s.kv_k * s.kv_k + bn_params(s.dim));
  if (s.layer_scale) n += c;
  return n;
}
constexpr int64_t param_count(const Head& s) {
  return int64_t{s.hidden} * s.in + bn_params(s.hidden) + int64_t{s.classes} * s.hidden + s.classes;
}

// Multiply-accumulates of one image through the block, given its input extent.
constexpr int64_t macs(const Stem& s, int h, int w) {
  return int64_t{conv_out(h, s.k, s.stride)} * conv_out(w, s.k, s.stride) * s.out * s.in * s.k * s.k;
}
constexpr int64_t macs(const ConvBn& s, int h, int w) {
  return int64_t{conv_out(h, s.k, s.stride)} * conv_out(w, s.k, s.stride) * s.out * s.in * s.k * s.k;
}
constexpr int64_t macs(const FusedIb& s, int h, int w) {
  const int64_t l = int64_t{conv_out(h, s.k, s.stride)} * conv_out(w, s.k, s.stride);
  return l * s.mid * s.in * s.k * s.k + l * s.out * s.mid;
}
constexpr int64_t macs(const Uib& s, int h, int w) {
  const int sh = s.start_k ? conv_out(h, s.start_k, s.start_stride()) : h;
  const int sw = s.start_k ? conv_out(w, s.start_k, s.start_stride()) : w;
  const int oh = s.mid_k ? conv_out(sh, s.mid_k, s.stride) : sh;
  const int ow = s.mid_k ? conv_out(sw, s.mid_k, s.stride) : sw;
  int64_t n = int64_t{sh} * sw * s.in * s.mid + int64_t{oh} * ow * s.mid * s.out;
  if (s.start_k) n += int64_t{sh} * sw * s.in * s.start_k * s.start_k;
  if (s.mid_k) n += int64_t{oh} * ow * s.mid * s.mid_k * s.mid_k;
  return n;
}
constexpr int64_t macs(const Mqa& s, int h, int w) {
  const int64_t l = int64_t{h} * w;
  const int kh = s.kv_stride > 1 ? conv_out(h, s.kv_k, s.kv_stride) : h;
  const int kw = s.kv_stride > 1 ? conv_out(w, s.kv_k, s.kv_stride) : w;
  const int64_t p = int64_t{kh} * kw;
  int64_t n = l * s.dim * s.heads * s.key_dim + p * s.dim * (s.key_dim + s.value_dim) +
              l * s.heads * s.value_dim * s.dim + l * p * s.heads * (s.key_dim + s.value_dim);
  if (s.kv_stride > 1) n += 2 * p * s.dim * s.kv_k * s.kv_k;
  return n;
}
constexpr int64_t macs(const Head& s) { return int64_t{s.hidden} * s.in + int64_t{s.classes} * s.hidden; }

// One row of a network's compile-time description.
struct BlockShape {
  int stage = -1, index = -1;  // -1/-1 for the stem
  const char* kind = "";
  int in_channels = 0, out_channels = 0, out_h = 0, out_w = 0;
  int64_t params = 0, macs = 0;
};

template <FixedString Name, Stem StemSpec, class StageList, Head HeadSpec>
struct Network;

template <FixedString Name, Stem StemSpec, class... StageTs, Head HeadSpec>
struct Network<Name, StemSpec, Stages<StageTs...>, HeadSpec> {
  static constexpr std::string_view name = Name.view();
  static constexpr Stem stem = StemSpec;
  static constexpr Head head = HeadSpec;
  static constexpr int num_stages = sizeof...(StageTs);
  // Every block in order, as Placed<stage, index, spec>.
  using blocks = typename detail::Flatten<Stages<StageTs...>, std::make_index_sequence<sizeof...(StageTs)>>::type;
  static constexpr std::size_t num_blocks = blocks::size;
  // The Placed<> of block "blocks.<S>.<I>".
  template <int S, int I>
  using block_at = decltype(detail::find_placed<S, I>(blocks{}));

  // Shapes of the stem and every block for an h×w input (per image).
  static constexpr std::array<BlockShape, num_blocks + 1> describe(int h, int w) {
    std::array<BlockShape, num_blocks + 1> rows{};
    const int64_t stem_macs = mnv4::macs(stem, h, w);
    h = conv_out(h, stem.k, stem.stride);
    w = conv_out(w, stem.k, stem.stride);
    rows[0] = {-1, -1, kind_name(stem), stem.in, stem.out, h, w, param_count(stem), stem_macs};
    describe_blocks(rows, h, w, blocks{});
    return rows;
  }

  static constexpr int64_t params() {
    int64_t n = param_count(head);
    for (const BlockShape& r : describe(224, 224)) n += r.params;
    return n;
  }

  static constexpr int64_t macs_at(int h, int w) {
    int64_t n = mnv4::macs(head);
    for (const BlockShape& r : describe(h, w)) n += r.macs;
    return n;
  }

  // Output extent of stage `s` (s = -1: the stem) for an h×w input.
  static constexpr std::array<int, 3> stage_shape(int s, int h, int w) {
    std::array<int, 3> chw{stem.out, conv_out(h, stem.k, stem.stride), conv_out(w, stem.k, stem.stride)};
    for (const BlockShape& r : describe(h, w))
      if (r.stage >= 0 && r.stage <= s) chw = {r.out_channels, r.out_h, r.out_w};
    return chw;
  }

  // Channels must chain: stem → every block → head (models static_assert this).
  static constexpr bool channels_chain() {
    const auto rows = describe(224, 224);
    for (std::size_t i = 1; i < rows.size(); ++i)
      if (rows[i].in_channels != rows[i - 1].out_channels) return false;
    return stem.in == 3 && rows.back().out_channels == head.in;
  }

 private:
  template <class... P>
  static constexpr void describe_blocks(std::array<BlockShape, num_blocks + 1>& rows, int h, int w,
                                        TypeList<P...>) {
    std::size_t i = 1;
    (
        [&] {
          constexpr auto s = P::spec;
          const int64_t m = mnv4::macs(s, h, w);
          h = block_stride(s) > 1 ? conv_out(h, stride_kernel(s), block_stride(s)) : h;
          w = block_stride(s) > 1 ? conv_out(w, stride_kernel(s), block_stride(s)) : w;
          rows[i++] = {P::stage, P::index, kind_name(s), in_channels(s), out_channels(s), h, w,
                       param_count(s), m};
        }(),
        ...);
  }

  static_assert(sizeof...(StageTs) > 0, "a network needs at least one stage");
};

}  // namespace mnv4
