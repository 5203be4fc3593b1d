#pragma once
// Backends and how a block finds the backend that runs it.
//
// A backend is a type with
//   static constexpr std::string_view name;
//   static constexpr Layout layout;                  // activation layout its blocks use
//   template <class Op> static constexpr bool runs;  // Op: Stem, ConvBn, FusedIb, Uib, Mqa, Head
//   using fallback = OtherBackend;                   // optional: who runs the ops it lacks
// and, for each op it runs, a specialisation of BlockImpl<Backend, Spec> (see
// backend/reference.hpp for the interface). A delegate (GPU, DSP, NPU) is one more
// such type whose fallback is a CPU backend; the model converts layouts where
// consecutive blocks run on backends with different layouts.
#include "mnv4/config.hpp"
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "mnv4/core/dims.hpp"
#include "mnv4/core/layout.hpp"
#include "mnv4/core/run_context.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// The implementation of block `Spec` on backend `B`. Backends specialise it.
template <class B, auto Spec>
struct BlockImpl;

template <class B>
concept Backend = requires {
  { B::name } -> std::convertible_to<std::string_view>;
  { B::layout } -> std::convertible_to<Layout>;
};

template <class B>
concept HasFallback = Backend<B> && requires { typename B::fallback; };

template <class... T>
inline constexpr bool dependent_false = false;

template <class Op, class... Ops>
inline constexpr bool is_one_of = (std::is_same_v<Op, Ops> || ...);

namespace detail {
template <class B, class Op>
constexpr auto resolve_runner() {
  if constexpr (B::template runs<Op>) {
    return std::type_identity<B>{};
  } else if constexpr (HasFallback<B>) {
    return resolve_runner<typename B::fallback, Op>();
  } else {
    static_assert(dependent_false<B, Op>, "no backend in this fallback chain runs this op");
    return std::type_identity<B>{};
  }
}
}  // namespace detail

// The first backend along B's fallback chain that runs Op.
template <class B, class Op>
using runner_t = typename decltype(detail::resolve_runner<B, Op>())::type;

// The implementation that will run block `Spec` when the model asks backend B.
template <class B, auto Spec>
using block_impl_t = BlockImpl<runner_t<B, std::remove_cvref_t<decltype(Spec)>>, Spec>;

namespace backend {
struct Reference;  // backend/reference.hpp: scalar NCHW, the oracle
template <class Arch>
struct CpuFor;     // backend/cpu.hpp: NHWC, folded weights, SIMD kernels; Cpu is the default
}  // namespace backend

}  // namespace mnv4
