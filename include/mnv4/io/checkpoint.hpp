#pragma once
// Binding a timm state_dict (safetensors) onto a model's weights, and the
// synthetic weights used when no checkpoint is given (benchmarks, shape tests).
#include "mnv4/config.hpp"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mnv4/core/error.hpp"
#include "mnv4/core/tensor.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/layers/weights.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::io {

// Visits every weight a model expects; fills it from the file or records why it
// cannot. finish() throws one Error listing every problem, so a wrong checkpoint
// is diagnosed in one go (missing keys, unexpected keys, shape mismatches).
class CheckpointBinder {
 public:
  CheckpointBinder(const SafetensorsFile& file, std::string_view model_name)
      : file_(file), model_(model_name) {}

  void operator()(const std::string& key, Weight& w) {
    const TensorEntry* entry = file_.find(key);
    if (entry == nullptr || entry->shape != w.shape) {
      if (entry == nullptr)
        missing_.push_back(key + " " + shape_string(w.shape));
      else
        mismatched_.push_back(key + ": expected " + shape_string(w.shape) + ", found " + shape_string(entry->shape));
      if (entry != nullptr) bound_.insert(key);
      // Keep the weight well-formed so blocks can still be built; finish() rejects the model.
      w.values.assign(static_cast<std::size_t>(shape_numel(w.shape)), 0.0f);
      return;
    }
    bound_.insert(key);
    w.values = file_.to_float(*entry);
    std::size_t bad = 0;
    for (float v : w.values) bad += std::isfinite(v) ? 0 : 1;
    if (bad != 0)  // a model with NaN/Inf weights would return garbage labels: refuse it
      nonfinite_.push_back(key + ": " + std::to_string(bad) + " of " + std::to_string(w.values.size()) +
                           " values are NaN or Inf");
  }

  // Every expected tensor was found with the right shape and finite values.
  bool ok() const { return missing_.empty() && mismatched_.empty() && nonfinite_.empty(); }

  // `also_allowed`: names the file may hold besides weights (e.g. test inputs).
  // `identified`: the known model the file appears to hold (io/identify.hpp), if any.
  void finish(const std::set<std::string, std::less<>>& also_allowed = {}, const std::string& identified = {}) const {
    std::vector<std::string> unexpected;
    for (const TensorEntry& e : file_.tensors()) {
      if (bound_.count(e.name) != 0 || also_allowed.count(e.name) != 0) continue;
      if (is_optional_buffer(e.name)) continue;
      unexpected.push_back(e.name + " " + shape_string(e.shape));
    }
    if (missing_.empty() && mismatched_.empty() && unexpected.empty() && nonfinite_.empty()) return;

    std::ostringstream msg;
    msg << file_.name() << ": checkpoint does not match " << model_ << ":";
    list(msg, "missing tensors (expected shape)", missing_);
    list(msg, "shape mismatches", mismatched_);
    list(msg, "unexpected tensors", unexpected);
    list(msg, "tensors with NaN or Inf values", nonfinite_);
    if (!identified.empty() && identified != model_)
      msg << "\n  this file holds a " << identified << " checkpoint, not " << model_;
    else if (bound_.empty() || missing_.size() + mismatched_.size() > bound_.size())
      msg << "\n  (most keys disagree: is this a checkpoint of a different model?)";
    throw Error(msg.str());
  }

 private:
  // BatchNorm's step counter: some checkpoints carry it, it means nothing at inference.
  bool is_optional_buffer(const std::string& name) const {
    constexpr std::string_view kSuffix = ".num_batches_tracked";
    if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      return false;
    const std::string bn = name.substr(0, name.size() - kSuffix.size());
    return bound_.count(bn + ".running_mean") != 0;
  }

  static void list(std::ostringstream& msg, const char* what, const std::vector<std::string>& items) {
    if (items.empty()) return;
    constexpr std::size_t kShown = 8;
    msg << "\n  " << items.size() << " " << what << ":";
    for (std::size_t i = 0; i < std::min(items.size(), kShown); ++i) msg << "\n    " << items[i];
    if (items.size() > kShown) msg << "\n    ... and " << items.size() - kShown << " more";
  }

  const SafetensorsFile& file_;
  std::string model_;
  std::set<std::string> bound_;
  std::vector<std::string> missing_, mismatched_, nonfinite_;
};

// Deterministic, well-conditioned random weights: He-uniform convolutions and
// BatchNorm statistics that keep activations near unit scale through the network.
class RandomWeights {
 public:
  explicit RandomWeights(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}

  void operator()(const std::string& key, Weight& w) {
    const int64_t n = shape_numel(w.shape);
    w.values.resize(static_cast<std::size_t>(n));
    const bool is_conv = w.shape.size() >= 2;
    const double fan_in = is_conv ? static_cast<double>(n) / static_cast<double>(w.shape[0]) : 1.0;
    const double bound = is_conv ? std::sqrt(6.0 / fan_in) : 0.0;
    const bool is_gamma = ends_with(key, ".weight") || ends_with(key, ".gamma");
    for (float& v : w.values) {
      const double u = uniform();  // [0, 1)
      if (is_conv) v = static_cast<float>((2 * u - 1) * bound);
      else if (w.is_bn_variance) v = static_cast<float>(0.5 + u);
      else if (is_gamma) v = static_cast<float>(0.5 + 0.5 * u);
      else v = static_cast<float>(0.2 * (u - 0.5));
    }
  }

 private:
  static bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  double uniform() {  // splitmix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
  }
  uint64_t state_;
};

}  // namespace mnv4::io
