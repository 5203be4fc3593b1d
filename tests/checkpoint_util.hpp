#pragma once
// Writing timm-style checkpoints in tests: a state_dict of random weights for any
// network, optionally edited (dropped, renamed, reshaped, re-typed) on the way out.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "mnv4/io/checkpoint.hpp"
#include "mnv4/layers/weights.hpp"
#include "mnv4/spec/network.hpp"

namespace mnv4::test {

struct StateEntry {
  Shape shape;
  std::vector<float> values;
};
using StateDict = std::map<std::string, StateEntry>;

template <class Net>
StateDict random_state_dict(uint64_t seed) {
  StateDict sd;
  io::RandomWeights random(seed);
  const auto take = [&](const std::string& key, Weight& w) {
    random(key, w);
    sd[key] = {w.shape, w.values};
  };
  auto stem = make_weights(Net::stem);
  for_each_weight(stem, "", take);
  [&]<class... P>(TypeList<P...>) {
    (
        [&] {
          auto w = make_weights(P::spec);
          for_each_weight(w, "blocks." + std::to_string(P::stage) + "." + std::to_string(P::index) + ".", take);
        }(),
        ...);
  }(typename Net::blocks{});
  auto head = make_weights(Net::head);
  for_each_weight(head, "", take);
  return sd;
}

// IEEE half and bfloat16 encodings (round to nearest even) for writing F16/BF16 files.
inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float from_bf16(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint16_t to_f16(float f) {  // normal range only (test weights are small and not tiny)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  int exp = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = u & 0x7FFFFFu;
  if (exp <= 0) return static_cast<uint16_t>(sign);  // flush tiny values to zero
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}
inline float from_f16(uint16_t h) {
  const int exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FFu;
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t u = sign;
  if (exp != 0) u |= (static_cast<uint32_t>(exp - 15 + 127) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Writes a safetensors file with every entry stored as `dtype` ("F32", "F16", "BF16"),
// plus optional extra raw entries (e.g. I64 num_batches_tracked).
struct RawEntry {
  std::string name, dtype;
  Shape shape;
  std::vector<unsigned char> bytes;
};
inline void write_state_dict(const std::filesystem::path& path, const StateDict& sd, const std::string& dtype = "F32",
                             const std::vector<RawEntry>& extra = {}) {
  std::vector<RawEntry> entries;
  for (const auto& [name, e] : sd) {
    RawEntry r{name, dtype, e.shape, {}};
    for (float v : e.values) {
      if (dtype == "F32") {
        unsigned char b[4];
        std::memcpy(b, &v, 4);
        r.bytes.insert(r.bytes.end(), b, b + 4);
      } else {
        const uint16_t h = dtype == "F16" ? to_f16(v) : to_bf16(v);
        r.bytes.push_back(static_cast<unsigned char>(h & 0xFF));
        r.bytes.push_back(static_cast<unsigned char>(h >> 8));
      }
    }
    entries.push_back(std::move(r));
  }
  entries.insert(entries.end(), extra.begin(), extra.end());
  std::string header = "{";
  std::size_t offset = 0;
  for (const RawEntry& r : entries) {
    if (header.size() > 1) header += ",";
    header += "\"" + r.name + "\":{\"dtype\":\"" + r.dtype + "\",\"shape\":" + shape_string(r.shape) +
              ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + r.bytes.size()) + "]}";
    offset += r.bytes.size();
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const RawEntry& r : entries) out.write(reinterpret_cast<const char*>(r.bytes.data()), static_cast<std::streamsize>(r.bytes.size()));
}

inline RawEntry i64_scalar(const std::string& name, int64_t v) {
  RawEntry r{name, "I64", {}, std::vector<unsigned char>(8)};
  std::memcpy(r.bytes.data(), &v, 8);
  return r;
}

inline std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("mnv4_test_" + std::to_string(::getpid()) + "_" + name);
}

}  // namespace mnv4::test
