#pragma once
// What the fuzzers exercise, shared with the regression test so every input that
// once crashed stays covered by the ordinary test suite.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "mnv4/io/checkpoint.hpp"
#include "mnv4/io/identify.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/models/conv_small.hpp"
#include "mnv4/models/hybrid_medium.hpp"

namespace mnv4::fuzz {

// Parse arbitrary bytes; on success read every tensor. Only mnv4::Error may escape.
inline void parse_safetensors(const uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const auto file = io::SafetensorsFile::from_bytes(std::move(bytes), "fuzz.safetensors");
    double sum = 0;
    for (const io::TensorEntry& e : file.tensors()) {
      if (e.dtype == io::DType::kI64) {
        for (std::byte b : e.bytes) sum += static_cast<double>(b);
        continue;
      }
      for (float v : file.to_float(e)) sum += v;
    }
    for (const auto& [k, v] : file.metadata()) sum += static_cast<double>(k.size() + v.size());
    (void)sum;
  } catch (const Error&) {
  }
}

template <class Net>
void bind_all(const io::SafetensorsFile& file) {
  io::CheckpointBinder binder(file, Net::name);
  const auto bind = [&](auto spec, const std::string& prefix) {
    auto w = make_weights(spec);
    for_each_weight(w, prefix, binder);
  };
  bind(Net::stem, "");
  [&]<class... P>(TypeList<P...>) {
    (bind(P::spec, "blocks." + std::to_string(P::stage) + "." + std::to_string(P::index) + "."), ...);
  }(typename Net::blocks{});
  bind(Net::head, "");
  try {
    binder.finish({}, io::identify_checkpoint(file));
  } catch (const Error&) {
  }
}

// Parse, then bind to Conv-S and Hybrid-M as Model::load does (without the weight
// preparation, which is plain arithmetic on already-validated arrays).
inline void bind_checkpoint(const uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const auto file = io::SafetensorsFile::from_bytes(std::move(bytes), "fuzz.safetensors");
    bind_all<ConvSmall>(file);
    bind_all<HybridMedium>(file);
  } catch (const Error&) {
  }
}

}  // namespace mnv4::fuzz
