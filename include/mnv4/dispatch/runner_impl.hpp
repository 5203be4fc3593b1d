#pragma once
// The body of one instruction set's translation unit (see runner.hpp). The
// generated source defines MNV4_ISA_NAMESPACE, renames Eigen's namespace and
// names the factory (MNV4_DISPATCH_FACTORY) before including this.
#include <utility>

#include "mnv4/dispatch/runner.hpp"
#include "mnv4/registry.hpp"

#ifndef MNV4_DISPATCH_ISA
#error "define MNV4_DISPATCH_ISA (baseline, avx2, avx512bw) before including runner_impl.hpp"
#endif
#define MNV4_DISPATCH_CONCAT_(a, b) a##b
#define MNV4_DISPATCH_NAME(prefix, isa) MNV4_DISPATCH_CONCAT_(prefix, isa)

namespace mnv4::inline MNV4_ISA_NAMESPACE::detail {

class RunnerImpl final : public dispatch::Runner {
 public:
  explicit RunnerImpl(std::unique_ptr<AnyModel> m) : model_(std::move(m)) {}
  std::string model() const override { return std::string(model_->name()); }
  std::string backend() const override { return std::string(model_->backend()); }
  std::string isa() const override { return xsimd::default_arch::name(); }
  int64_t params() const override { return model_->params(); }
  int64_t macs(int h, int w) const override { return model_->macs(h, w); }
  void load(const std::string& checkpoint) override { model_->load(checkpoint); }
  void load_random(uint64_t seed) override { model_->load_random(seed); }
  void set_threads(int threads) override { model_->set_threads(threads); }

  std::vector<dispatch::Array> run(const float* input, const std::vector<int64_t>& shape, bool nhwc,
                                   bool features) override {
    const Tensor in(shape, std::vector<float>(input, input + shape_numel(shape)));
    const Layout layout = nhwc ? Layout::kNHWC : Layout::kNCHW;
    std::vector<dispatch::Array> out;
    const auto add = [&](std::string name, const Tensor& t) {
      out.push_back({std::move(name), t.shape(), std::vector<float>(t.values().begin(), t.values().end())});
    };
    if (!features) {
      add("logits", model_->run(in, layout));
      return out;
    }
    const Features f = model_->features(in, layout);
    add("logits", f.logits);
    add("stem", f.stem);
    for (std::size_t s = 0; s < f.stages.size(); ++s) add("features." + std::to_string(s), f.stages[s]);
    add("pre_logits", f.pre_logits);
    return out;
  }

  void run_into(const float* input, const std::vector<int64_t>& shape, float* logits) override {
    if (shape.size() != 4) detail::fail("run_into: input must be [N, 3, H, W], got ", shape_string(shape));
    model_->run_into(input, Dims{static_cast<int>(shape[0]), static_cast<int>(shape[1]), static_cast<int>(shape[2]),
                                 static_cast<int>(shape[3])},
                     logits);
  }
  void enable_profiling(bool on) override { model_->enable_profiling(on); }
  dispatch::Profile profile() const override {
    const Profile& p = model_->profile();
    dispatch::Profile out{p.passes, {}};
    for (const BlockTime& b : p.blocks) out.blocks.push_back({b.block, b.kind, b.macs, b.seconds});
    return out;
  }

 private:
  std::unique_ptr<AnyModel> model_;
};

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::detail

namespace mnv4::dispatch {
std::unique_ptr<Runner> MNV4_DISPATCH_NAME(make_runner_, MNV4_DISPATCH_ISA)(std::string_view model,
                                                                           std::string_view backend) {
  return std::make_unique<mnv4::MNV4_ISA_NAMESPACE::detail::RunnerImpl>(mnv4::make_model(model, backend));
}
std::vector<std::string> MNV4_DISPATCH_NAME(model_names_, MNV4_DISPATCH_ISA)() {
  std::vector<std::string> names;
  for (std::string_view n : mnv4::model_names()) names.emplace_back(n);
  return names;
}
}  // namespace mnv4::dispatch
