// Writes the fuzzers' seed corpus: small valid files (every dtype, metadata,
// scalars, partial and complete checkpoints) and typical broken ones.
//   make_corpus <dir>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <tuple>
#include <string>
#include <vector>

#include "../tests/checkpoint_util.hpp"
#include "mnv4/models/all.hpp"

namespace {

void write_raw(const std::filesystem::path& path, const std::string& header, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out << std::string(data_bytes, '\x01');
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus <dir>\n");
    return 2;
  }
  namespace fs = std::filesystem;
  using namespace mnv4::test;  // NOLINT(google-build-using-namespace)
  const fs::path dir = argv[1];
  fs::create_directories(dir);

  // Complete checkpoints (the success path): Conv-S 0.35 in BF16, Hybrid-M 0.75 would be too big.
  write_state_dict(dir / "conv_small_035_bf16.safetensors", random_state_dict<mnv4::ConvSmall035>(1), "BF16");
  // Partial Conv-S and Hybrid-M checkpoints: the first tensors of each, F32 / F16.
  for (const auto& [name, sd, dtype] :
       {std::tuple{"conv_small_partial", random_state_dict<mnv4::ConvSmall>(2), "F32"},
        std::tuple{"hybrid_medium_partial", random_state_dict<mnv4::HybridMedium>(3), "F16"}}) {
    StateDict small;
    for (const auto& [k, v] : sd) {
      if (v.values.size() > 4096) continue;
      small[k] = v;
      if (small.size() >= 40) break;
    }
    write_state_dict(dir / (std::string(name) + ".safetensors"), small, dtype,
                     {i64_scalar("bn1.num_batches_tracked", 7)});
  }
  write_raw(dir / "metadata.safetensors",
            R"({"__metadata__":{"format":"pt","k":"v\u00e9"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16);
  write_raw(dir / "scalar_and_empty.safetensors",
            R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}})", 8);
  write_raw(dir / "overlap.safetensors",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  write_raw(dir / "bad_dtype.safetensors", R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8);
  write_raw(dir / "truncated_json.safetensors", R"({"a":{"dtype":"F32","shape":[1],"data_)", 4);
  write_raw(dir / "past_end.safetensors", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  std::printf("seed corpus written to %s\n", dir.c_str());
  return 0;
}
