#pragma once
// Choosing a model by its timm name at run time (command-line tools, services).
// Each entry instantiates Model<Net, Backend>; include this only where a runtime
// choice is needed, as it compiles every model for both CPU backends.
#include "mnv4/config.hpp"
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mnv4/backend/cpu.hpp"
#include "mnv4/backend/reference.hpp"
#include "mnv4/model.hpp"
#include "mnv4/models/all.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

// The type-erased face of a Model<Net, Backend>.
class AnyModel {
 public:
  virtual ~AnyModel() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view backend() const = 0;
  virtual int64_t params() const = 0;
  virtual int64_t macs(int h, int w) const = 0;  // per image
  virtual void load(const std::filesystem::path& checkpoint) = 0;
  virtual void load_random(uint64_t seed) = 0;
  virtual void set_threads(int threads) = 0;
  virtual Tensor run(const Tensor& input, Layout layout) = 0;
  virtual Features features(const Tensor& input, Layout layout) = 0;
  // NCHW input; no allocation after the first call at a given size.
  virtual void run_into(const float* input, Dims in, float* logits) = 0;
  // Per-block times of the run_into() passes from now on (Workspace::enable_profiling).
  virtual void enable_profiling(bool on) = 0;
  virtual const Profile& profile() const = 0;
};

template <class Net, class B>
class ModelAdapter final : public AnyModel {
 public:
  std::string_view name() const override { return Net::name; }
  std::string_view backend() const override { return B::name; }
  int64_t params() const override { return Net::params(); }
  int64_t macs(int h, int w) const override { return Net::macs_at(h, w); }
  void load(const std::filesystem::path& checkpoint) override { model_.load(checkpoint); }
  void load_random(uint64_t seed) override { model_.load_random(seed); }
  void set_threads(int threads) override {
    model_.set_threads(threads);
    workspace_ = Workspace(threads);
  }
  Tensor run(const Tensor& input, Layout layout) override { return model_.run(input, layout); }
  Features features(const Tensor& input, Layout layout) override { return model_.features(input, layout); }
  void run_into(const float* input, Dims in, float* logits) override {
    model_.run(input, in, Layout::kNCHW, workspace_, logits);
  }
  void enable_profiling(bool on) override { workspace_.enable_profiling(on); }
  const Profile& profile() const override { return workspace_.profile(); }

 private:
  Model<Net, B> model_;
  Workspace workspace_;
};

namespace detail {
template <class B, class... Nets>
std::unique_ptr<AnyModel> make_from(std::string_view name, TypeList<Nets...>) {
  std::unique_ptr<AnyModel> m;
  ((!m && name == Nets::name ? void(m = std::make_unique<ModelAdapter<Nets, B>>()) : void()), ...);
  return m;
}
}  // namespace detail

inline std::vector<std::string_view> model_names() {
  return []<class... N>(TypeList<N...>) { return std::vector<std::string_view>{N::name...}; }(AllNetworks{});
}

// `name`: a timm model name, optionally with a checkpoint tag ("mobilenetv4_conv_small.e2400_r224_in1k").
// `backend`: "cpu" (default) or "reference".
inline std::unique_ptr<AnyModel> make_model(std::string_view name, std::string_view backend = "cpu") {
  const std::string_view model = name.substr(0, name.find('.'));
  std::unique_ptr<AnyModel> m;
  if (backend == backend::Cpu::name)
    m = detail::make_from<backend::Cpu>(model, AllNetworks{});
  else if (backend == backend::Reference::name)
    m = detail::make_from<backend::Reference>(model, AllNetworks{});
  else
    detail::fail("unknown backend '", backend, "' (expected 'cpu' or 'reference')");
  if (!m) {
    std::string known;
    for (std::string_view n : model_names()) known += std::string(known.empty() ? "" : ", ") + std::string(n);
    detail::fail("unknown model '", name, "' (known: ", known, ")");
  }
  return m;
}

}  // namespace mnv4
