// The safetensors reader and writer: round trips, dtype conversion, the goldens, and
// one test per kind of malformed file, each checking that the error names the file,
// the tensor (when there is one) and what was expected versus found.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "golden.hpp"
#include "mnv4/io/safetensors.hpp"

namespace mnv4::test {
namespace {

using io::DType;
using io::SafetensorsFile;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The bytes of a file: the header length (the real one unless `declared` is given),
// the header, then `data` followed by zeros up to `data_bytes`.
std::vector<std::byte> craft(const std::string& header, std::size_t data_bytes = 0,
                             std::optional<uint64_t> declared = std::nullopt, const std::vector<uint8_t>& data = {}) {
  const uint64_t n = declared.value_or(header.size());
  std::vector<std::byte> b(8 + header.size() + std::max(data_bytes, data.size()), std::byte{0});
  for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  std::memcpy(b.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(b.data() + 8 + header.size(), data.data(), data.size());
  return b;
}

// The message of the mnv4::Error that parsing `bytes` throws ("" and a test failure if none).
std::string error_of(std::vector<std::byte> bytes, std::string name = "bad.safetensors") {
  try {
    SafetensorsFile::from_bytes(std::move(bytes), std::move(name));
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}
std::string error_of(const std::string& header, std::size_t data_bytes = 0) {
  return error_of(craft(header, data_bytes));
}

// One F32 tensor entry for a header: "name":{"dtype":..,"shape":..,"data_offsets":..}.
std::string entry(const std::string& name, const std::string& shape, const std::string& offsets,
                  const std::string& dtype = "\"F32\"") {
  return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

// A file in the temporary directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_(std::filesystem::temp_directory_path() / ("mnv4_st_" + std::to_string(::getpid()) + "_" + name)) {}
  ~TempFile() { std::filesystem::remove(path_); }
  const std::filesystem::path& path() const { return path_; }
  void write(std::span<const std::byte> bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  std::vector<std::byte> read() const {
    std::ifstream in(path_, std::ios::binary);
    const std::vector<char> c((std::istreambuf_iterator<char>(in)), {});
    std::vector<std::byte> b(c.size());
    if (!c.empty()) std::memcpy(b.data(), c.data(), c.size());
    return b;
  }

 private:
  std::filesystem::path path_;
};

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// ---------------------------------------------------------------------------------
// Well-formed files

TEST(Safetensors, WriteThenReadRoundTrip) {
  const std::vector<float> w{1.5f, -2.0f, 3.25f, -0.0f, std::numeric_limits<float>::denorm_min(), 7.0f};
  const std::vector<float> s{42.0f}, none{};
  const std::string odd = "b\"q\\u\n\x01 \xc3\xa9\xf0\x9f\x98\x80";  // quotes, backslash, controls, é, 😀
  const std::vector<io::TensorView> views{{"weight", {2, 3}, w}, {odd, {}, s}, {"empty", {0, 4}, none}, {"a", {1}, s}};
  const TempFile file("roundtrip.safetensors");
  io::write_safetensors(file.path(), views, {{"format", "pt"}, {"note", "\"x\"\n"}});

  // Layout: header length a multiple of 8, data contiguous in name order.
  const std::vector<std::byte> raw = file.read();
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint64_t>(raw[static_cast<std::size_t>(i)]);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(raw.size(), 8 + header_len + 4 * (w.size() + 2));

  const auto f = SafetensorsFile::open(file.path());
  EXPECT_EQ(f.name(), file.path().string());
  ASSERT_EQ(f.tensors().size(), 4u);
  std::vector<std::string> names;
  for (const io::TensorEntry& e : f.tensors()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", odd, "empty", "weight"}));
  const std::byte* data = f.at("a").bytes.data();
  EXPECT_EQ(f.at(odd).bytes.data(), data + 4);
  EXPECT_EQ(f.at("weight").bytes.data(), data + 8);

  const io::TensorEntry& we = f.at("weight");
  EXPECT_EQ(we.dtype, DType::kF32);
  EXPECT_EQ(we.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(we.numel(), 6);
  const std::vector<float> back = f.to_float(we);
  ASSERT_EQ(back.size(), w.size());
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(bits_of(back[i]), bits_of(w[i])) << i;
  EXPECT_TRUE(f.at(odd).shape.empty());
  EXPECT_EQ(f.at(odd).numel(), 1);
  EXPECT_EQ(f.to_float(f.at(odd)), s);
  EXPECT_EQ(f.at("empty").shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(f.to_float(f.at("empty")).empty());
  EXPECT_EQ(f.metadata(), (std::vector<std::pair<std::string, std::string>>{{"format", "pt"}, {"note", "\"x\"\n"}}));
}

TEST(Safetensors, WriterRefusesWhatTheReaderWould) {
  const std::vector<float> v{1, 2, 3, 4};
  const TempFile file("refused.safetensors");
  const auto write = [&](std::vector<io::TensorView> views) {
    try {
      io::write_safetensors(file.path(), views);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(write({{"w", {3}, v}}), AllOf(HasSubstr(file.path().string()), HasSubstr("tensor 'w': shape [3]"),
                                           HasSubstr("the 4 values given")));
  EXPECT_THAT(write({{"w", {-2, -2}, v}}), HasSubstr("shape [-2,-2] does not describe"));
  EXPECT_THAT(write({{"w", {4}, v}, {"w", {2, 2}, v}}), HasSubstr("tensor 'w' given twice"));
  EXPECT_THAT(write({{"__metadata__", {4}, v}}), HasSubstr("'__metadata__' is reserved"));
  EXPECT_THAT(write({{"bad\xff", {4}, v}}), HasSubstr("not valid UTF-8"));
}

TEST(Safetensors, EscapesAndUnicodeInNames) {
  // \u escapes (BMP and a surrogate pair), short escapes and raw UTF-8 all decode to UTF-8.
  const std::string header = "{" + entry(R"(caf\u00e9 \ud83d\ude00 \/\t\"\\)", "[]", "[0,4]") + "," +
                             entry("na\xc3\xafve", "[]", "[4,8]") + "}";
  const auto f = SafetensorsFile::from_bytes(craft(header, 8));
  EXPECT_NE(f.find("caf\xc3\xa9 \xf0\x9f\x98\x80 /\t\"\\"), nullptr);
  EXPECT_NE(f.find("na\xc3\xafve"), nullptr);
}

TEST(Safetensors, HalfConversionIsExact) {
  const std::vector<uint16_t> f16{0x3C00, 0xC000, 0x3555, 0x0001, 0x8001, 0x03FF, 0x0400,
                                  0x7BFF, 0x7C00, 0xFC00, 0x8000, 0x0000, 0x7E00};
  std::vector<uint8_t> data(f16.size() * 2);
  std::memcpy(data.data(), f16.data(), data.size());
  const auto f = SafetensorsFile::from_bytes(craft("{" + entry("h", "[13]", "[0,26]", "\"F16\"") + "}", 0, {}, data));
  EXPECT_EQ(f.at("h").dtype, DType::kF16);
  const std::vector<float> h = f.to_float(f.at("h"));
  ASSERT_EQ(h.size(), 13u);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.333251953125f);                 // 0x3555: 1365/4096
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));           // smallest subnormal
  EXPECT_EQ(h[4], -std::ldexp(1.0f, -24));          // negative subnormal
  EXPECT_EQ(h[5], std::ldexp(1023.0f, -24));        // largest subnormal
  EXPECT_EQ(h[6], std::ldexp(1.0f, -14));           // smallest normal
  EXPECT_EQ(h[7], 65504.0f);                        // largest finite
  EXPECT_EQ(h[8], std::numeric_limits<float>::infinity());
  EXPECT_EQ(h[9], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bits_of(h[10]), 0x80000000u);           // negative zero keeps its sign
  EXPECT_EQ(bits_of(h[11]), 0u);
  EXPECT_TRUE(std::isnan(h[12]));
}

TEST(Safetensors, Bfloat16ConversionIsExact) {
  const std::vector<uint16_t> bf16{0x3F80, 0xC040, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7F7F, 0x7FC0};
  std::vector<uint8_t> data(bf16.size() * 2);
  std::memcpy(data.data(), bf16.data(), data.size());
  const auto f = SafetensorsFile::from_bytes(craft("{" + entry("b", "[2,4]", "[0,16]", "\"BF16\"") + "}", 0, {}, data));
  const std::vector<float> b = f.to_float(f.at("b"));
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -3.0f);
  EXPECT_EQ(b[2], std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(bits_of(b[3]), 0x80000000u);    // negative zero
  EXPECT_EQ(b[4], std::numeric_limits<float>::infinity());
  EXPECT_EQ(b[5], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(bits_of(b[6]), 0x7F7F0000u);    // largest finite
  EXPECT_TRUE(std::isnan(b[7]));
}

TEST(Safetensors, I64ScalarIsReadableAsBytesButNotAsFloat) {
  const std::vector<uint8_t> data{0xD2, 0x04, 0, 0, 0, 0, 0, 0};  // 1234, little-endian
  const auto f = SafetensorsFile::from_bytes(
      craft("{" + entry("bn.num_batches_tracked", "[]", "[0,8]", "\"I64\"") + "}", 0, {}, data), "x.safetensors");
  const io::TensorEntry& e = f.at("bn.num_batches_tracked");
  EXPECT_EQ(e.dtype, DType::kI64);
  EXPECT_EQ(io::dtype_name(e.dtype), "I64");
  EXPECT_EQ(io::dtype_size(e.dtype), 8u);
  EXPECT_TRUE(e.shape.empty());
  EXPECT_EQ(e.numel(), 1);
  ASSERT_EQ(e.bytes.size(), 8u);
  int64_t v = 0;
  std::memcpy(&v, e.bytes.data(), 8);
  EXPECT_EQ(v, 1234);
  try {
    (void)f.to_float(e);
    ADD_FAILURE() << "no error";
  } catch (const Error& err) {
    EXPECT_THAT(err.what(), AllOf(HasSubstr("x.safetensors"), HasSubstr("'bn.num_batches_tracked' is I64"),
                                  HasSubstr("expected a floating-point tensor")));
  }
}

TEST(Safetensors, DtypeNamesAndSizes) {
  EXPECT_EQ(io::dtype_name(DType::kF32), "F32");
  EXPECT_EQ(io::dtype_name(DType::kF16), "F16");
  EXPECT_EQ(io::dtype_name(DType::kBF16), "BF16");
  EXPECT_EQ(io::dtype_size(DType::kF32), 4u);
  EXPECT_EQ(io::dtype_size(DType::kF16), 2u);
  EXPECT_EQ(io::dtype_size(DType::kBF16), 2u);
}

TEST(Safetensors, Metadata) {
  const auto f = SafetensorsFile::from_bytes(
      craft(R"({"__metadata__":{"format":"pt","z":"caf\u00e9","a":""}}         )"));  // trailing space padding
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.metadata(), (std::vector<std::pair<std::string, std::string>>{
                              {"format", "pt"}, {"z", "caf\xc3\xa9"}, {"a", ""}}));  // file order
  EXPECT_TRUE(SafetensorsFile::from_bytes(craft("{}")).metadata().empty());
}

TEST(Safetensors, FindAndAt) {
  const auto f = SafetensorsFile::from_bytes(
      craft("{" + entry("b", "[1]", "[4,8]") + "," + entry("a", "[1]", "[0,4]") + "}", 8), "m.safetensors");
  EXPECT_EQ(f.name(), "m.safetensors");
  ASSERT_NE(f.find("a"), nullptr);
  EXPECT_EQ(f.find("a")->name, "a");
  EXPECT_EQ(f.find("c"), nullptr);
  EXPECT_EQ(f.find(""), nullptr);
  try {
    (void)f.at("c");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "m.safetensors: no tensor 'c'");
  }
  EXPECT_EQ(SafetensorsFile::from_bytes(craft("{}")).name(), "<memory>");
}

TEST(Safetensors, MovingKeepsTensorBytesValid) {
  const std::vector<float> v{1, 2, 3};
  const TempFile file("move.safetensors");
  io::write_safetensors(file.path(), std::vector<io::TensorView>{{"v", {3}, v}});
  SafetensorsFile mapped = SafetensorsFile::open(file.path());
  SafetensorsFile in_memory = SafetensorsFile::from_bytes(file.read());
  const SafetensorsFile a = std::move(mapped);
  SafetensorsFile b = SafetensorsFile::from_bytes(craft("{}"));
  b = std::move(in_memory);
  EXPECT_EQ(a.to_float(a.at("v")), v);
  EXPECT_EQ(b.to_float(b.at("v")), v);
}

TEST(Safetensors, ZeroSizeTensorsNeverOverlap) {
  const auto f = SafetensorsFile::from_bytes(craft(
      "{" + entry("a", "[0]", "[0,0]") + "," + entry("b", "[1]", "[0,4]") + "," + entry("c", "[3,0]", "[2,2]") + "," +
          entry("d", "[0]", "[4,4]") + "}",
      4));
  EXPECT_EQ(f.tensors().size(), 4u);
}

TEST(Safetensors, UnknownEntryFieldsAreIgnored) {
  const auto f = SafetensorsFile::from_bytes(
      craft(R"({"w":{"extra":[[1.5,-2e3,{"x":"y"}]],"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4));
  EXPECT_EQ(f.at("w").shape, (std::vector<int64_t>{1}));
}

// ---------------------------------------------------------------------------------
// Malformed files: one test per kind

TEST(SafetensorsMalformed, ShorterThanEightBytes) {
  EXPECT_THAT(error_of(std::vector<std::byte>(5), "short.safetensors"),
              AllOf(StartsWith("short.safetensors: "), HasSubstr("5 bytes, expected at least 8")));
  EXPECT_THAT(error_of(std::vector<std::byte>{}, "empty.safetensors"),
              AllOf(StartsWith("empty.safetensors: "), HasSubstr("0 bytes, expected at least 8")));
  const TempFile file("empty.safetensors");
  file.write({});
  try {
    SafetensorsFile::open(file.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith(file.path().string() + ": "), HasSubstr("0 bytes, expected at least 8")));
  }
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  EXPECT_THAT(error_of(craft("{}", 0, 100)),
              AllOf(StartsWith("bad.safetensors: "), HasSubstr("header length 100 exceeds the 2 bytes that follow it")));
  EXPECT_THAT(error_of(craft("{}", 6, 9)), HasSubstr("header length 9 exceeds the 8 bytes that follow it"));
}

TEST(SafetensorsMalformed, HugeHeaderLengthDoesNotOverflowOrAllocate) {
  EXPECT_THAT(error_of(craft("{}", 0, uint64_t{1} << 63)),
              HasSubstr("header length 9223372036854775808 exceeds the 2 bytes"));
  EXPECT_THAT(error_of(craft("{}", 0, std::numeric_limits<uint64_t>::max())),
              HasSubstr("header length 18446744073709551615 exceeds the 2 bytes"));
  EXPECT_THAT(error_of(std::vector<std::byte>(8, std::byte{0xFF})), HasSubstr("exceeds the 0 bytes"));
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  EXPECT_THAT(error_of("hello"), AllOf(StartsWith("bad.safetensors: malformed safetensors header (JSON): "),
                                       HasSubstr("unexpected 'h'"), HasSubstr("at byte 0 of 5")));
  EXPECT_THAT(error_of(""), HasSubstr("truncated JSON"));
  EXPECT_THAT(error_of("{\"w\":true}"), HasSubstr("unexpected 't' (expected an object, array, string or number)"));
  EXPECT_THAT(error_of("{\"w\":null}"), HasSubstr("unexpected 'n'"));
  EXPECT_THAT(error_of(std::string("{\"w\":\0}", 7)), HasSubstr("unexpected byte 0x00"));
  EXPECT_THAT(error_of("{w:1}"), HasSubstr("expected a string key, found 'w'"));
  EXPECT_THAT(error_of("{\"a\" 1}"), HasSubstr("expected ':', found '1'"));
  EXPECT_THAT(error_of("{\"a\":[1 2]}"), HasSubstr("expected ',' or ']' in array, found '2'"));
  EXPECT_THAT(error_of("{\"a\":{},}"), HasSubstr("expected a string key, found '}'"));
  EXPECT_THAT(error_of("{\"a\":[1,]}"), HasSubstr("unexpected ']'"));
}

TEST(SafetensorsMalformed, MalformedNumbers) {
  EXPECT_THAT(error_of("{\"a\":[01]}"), HasSubstr("leading zero"));
  EXPECT_THAT(error_of("{\"a\":[1.]}"), HasSubstr("expected digits after '.'"));
  EXPECT_THAT(error_of("{\"a\":[-]}"), HasSubstr("expected digits after '-'"));
  EXPECT_THAT(error_of("{\"a\":[1e+]}"), HasSubstr("expected digits in exponent"));
  EXPECT_THAT(error_of("{\"a\":[+1]}"), HasSubstr("unexpected '+'"));
}

TEST(SafetensorsMalformed, HeaderTruncated) {
  const std::string full = "{" + entry("w", "[1]", "[0,4]") + "}";
  for (std::size_t n = 1; n < full.size(); ++n)
    EXPECT_THAT(error_of(full.substr(0, n), 4), AllOf(StartsWith("bad.safetensors: malformed safetensors header"),
                                                      AnyOf(HasSubstr("truncated JSON"), HasSubstr("unterminated"))))
        << n;
}

TEST(SafetensorsMalformed, TrailingGarbage) {
  EXPECT_THAT(error_of("{} x"), AllOf(HasSubstr("unexpected trailing characters"), HasSubstr("at byte 3 of 4")));
  EXPECT_THAT(error_of("{}{}"), HasSubstr("unexpected trailing characters"));
  EXPECT_THAT(error_of(std::string("{}\0", 3)), HasSubstr("unexpected trailing characters"));
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  EXPECT_THAT(error_of("[1,2]"), AllOf(StartsWith("bad.safetensors: "),
                                       HasSubstr("header must be a JSON object of tensors, found [1,2]")));
  EXPECT_THAT(error_of("\"w\""), HasSubstr("found \"w\""));
  EXPECT_THAT(error_of("  7 "), HasSubstr("found 7"));
}

TEST(SafetensorsMalformed, InvalidUtf8) {
  for (const std::string bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
                                "\xe2\x82"}) {
    EXPECT_THAT(error_of("{\"w" + bad + "\":{}}"), AllOf(StartsWith("bad.safetensors: malformed safetensors header"),
                                                         HasSubstr("invalid UTF-8"), HasSubstr("at byte 3")))
        << testing::PrintToString(bad);
  }
  // Outside strings only ASCII is allowed at all.
  EXPECT_THAT(error_of("{\"a\":\xc3\xa9}"), HasSubstr("unexpected byte 0xC3"));
}

TEST(SafetensorsMalformed, BadStringEscapes) {
  EXPECT_THAT(error_of(R"({"\ud800":1})"), HasSubstr("unpaired surrogate (high"));
  EXPECT_THAT(error_of(R"({"\ud800\u0041":1})"), HasSubstr("unpaired surrogate (high"));
  EXPECT_THAT(error_of(R"({"\udc00":1})"), HasSubstr("unpaired surrogate (low"));
  EXPECT_THAT(error_of(R"({"\u12g4":1})"), HasSubstr("expected a hex digit in \\u escape, found 'g'"));
  EXPECT_THAT(error_of(R"({"\u12)"), HasSubstr("truncated \\u escape"));
  EXPECT_THAT(error_of(R"({"\x":1})"), HasSubstr("unknown escape: 'x'"));
  EXPECT_THAT(error_of("{\"a\tb\":1}"), HasSubstr("unescaped control character byte 0x09"));
  EXPECT_THAT(error_of("{\"abc\\"), HasSubstr("unterminated escape"));
}

TEST(SafetensorsMalformed, DeepNestingIsAnErrorNotAStackOverflow) {
  const auto nested = [](int n) { return "{\"x\":{\"y\":" + std::string(n, '[') + std::string(n, ']') + "}}"; };
  EXPECT_THAT(error_of(nested(60)), HasSubstr("tensor 'x': missing \"dtype\""));  // parsed fine
  EXPECT_THAT(error_of(nested(70)), HasSubstr("nesting deeper than 64 levels"));
  EXPECT_THAT(error_of(std::string(1'000'000, '[')), HasSubstr("nesting deeper than 64 levels"));
  EXPECT_THAT(error_of(std::string(100'000, '{')), HasSubstr("expected a string key"));
}

TEST(SafetensorsMalformed, DuplicateTensorNames) {
  EXPECT_THAT(error_of("{" + entry("w", "[1]", "[0,4]") + "," + entry("v", "[1]", "[8,12]") + "," +
                       entry("w", "[1]", "[4,8]") + "}", 12),
              AllOf(StartsWith("bad.safetensors: "), HasSubstr("tensor 'w': appears twice in the header")));
  // Names compare after unescaping.
  EXPECT_THAT(error_of("{" + entry("w", "[1]", "[0,4]") + "," + entry("\\u0077", "[1]", "[4,8]") + "}", 8),
              HasSubstr("tensor 'w': appears twice"));
}

TEST(SafetensorsMalformed, DuplicateFieldsInAnEntry) {
  EXPECT_THAT(error_of(R"({"w":{"dtype":"F32","shape":[1],"dtype":"F16","data_offsets":[0,4]}})", 4),
              HasSubstr("tensor 'w': \"dtype\" appears twice"));
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  EXPECT_THAT(error_of(R"({"w":[0,4]})"),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                    HasSubstr("entry must be an object with \"dtype\", \"shape\" and \"data_offsets\", found [0,4]")));
}

TEST(SafetensorsMalformed, MissingDtype) {
  EXPECT_THAT(error_of(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "), HasSubstr("missing \"dtype\"")));
}

TEST(SafetensorsMalformed, MissingShape) {
  EXPECT_THAT(error_of(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "), HasSubstr("missing \"shape\"")));
}

TEST(SafetensorsMalformed, MissingDataOffsets) {
  EXPECT_THAT(error_of(R"({"w":{"dtype":"F32","shape":[1]}})", 4),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "), HasSubstr("missing \"data_offsets\"")));
}

TEST(SafetensorsMalformed, UnknownDtype) {
  EXPECT_THAT(error_of("{" + entry("conv.weight", "[1]", "[0,8]", "\"F64\"") + "}", 8),
              AllOf(StartsWith("bad.safetensors: tensor 'conv.weight': "),
                    HasSubstr("unsupported dtype 'F64' (supported: F32, F16, BF16, I64)")));
  EXPECT_THAT(error_of("{" + entry("w", "[1]", "[0,4]", "\"f32\"") + "}", 4), HasSubstr("unsupported dtype 'f32'"));
  EXPECT_THAT(error_of("{" + entry("w", "[1]", "[0,4]", "32") + "}", 4),
              HasSubstr("tensor 'w': \"dtype\" must be a string, found 32"));
}

TEST(SafetensorsMalformed, NegativeShapeDimension) {
  EXPECT_THAT(error_of("{" + entry("w", "[2,-1]", "[0,8]") + "}", 8),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                    HasSubstr("shape [2,-1] has dimension -1; expected a non-negative integer")));
}

TEST(SafetensorsMalformed, NonIntegerShapeDimension) {
  for (const std::string dim : {"2.5", "1e3", "2.0", "\"3\"", "[2]", "{}"})
    EXPECT_THAT(error_of("{" + entry("w", "[" + dim + "]", "[0,4]") + "}", 4),
                AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                      HasSubstr("has dimension " + dim +
                                "; expected a non-negative integer")))
        << dim;
  EXPECT_THAT(error_of("{" + entry("w", "7", "[0,4]") + "}", 4),
              HasSubstr("tensor 'w': \"shape\" must be an array of non-negative integers, found 7"));
}

TEST(SafetensorsMalformed, ShapeProductOverflow) {
  EXPECT_THAT(error_of("{" + entry("w", "[4294967296,4294967296]", "[0,4]") + "}", 4),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                    HasSubstr("shape [4294967296,4294967296] has more than 9223372036854775807 elements")));
  EXPECT_THAT(error_of("{" + entry("w", "[9223372036854775808]", "[0,4]") + "}", 4), HasSubstr("has more than"));
  EXPECT_THAT(error_of("{" + entry("w", "[99999999999999999999999]", "[0,4]") + "}", 4), HasSubstr("has more than"));
  // A zero dimension makes any product zero, however large the others.
  EXPECT_NO_THROW(SafetensorsFile::from_bytes(craft("{" + entry("w", "[0,9223372036854775807,4]", "[0,0]") + "}")));
}

TEST(SafetensorsMalformed, DataOffsetsNotAPair) {
  for (const std::string off : {"[0]", "[0,4,8]", "[]", "\"0,4\"", "[0,-4]", "[0.0,4]", "[0,18446744073709551616]"})
    EXPECT_THAT(error_of("{" + entry("w", "[1]", off) + "}", 4),
                AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                      HasSubstr("\"data_offsets\" must be [begin, end] (two non-negative integers), found " + off)))
        << off;
}

TEST(SafetensorsMalformed, DataOffsetsEndBeforeBegin) {
  EXPECT_THAT(error_of("{" + entry("w", "[1]", "[8,4]") + "}", 8),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                    HasSubstr("data_offsets [8,4] end before they begin (expected begin <= end)")));
}

TEST(SafetensorsMalformed, DataOffsetsPastTheDataSection) {
  EXPECT_THAT(error_of("{" + entry("w", "[4]", "[0,16]") + "}", 12),
              AllOf(StartsWith("bad.safetensors: tensor 'w': "),
                    HasSubstr("data_offsets [0,16] reach past the end of the 12-byte data section")));
  EXPECT_THAT(error_of("{" + entry("w", "[0]", "[18446744073709551615,18446744073709551615]") + "}", 12),
              HasSubstr("reach past the end of the 12-byte data section"));
}

TEST(SafetensorsMalformed, ByteCountDoesNotMatchShape) {
  EXPECT_THAT(error_of(craft("{" + entry("blocks.0.0.conv.weight", "[32,3,3,3]", "[0,3000]") + "}", 3000),
                       "model.safetensors"),
              HasSubstr("model.safetensors: tensor 'blocks.0.0.conv.weight': shape [32,3,3,3] has 864 elements "
                        "(3456 bytes as F32) but data_offsets span 3000 bytes"));
  EXPECT_THAT(error_of("{" + entry("h", "[3]", "[0,8]", "\"F16\"") + "}", 8),
              HasSubstr("tensor 'h': shape [3] has 3 elements (6 bytes as F16) but data_offsets span 8 bytes"));
  EXPECT_THAT(error_of("{" + entry("n", "[]", "[0,4]", "\"I64\"") + "}", 4),
              HasSubstr("tensor 'n': shape [] has 1 elements (8 bytes as I64) but data_offsets span 4 bytes"));
  EXPECT_THAT(error_of("{" + entry("n", "[4611686018427387904]", "[0,8]", "\"I64\"") + "}", 8),
              HasSubstr("(more than 2^64 bytes as I64) but data_offsets span 8 bytes"));
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  EXPECT_THAT(error_of("{" + entry("a", "[2]", "[0,8]") + "," + entry("b", "[2]", "[4,12]") + "}", 12),
              AllOf(StartsWith("bad.safetensors: tensor 'b': "), HasSubstr("data_offsets [4,12) overlap tensor 'a' [0,8)")));
  // Identical ranges, and one range inside another, also overlap.
  EXPECT_THAT(error_of("{" + entry("a", "[1]", "[0,4]") + "," + entry("b", "[1]", "[0,4]") + "}", 4),
              HasSubstr("overlap tensor '"));
  EXPECT_THAT(error_of("{" + entry("big", "[4]", "[0,16]") + "," + entry("z", "[1]", "[4,8]") + "," +
                       entry("y", "[1]", "[12,16]") + "}", 16),
              HasSubstr("overlap tensor 'big' [0,16)"));
}

TEST(SafetensorsMalformed, MetadataNotAStringMap) {
  EXPECT_THAT(error_of(R"({"__metadata__":{"epochs":3}})"),
              AllOf(StartsWith("bad.safetensors: "), HasSubstr("\"__metadata__\" entry 'epochs' must be a string, found 3")));
  EXPECT_THAT(error_of(R"({"__metadata__":["a"]})"),
              HasSubstr("\"__metadata__\" must be an object of strings, found [\"a\"]"));
  EXPECT_THAT(error_of(R"({"__metadata__":{"k":"a","k":"b"}})"), HasSubstr("\"__metadata__\" key 'k' appears twice"));
  EXPECT_THAT(error_of(R"({"__metadata__":{},"__metadata__":{}})"), HasSubstr("\"__metadata__\" appears twice"));
}

TEST(SafetensorsMalformed, OpenNamesThePathOfABadFile) {
  const TempFile file("bad_dtype.safetensors");
  file.write(craft("{" + entry("w", "[1]", "[0,4]", "\"Q4\"") + "}", 4));
  try {
    SafetensorsFile::open(file.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith(file.path().string() + ": tensor 'w': "), HasSubstr("unsupported dtype 'Q4'")));
  }
}

TEST(SafetensorsMalformed, TruncatedFileOnDisk) {
  const std::vector<float> v(64, 1.0f);
  const TempFile file("truncated.safetensors");
  io::write_safetensors(file.path(), std::vector<io::TensorView>{{"a", {64}, v}, {"b", {8, 8}, v}});
  std::vector<std::byte> bytes = file.read();
  bytes.resize(bytes.size() - 1);
  file.write(bytes);
  try {
    SafetensorsFile::open(file.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith(file.path().string() + ": tensor 'b': "),
                                HasSubstr("data_offsets [256,512] reach past the end of the 511-byte data section")));
  }
  bytes.resize(20);
  file.write(bytes);
  EXPECT_THROW(SafetensorsFile::open(file.path()), Error);
}

TEST(SafetensorsMalformed, OpenErrors) {
  try {
    SafetensorsFile::open("/nonexistent/x.safetensors");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), AllOf(StartsWith("/nonexistent/x.safetensors: "), HasSubstr("cannot open")));
  }
  EXPECT_THROW(SafetensorsFile::open(std::filesystem::temp_directory_path()), Error);  // not a regular file
}

TEST(SafetensorsMalformed, HandMadeEntryIsCheckedBeforeConversion) {
  const auto f = SafetensorsFile::from_bytes(craft("{}", 8), "f.safetensors");
  const std::vector<std::byte> four(4);
  const io::TensorEntry e{"fake", DType::kF32, {2}, four};
  EXPECT_THROW((void)f.to_float(e), Error);
}

// Checks on many keys are not quadratic: a hostile header must not make parsing hang.
TEST(SafetensorsMalformed, ManyKeysWithADuplicateAtTheEnd) {
  std::string meta = "{\"__metadata__\":{";
  for (int i = 0; i < 100'000; ++i) meta += "\"k" + std::to_string(i) + "\":\"\",";
  EXPECT_THAT(error_of(meta + "\"k0\":\"\"}}"), HasSubstr("\"__metadata__\" key 'k0' appears twice"));
  std::string tensors = "{";
  for (int i = 0; i < 50'000; ++i) tensors += entry("t" + std::to_string(i), "[0]", "[0,0]") + ",";
  EXPECT_THAT(error_of(tensors + entry("t0", "[0]", "[0,0]") + "}"), HasSubstr("tensor 't0': appears twice"));
}

// Every prefix of a valid file and every single-byte change of its header either
// parses or throws mnv4::Error; under ASan this also shows nothing is read out of bounds.
TEST(SafetensorsMalformed, NoCrashOnAnyTruncationOrByteChange) {
  const std::string header = "{\"__metadata__\":{\"k\":\"v\\u00e9\"}," + entry("a", "[2]", "[0,8]") + "," +
                             entry("h", "[2,1]", "[8,12]", "\"F16\"") + "," + entry("n", "[]", "[16,24]", "\"I64\"") + "}";
  const std::vector<std::byte> good = craft(header, 24);
  EXPECT_NO_THROW(SafetensorsFile::from_bytes(good));
  int errors = 0;
  const auto attempt = [&](std::vector<std::byte> bytes) {
    try {
      const auto f = SafetensorsFile::from_bytes(std::move(bytes));
      for (const io::TensorEntry& e : f.tensors())
        if (e.dtype != DType::kI64) (void)f.to_float(e);
    } catch (const Error&) {
      ++errors;
    }
  };
  for (std::size_t n = 0; n < good.size(); ++n) attempt(std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
  for (std::size_t i = 0; i < 8 + header.size(); ++i)
    for (const uint8_t b : {0x00, 0x01, 0x22, 0x2C, 0x30, 0x39, 0x5B, 0x5C, 0x5D, 0x7B, 0x7D, 0x80, 0xC3, 0xFF}) {
      std::vector<std::byte> bad = good;
      bad[i] = std::byte{b};
      attempt(std::move(bad));
    }
  EXPECT_GT(errors, 0);
}

// ---------------------------------------------------------------------------------
// The goldens, written by timm's tooling

TEST(Safetensors, ReadsTheGoldens) {
  const auto dir = golden_dir() / "conv_small_224";
  MNV4_REQUIRE_GOLDEN(dir / "io.safetensors");
  MNV4_REQUIRE_GOLDEN(dir / "model.safetensors");
  const auto io_file = SafetensorsFile::open(dir / "io.safetensors");
  const io::TensorEntry& input = io_file.at("input");
  EXPECT_EQ(input.dtype, DType::kF32);
  EXPECT_EQ(input.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  const std::vector<float> pixels = io_file.to_float(input);
  ASSERT_EQ(pixels.size(), 3u * 224 * 224);
  EXPECT_TRUE(std::all_of(pixels.begin(), pixels.end(), [](float x) { return std::isfinite(x); }));
  const io::TensorEntry& logits = io_file.at("logits");
  EXPECT_EQ(logits.dtype, DType::kF32);
  EXPECT_EQ(logits.shape, (std::vector<int64_t>{1, 1000}));

  const auto model = SafetensorsFile::open(dir / "model.safetensors");
  int counters = 0;
  for (const io::TensorEntry& e : model.tensors()) {
    if (!e.name.ends_with(".num_batches_tracked") && e.name != "num_batches_tracked") continue;
    ++counters;
    EXPECT_EQ(e.dtype, DType::kI64) << e.name;
    EXPECT_TRUE(e.shape.empty()) << e.name;
    EXPECT_EQ(e.bytes.size(), 8u) << e.name;
  }
  EXPECT_GT(counters, 0);
  EXPECT_EQ(model.at("bn1.num_batches_tracked").dtype, DType::kI64);
}

}  // namespace
}  // namespace mnv4::test
