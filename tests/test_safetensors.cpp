// The safetensors reader: round trips, dtype conversion, and every malformed file
// is a clear error naming the file, the tensor and expected vs found.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "golden.hpp"
#include "mnv4/io/safetensors.hpp"

namespace mnv4::test {
namespace {

using io::DType;
using io::SafetensorsFile;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// A file from a header string and a data section.
std::vector<std::byte> make_file(const std::string& header, std::size_t data_bytes = 0, uint64_t declared = 0) {
  const uint64_t n = declared != 0 ? declared : header.size();
  std::vector<std::byte> b(8 + header.size() + data_bytes, std::byte{0});
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

auto parse(const std::string& header, std::size_t data_bytes = 0) {
  return [=] { SafetensorsFile::from_bytes(make_file(header, data_bytes), "bad.safetensors"); };
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("mnv4_st_" + std::to_string(::getpid()) + "_" + name);
}

TEST(Safetensors, WriteThenRead) {
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f}, b{42.0f};
  const std::vector<io::TensorView> views{{"weight", {2, 3}, a}, {"b\"quoted\\name", {}, b}};
  const auto path = temp_file("rt.safetensors");
  io::write_safetensors(path, views, {{"format", "pt"}});
  const auto f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.at("weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.at("weight").dtype, DType::kF32);
  EXPECT_EQ(f.to_float(f.at("weight")), a);
  EXPECT_EQ(f.at("b\"quoted\\name").shape.size(), 0u);
  EXPECT_EQ(f.to_float(f.at("b\"quoted\\name")), b);
  ASSERT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.metadata()[0].second, "pt");
  EXPECT_EQ(f.find("absent"), nullptr);
  EXPECT_THAT([&] { (void)f.at("absent"); }, ThrowsMessage<Error>(HasSubstr("no tensor 'absent'")));
  std::filesystem::remove(path);
}

TEST(Safetensors, HalfAndBfloat16Conversion) {
  // F16: 1.0, -2.0, smallest subnormal, largest normal, +inf, -0.0; BF16: 1.0, -3.0, nan
  const uint16_t f16[] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x8000};
  const uint16_t bf16[] = {0x3F80, 0xC040, 0x7FC0};
  std::string header = R"({"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]}})";
  auto bytes = make_file(header, 18);
  std::memcpy(bytes.data() + 8 + header.size(), f16, 12);
  std::memcpy(bytes.data() + 8 + header.size() + 12, bf16, 6);
  const auto f = SafetensorsFile::from_bytes(bytes);
  const auto h = f.to_float(f.at("h"));
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_TRUE(std::isinf(h[4]) && h[4] > 0);
  EXPECT_TRUE(h[5] == 0.0f && std::signbit(h[5]));
  const auto b = f.to_float(f.at("b"));
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -3.0f);
  EXPECT_TRUE(std::isnan(b[2]));
}

TEST(Safetensors, I64IsReadableAsBytesButNotAsFloat) {
  const std::string header = R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})";
  auto bytes = make_file(header, 8);
  const int64_t v = 1234;
  std::memcpy(bytes.data() + 8 + header.size(), &v, 8);
  const auto f = SafetensorsFile::from_bytes(bytes, "x.safetensors");
  int64_t got = 0;
  std::memcpy(&got, f.at("n").bytes.data(), 8);
  EXPECT_EQ(got, 1234);
  EXPECT_THAT([&] { (void)f.to_float(f.at("n")); }, ThrowsMessage<Error>(AllOf(HasSubstr("x.safetensors"), HasSubstr("'n' is I64"))));
}

TEST(Safetensors, EmptyAndShortFiles) {
  EXPECT_THAT([] { SafetensorsFile::from_bytes({}, "empty.safetensors"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("empty.safetensors"), HasSubstr("0 bytes, expected at least 8"))));
  const auto path = temp_file("empty.safetensors");
  { std::ofstream touch(path); }
  EXPECT_THAT([&] { SafetensorsFile::open(path); }, ThrowsMessage<Error>(HasSubstr("0 bytes, expected at least 8")));
  std::filesystem::remove(path);
  EXPECT_THAT([] { SafetensorsFile::open("/nonexistent/x.safetensors"); },
              ThrowsMessage<Error>(AllOf(HasSubstr("/nonexistent/x.safetensors"), HasSubstr("cannot open"))));
  EXPECT_THAT([] { SafetensorsFile::open("/tmp"); }, ThrowsMessage<Error>(HasSubstr("not a regular file")));
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  EXPECT_THAT([] { SafetensorsFile::from_bytes(make_file("{}", 0, 100), "t.safetensors"); },
              ThrowsMessage<Error>(HasSubstr("header length 100 exceeds the 2 bytes that follow it")));
  EXPECT_THAT([] { SafetensorsFile::from_bytes(make_file("{}", 0, uint64_t{1} << 63), "t.safetensors"); },
              ThrowsMessage<Error>(HasSubstr("header length 9223372036854775808 exceeds")));
}

TEST(Safetensors, MalformedJson) {
  EXPECT_THAT(parse("{\"a\":"), ThrowsMessage<Error>(HasSubstr("truncated JSON")));
  EXPECT_THAT(parse("{\"a\":{}} x"), ThrowsMessage<Error>(HasSubstr("trailing characters")));
  EXPECT_THAT(parse("[1,2]"), ThrowsMessage<Error>(HasSubstr("header is not a JSON object")));
  EXPECT_THAT(parse("{\"a\":tru}"), ThrowsMessage<Error>(HasSubstr("unexpected character 't'")));
  EXPECT_THAT(parse("{\"unterminated"), ThrowsMessage<Error>(HasSubstr("unterminated string")));
  EXPECT_THAT(parse("{\"\xff\":1}"), ThrowsMessage<Error>(HasSubstr("invalid UTF-8")));
  EXPECT_THAT(parse("{\"\\ud800\":1}"), ThrowsMessage<Error>(HasSubstr("unpaired surrogate")));
  EXPECT_THAT(parse("{\"a\":1.5}"), ThrowsMessage<Error>(HasSubstr("only non-negative integers")));
  EXPECT_THAT(parse("{\"a\":99999999999999999999999}"), ThrowsMessage<Error>(HasSubstr("integer too large")));
  EXPECT_THAT(parse(std::string(10000, '[') + std::string(10000, ']')),
              ThrowsMessage<Error>(HasSubstr("nesting deeper than 64")));
}

TEST(Safetensors, EntryFieldsAreValidated) {
  EXPECT_THAT(parse(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
              ThrowsMessage<Error>(AllOf(HasSubstr("tensor 'w'"), HasSubstr("missing \"dtype\""))));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8),
              ThrowsMessage<Error>(HasSubstr("unsupported dtype 'F64' (supported: F32, F16, BF16, I64)")));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
              ThrowsMessage<Error>(HasSubstr("negative numbers")));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
              ThrowsMessage<Error>(HasSubstr("too many elements")));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
              ThrowsMessage<Error>(HasSubstr("\"data_offsets\" must be [begin, end]")));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
              ThrowsMessage<Error>(HasSubstr("tensor 'w': appears twice")));
}

TEST(Safetensors, OffsetsAreValidated) {
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
              ThrowsMessage<Error>(HasSubstr("data_offsets [8,4] end before they begin")));
  EXPECT_THAT(parse(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 12),
              ThrowsMessage<Error>(HasSubstr("data_offsets [0,16] reach past the 12-byte data section")));
  EXPECT_THAT(parse(R"({"blocks.0.w":{"dtype":"F32","shape":[32,3,3,3],"data_offsets":[0,3000]}})", 3000),
              ThrowsMessage<Error>(AllOf(HasSubstr("bad.safetensors"), HasSubstr("tensor 'blocks.0.w'"),
                                         HasSubstr("shape [32,3,3,3] has 864 elements (3456 bytes as F32) but data_offsets span 3000 bytes"))));
  EXPECT_THAT(parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
              ThrowsMessage<Error>(HasSubstr("overlap tensor 'a'")));
  // Zero-size tensors take no bytes and never overlap.
  EXPECT_NO_THROW(parse(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4)());
}

TEST(Safetensors, TruncatedFileFromDisk) {
  const auto golden = golden_dir() / "conv_small_224" / "io.safetensors";
  MNV4_REQUIRE_GOLDEN(golden);
  std::ifstream in(golden, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  const auto path = temp_file("truncated.safetensors");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  EXPECT_THAT([&] { SafetensorsFile::open(path); }, ThrowsMessage<Error>(AllOf(HasSubstr(path.string()), HasSubstr("reach past"))));
  std::filesystem::remove(path);
}

TEST(Safetensors, ReadsTheGoldens) {
  const auto dir = golden_dir() / "conv_small_224";
  MNV4_REQUIRE_GOLDEN(dir / "io.safetensors");
  const auto io_file = SafetensorsFile::open(dir / "io.safetensors");
  EXPECT_EQ(io_file.at("input").shape, (std::vector<int64_t>{1, 3, 224, 224}));
  EXPECT_EQ(io_file.at("logits").shape, (std::vector<int64_t>{1, 1000}));
  const auto model = SafetensorsFile::open(dir / "model.safetensors");
  const io::TensorEntry& nbt = model.at("bn1.num_batches_tracked");
  EXPECT_EQ(nbt.dtype, DType::kI64);
  EXPECT_TRUE(nbt.shape.empty());
}

}  // namespace
}  // namespace mnv4::test
