// Every input that once broke a fuzzer (fuzz/regressions/) and a few hand-made
// hostile ones go through both fuzz targets: only mnv4::Error may come out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../fuzz/targets.hpp"

namespace mnv4::test {
namespace {

void both_targets(const std::vector<uint8_t>& bytes) {
  fuzz::parse_safetensors(bytes.data(), bytes.size());
  fuzz::bind_checkpoint(bytes.data(), bytes.size());
}

std::vector<uint8_t> with_header(const std::string& header, std::size_t data = 0) {
  std::vector<uint8_t> b(8 + header.size() + data, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
  std::copy(header.begin(), header.end(), b.begin() + 8);
  return b;
}

TEST(FuzzRegressions, SavedInputs) {
  const std::filesystem::path dir = std::filesystem::path(MNV4_SOURCE_DIR) / "fuzz" / "regressions";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NO_THROW(both_targets(bytes)) << entry.path();
    ++files;
  }
  RecordProperty("files", files);
}

TEST(FuzzRegressions, HostileHeaders) {
  for (const std::string& header :
       {std::string("{"), std::string(100000, '['), std::string("{\"conv_stem.weight\":{\"dtype\":\"F32\",\"shape\":[32,3,3,3],\"data_offsets\":[0,3456]}}"),
        std::string("{\"blocks.99999.99999.conv.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"),
        std::string("{\"conv_head.weight\":{\"dtype\":\"I64\",\"shape\":[1280,960,1,1],\"data_offsets\":[0,8]}}")})
    EXPECT_NO_THROW(both_targets(with_header(header, 3456))) << header.substr(0, 60);
  EXPECT_NO_THROW(both_targets({}));
  EXPECT_NO_THROW(both_targets({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'}));
}

}  // namespace
}  // namespace mnv4::test
