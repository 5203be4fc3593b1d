#pragma once
// Model<Net, Backend>: a network type bound to a backend, loaded from a timm
// checkpoint, run on NCHW (or NHWC) float input.
//
//   mnv4::Model<mnv4::ConvSmall> net("model.safetensors");
//   mnv4::Tensor logits = net.run(input);          // input [N, 3, H, W] -> [N, 1000]
//   mnv4::Features f = net.features(input);        // stem, every stage, pre_logits, logits
//
// Weights are immutable after load. run(input) uses the model's own workspace;
// callers that share one model across threads each pass their own Workspace.
#include "mnv4/config.hpp"
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mnv4/backend/backend.hpp"
#include "mnv4/backend/cpu.hpp"
#include "mnv4/core/aligned_buffer.hpp"
#include "mnv4/core/dims.hpp"
#include "mnv4/core/error.hpp"
#include "mnv4/core/layout_convert.hpp"
#include "mnv4/core/profile.hpp"
#include "mnv4/core/tensor.hpp"
#include "mnv4/core/thread_pool.hpp"
#include "mnv4/io/checkpoint.hpp"
#include "mnv4/io/identify.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/layers/weights.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// Everything features() returns, NCHW: stem [N,C,H/2,W/2], one map per stage,
// pre_logits [N, 1280] and logits [N, classes].
struct Features {
  Tensor stem;
  std::vector<Tensor> stages;
  Tensor pre_logits;
  Tensor logits;
};

// The smallest input side a model accepts (its total stride).
inline constexpr int kMinInputSide = 32;

// Default cap on one forward pass's workspace: half of physical memory, so an
// absurd input size is refused with an error instead of ending in the OOM killer.
inline std::size_t default_workspace_limit() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::size_t{8} << 30;
  return static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) / 2;
}

// Per-caller execution state: activation buffers planned once for an input
// extent and reused, and the caller's intra-op threads.
class Workspace {
 public:
  // `threads`: how many threads one forward pass uses (the caller counts as one).
  explicit Workspace(int threads = 1) {
    if (threads > 1) pool_ = std::make_unique<ThreadPool>(threads);
    else if (threads < 1) detail::fail("Workspace: thread count must be >= 1, got ", threads);
  }
  int threads() const { return pool_ ? pool_->size() : 1; }

  // Time every block of the passes run with this workspace from now on (off by
  // default: two clock reads per block). Enabling again starts a new profile.
  void enable_profiling(bool on = true) {
    profiling_ = on;
    profile_ = {};
    profiled_ = {};
  }
  // Per-block time summed over profile().passes passes at one input extent (a
  // new extent starts a new profile).
  const Profile& profile() const { return profile_; }

 private:
  template <class, class>
  friend class Model;
  std::unique_ptr<ThreadPool> pool_;
  bool profiling_ = false;
  Profile profile_;
  Dims profiled_{};  // the extent profile_ was laid out for
  Dims planned_{};
  AlignedBuffer act_[2];
  std::size_t act_floats_ = 0;  // planned floats of each act_ buffer
  AlignedBuffer scratch_;
  AlignedBuffer pre_logits_;
};

template <class Net, class B = backend::Cpu>
class Model {
  template <class P>
  using ImplOf = block_impl_t<B, P::spec>;
  using StemImpl = block_impl_t<B, Net::stem>;
  using HeadImpl = block_impl_t<B, Net::head>;

  template <class List>
  struct ImplTuple;
  template <class... P>
  struct ImplTuple<TypeList<P...>> {
    using type = std::tuple<std::optional<ImplOf<P>>...>;
  };
  // Optional so that blocks are built one at a time: each block's checkpoint-layout
  // weights are freed before the next block binds, keeping peak memory near the
  // prepared weights' size instead of twice it.
  using BlockImpls = typename ImplTuple<typename Net::blocks>::type;

  struct Impls {
    std::optional<StemImpl> stem;
    BlockImpls blocks;
    std::optional<HeadImpl> head;
  };

 public:
  using network = Net;
  using backend_type = B;
  static constexpr std::string_view name = Net::name;
  static constexpr int num_classes = Net::head.classes;

  Model() = default;
  explicit Model(const std::filesystem::path& checkpoint) { load(checkpoint); }

  // Reads a timm state_dict in safetensors format (F32, F16 or BF16).
  void load(const std::filesystem::path& checkpoint) { load(io::SafetensorsFile::open(checkpoint)); }
  void load(const io::SafetensorsFile& file) {
    io::CheckpointBinder binder(file, Net::name);
    auto impls = build(binder);
    binder.finish({}, binder.ok() ? std::string() : io::identify_checkpoint(file));
    impls_ = std::move(impls);
  }
  // Deterministic synthetic weights (benchmarks, shape tests): no checkpoint needed.
  void load_random(uint64_t seed = 0) {
    io::RandomWeights source(seed);
    impls_ = build(source);
  }
  bool loaded() const { return impls_ != nullptr; }

  // Bytes of workspace (activations and scratch) one forward pass needs for `in`.
  static std::size_t workspace_bytes(Dims in) {
    check_dims(in);
    const Plan p = plan_for(in);
    return (2 * p.activation + p.scratch + p.pre_logits) * sizeof(float);
  }
  // Inputs whose workspace would exceed `bytes` are refused (default: half of RAM).
  void set_workspace_limit(std::size_t bytes) { workspace_limit_ = bytes; }
  std::size_t workspace_limit() const { return workspace_limit_; }

  // Intra-op threads used by run()/features() without an explicit Workspace.
  void set_threads(int threads) { workspace_ = Workspace(threads); }
  int threads() const { return workspace_.threads(); }

  // Logits [N, classes] for input [N, 3, H, W] (NCHW) or [N, H, W, 3] (NHWC).
  Tensor run(const Tensor& input, Layout layout = Layout::kNCHW) { return run(input, workspace_, layout); }
  Tensor run(const Tensor& input, Workspace& ws, Layout layout = Layout::kNCHW) const {
    const Dims in = check_input(input, layout);
    plan(ws, in);  // refuses oversized inputs before anything is allocated
    Tensor logits({in.n, num_classes});
    forward(input.data(), in, layout, ws, nullptr, logits.data());
    return logits;
  }

  Features features(const Tensor& input, Layout layout = Layout::kNCHW) { return features(input, workspace_, layout); }
  Features features(const Tensor& input, Workspace& ws, Layout layout = Layout::kNCHW) const {
    const Dims in = check_input(input, layout);
    plan(ws, in);
    Features f;
    f.logits = Tensor({in.n, num_classes});
    forward(input.data(), in, layout, ws, &f, f.logits.data());
    return f;
  }

  // Low-level entry: no allocation once `ws` has seen this input extent.
  // `logits` must hold in.n * num_classes floats.
  void run(const float* input, Dims in, Layout layout, Workspace& ws, float* logits) const {
    check_dims(in);
    forward(input, in, layout, ws, nullptr, logits);
  }

 private:
  template <auto Spec, class Source>
  static auto bind(Source& source, const std::string& prefix) {
    auto w = make_weights(Spec);
    for_each_weight(w, prefix, source);
    return w;
  }

  template <class P>
  static std::string prefix_of() {
    return "blocks." + std::to_string(P::stage) + "." + std::to_string(P::index) + ".";
  }

  template <class Source>
  static std::unique_ptr<const Impls> build(Source& source) {
    auto impls = std::make_unique<Impls>();
    impls->stem.emplace(bind<Net::stem>(source, ""));
    for_each_block([&](auto i) {
      using P = std::tuple_element_t<i, typename ToTuple<typename Net::blocks>::type>;
      std::get<i>(impls->blocks).emplace(bind<P::spec>(source, prefix_of<P>()));
    });
    impls->head.emplace(bind<Net::head>(source, ""));
    return impls;
  }

  // The largest N·H·W planned with exact size_t arithmetic (far beyond any real workspace limit).
  static constexpr long double kMaxPixels = 1ull << 40;

  static void check_dims(Dims d) {
    if (d.n < 1 || d.c != 3 || d.h < kMinInputSide || d.w < kMinInputSide)
      detail::fail(Net::name, ": input must hold N >= 1 images of 3 channels, each at least ", kMinInputSide, "x",
                   kMinInputSide, "; got N=", d.n, " C=", d.c, " H=", d.h, " W=", d.w);
    if (static_cast<long double>(d.n) * d.h * d.w > kMaxPixels)
      detail::fail(Net::name, ": input N=", d.n, " H=", d.h, " W=", d.w, " is too large to plan (N*H*W > 2^40)");
  }

  Dims check_input(const Tensor& input, Layout layout) const {
    const char* expect = layout == Layout::kNCHW ? "[N, 3, H, W] (NCHW)" : "[N, H, W, 3] (NHWC)";
    if (input.rank() != 4)
      detail::fail(Net::name, ": input must be ", expect, ", got shape ", shape_string(input.shape()));
    for (int64_t v : input.shape())
      if (v > (1 << 30))
        detail::fail(Net::name, ": input dimension ", v, " is too large, got shape ", shape_string(input.shape()));
    const auto dim = [&](int i) { return static_cast<int>(input.dim(i)); };
    const Dims d = layout == Layout::kNCHW ? Dims{dim(0), dim(1), dim(2), dim(3)} : Dims{dim(0), dim(3), dim(1), dim(2)};
    if (d.c != 3 || d.n < 1 || d.h < kMinInputSide || d.w < kMinInputSide)
      detail::fail(Net::name, ": input must be ", expect, " with N >= 1 and H, W >= ", kMinInputSide, ", got shape ",
                   shape_string(input.shape()));
    return d;
  }

  template <class F, std::size_t... I>
  static void for_each_block(F&& f, std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>{}), ...);
  }
  template <class F>
  static void for_each_block(F&& f) {
    for_each_block(std::forward<F>(f), std::make_index_sequence<Net::num_blocks>{});
  }

  struct Plan {
    std::size_t activation = 0, scratch = 1, pre_logits = 0;  // floats
  };
  // Buffer sizes for input extent `in`: the largest activation and block scratch.
  static Plan plan_for(Dims in) {
    Plan p;
    p.activation = in.count();
    p.scratch = std::max(p.scratch, StemImpl::scratch_floats(in));
    Dims d = StemImpl::output_dims(in);
    p.activation = std::max(p.activation, d.count());
    for_each_block([&](auto i) {
      using Impl = typename std::tuple_element_t<i, BlockImpls>::value_type;
      p.scratch = std::max(p.scratch, Impl::scratch_floats(d));
      d = Impl::output_dims(d);
      p.activation = std::max(p.activation, d.count());
    });
    p.scratch = std::max(p.scratch, HeadImpl::scratch_floats(d));
    p.pre_logits = static_cast<std::size_t>(in.n) * Net::head.hidden;
    return p;
  }

  // Sizes the workspace for input extent `in` (a no-op when it already fits).
  void plan(Workspace& ws, Dims in) const {
    if (ws.planned_ == in) return;
    const std::size_t bytes = workspace_bytes(in);
    if (bytes > workspace_limit_)
      detail::fail(Net::name, ": input N=", in.n, " H=", in.h, " W=", in.w, " needs ", bytes >> 20,
                   " MiB of workspace, over the limit of ", workspace_limit_ >> 20,
                   " MiB (Model::set_workspace_limit)");
    const Plan p = plan_for(in);
    ws.act_[0].reserve(p.activation);
    ws.act_[1].reserve(p.activation);
    ws.act_floats_ = p.activation;
    ws.scratch_.reserve(p.scratch);
    ws.pre_logits_.reserve(p.pre_logits);
    ws.planned_ = in;
  }

  static Tensor to_nchw_tensor(const float* data, Dims d, Layout layout) {
    Tensor t({d.n, d.c, d.h, d.w});
    convert_layout(data, layout, d, t.data(), Layout::kNCHW);
    return t;
  }

  void forward(const float* input, Dims in, Layout in_layout, Workspace& ws, Features* features,
               float* logits) const {
    if (!impls_) detail::fail(Net::name, ": run before load (call load() or load_random() first)");
    plan(ws, in);
    const Impls& impls = *impls_;
    const RunContext ctx{ws.pool_.get()};

    // Profiling: each block's row gets the time since the previous mark (the
    // stem's includes the input's layout conversion).
    if (ws.profiling_ && ws.profiled_ != in) lay_out_profile(ws, in);
    auto last = ws.profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    const auto mark = [&](std::size_t row) {
      if (!ws.profiling_) return;
      const auto now = std::chrono::steady_clock::now();
      ws.profile_.blocks[row].seconds += std::chrono::duration<double>(now - last).count();
      last = now;
    };

    // cur: buffer holding the current activation; the other one is written next.
    int cur = 0;
    // Where a tensor of extent d lies in activation buffer `buf`: centred on the
    // buffer's middle (at a 4 KiB multiple). Every layer gives its first rows to
    // the first thread, so with two threads each core then writes the half of
    // a buffer it read and wrote before, whatever the tensor's size; from offset
    // 0, a tensor smaller than the last one in the buffer put the second thread's
    // stores on lines the first core held, each a cross-core invalidation
    // (Conv-S's 56×56 32 → 32 1×1 after its 3×3/2: 43 µs against 23 centred,
    // 34 on one thread).
    const auto at = [&](int buf, Dims t) {
      const std::size_t offset = (ws.act_floats_ - t.count()) / 2 / 1024 * 1024;
      return ws.act_[buf].data() + offset;
    };
    Layout layout = StemImpl::layout;
    // Layout conversions split by image rows across the pool (Conv-S at two
    // threads: its stem row, the input's conversion included, 158 → 120 µs).
    const auto convert = [&](const float* from, Layout from_layout, Dims d, float* to, Layout to_layout) {
      parallel_for(ctx.pool, static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.h),
                   [&](std::size_t b, std::size_t e) { convert_layout_rows(from, from_layout, d, to, to_layout, b, e); });
    };
    convert(input, in_layout, in, at(cur, in), layout);

    // Moves the activation into `want` layout if the next block needs it.
    const auto ensure_layout = [&](Layout want, Dims d) {
      if (want == layout) return;
      convert(at(cur, d), layout, d, at(1 - cur, d), want);
      cur = 1 - cur;
      layout = want;
    };

    Dims d = in;
    impls.stem->run(at(cur, d), d, at(1 - cur, StemImpl::output_dims(d)), ws.scratch_.data(), ctx);
    mark(0);
    d = StemImpl::output_dims(d);
    cur = 1 - cur;
    if (features != nullptr) features->stem = to_nchw_tensor(at(cur, d), d, layout);

    for_each_block([&](auto i) {
      using Impl = typename std::tuple_element_t<i, BlockImpls>::value_type;
      using P = std::tuple_element_t<i, typename ToTuple<typename Net::blocks>::type>;
      ensure_layout(Impl::layout, d);
      std::get<i>(impls.blocks)->run(at(cur, d), d, at(1 - cur, Impl::output_dims(d)), ws.scratch_.data(), ctx);
      mark(i + 1);
      d = Impl::output_dims(d);
      cur = 1 - cur;
      if (features != nullptr && is_stage_end<P>())
        features->stages.push_back(to_nchw_tensor(at(cur, d), d, layout));
    });

    ensure_layout(HeadImpl::layout, d);
    float* pre_logits = features != nullptr ? nullptr : ws.pre_logits_.data();
    if (features != nullptr) {
      features->pre_logits = Tensor({d.n, Net::head.hidden});
      pre_logits = features->pre_logits.data();
    }
    impls.head->run(at(cur, d), d, pre_logits, logits, ws.scratch_.data(), ctx);
    mark(Net::num_blocks + 1);
    if (ws.profiling_) ++ws.profile_.passes;
  }

  // One row per block, named like timm's modules, with its MACs at extent `in`.
  static void lay_out_profile(Workspace& ws, Dims in) {
    const auto rows = Net::describe(in.h, in.w);
    Profile p;
    for (const BlockShape& r : rows)
      p.blocks.push_back({r.stage < 0 ? "conv_stem" : "blocks." + std::to_string(r.stage) + "." + std::to_string(r.index),
                          r.kind, r.macs * in.n, 0.0});
    p.blocks.push_back({"head", "head", mnv4::macs(Net::head) * in.n, 0.0});
    ws.profile_ = std::move(p);
    ws.profiled_ = in;
  }

  template <class List>
  struct ToTuple;
  template <class... P>
  struct ToTuple<TypeList<P...>> {
    using type = std::tuple<P...>;
  };

  // True for the last block of its stage.
  template <class P>
  static constexpr bool is_stage_end() {
    using All = typename ToTuple<typename Net::blocks>::type;
    return []<std::size_t... I>(std::index_sequence<I...>) {
      bool has_next_in_stage = false;
      ((has_next_in_stage |= std::tuple_element_t<I, All>::stage == P::stage &&
                             std::tuple_element_t<I, All>::index == P::index + 1),
       ...);
      return !has_next_in_stage;
    }(std::make_index_sequence<std::tuple_size_v<All>>{});
  }

  std::unique_ptr<const Impls> impls_;
  std::size_t workspace_limit_ = default_workspace_limit();
  Workspace workspace_;
};

}  // namespace mnv4
