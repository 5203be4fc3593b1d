#pragma once
// safetensors reader and writer: the format of timm's checkpoints on the hub.
//
// File: u64 little-endian header length N, N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<value>"}}
// then the data section; offsets are relative to its start.
//
// The reader memory-maps the file and validates everything before any tensor is
// handed out: the header is parsed by a small strict JSON parser (bounded depth,
// never reads past the header), every tensor's bytes must lie inside the data
// section, match its shape and dtype, and not overlap another tensor. Every error
// names the file, the tensor when there is one, and what was expected versus found.
#include "mnv4/config.hpp"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mnv4/core/error.hpp"
#include "mnv4/core/tensor.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::io {

enum class DType { kF32, kF16, kBF16, kI64 };

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
  }
  return "?";
}

constexpr std::size_t dtype_size(DType t) {
  return t == DType::kF32 ? 4 : t == DType::kI64 ? 8 : 2;
}

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;        // [] for a scalar
  std::span<const std::byte> bytes;  // little-endian, inside the file's mapping
  int64_t numel() const { return shape_numel(shape); }
};

namespace detail {

// Headers larger than this are refused before parsing (the same bound the reference
// implementation uses; real checkpoints have headers of kilobytes). It also bounds
// the memory the parsed JSON tree can take.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Product of the dimensions, or nullopt if one is negative or the product overflows int64.
inline std::optional<int64_t> checked_numel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0 || (d != 0 && n > std::numeric_limits<int64_t>::max() / d)) return std::nullopt;
    n *= d;
  }
  return n;
}

// Length (1-4) of the well-formed UTF-8 sequence at s[pos], or 0 if there is none:
// truncated sequences, overlong forms, surrogates and code points past U+10FFFF are invalid.
inline std::size_t utf8_length(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const std::size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || s.size() - pos < len) return 0;
  uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

inline bool valid_utf8(std::string_view s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t n = utf8_length(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

// A JSON value, as far as safetensors headers need: objects, arrays, strings and
// numbers (true, false and null are errors). Numbers keep their literal so that a
// negative or fractional shape dimension is reported by the header check, which
// knows the tensor, rather than by the parser, which does not.
struct Json {
  enum class Kind { kObject, kArray, kString, kNumber } kind = Kind::kNumber;
  std::string text;               // kString: the decoded string; kNumber: the literal as written
  bool is_uint = false;           // kNumber: a non-negative integer that fits in uint64_t ...
  uint64_t uint = 0;              // ... with this value
  std::vector<Json> items;        // kArray's elements, or kObject's values
  std::vector<std::string> keys;  // kObject's keys in file order (items holds the values)
};

// A short rendering of a value for "found ..." in error messages. Nested arrays and
// objects are elided so the text stays short whatever the input.
inline std::string describe(const Json& v, bool nested = false) {
  constexpr std::size_t kMaxChars = 60, kMaxItems = 16;
  const auto clip = [](std::string s) { return s.size() > kMaxChars ? s.substr(0, kMaxChars) + "..." : s; };
  switch (v.kind) {
    case Json::Kind::kNumber: return clip(v.text);
    case Json::Kind::kString: return "\"" + clip(v.text) + "\"";
    case Json::Kind::kObject: return v.keys.empty() ? "{}" : "{...}";
    case Json::Kind::kArray: break;
  }
  if (nested) return v.items.empty() ? "[]" : "[...]";
  std::string s = "[";
  for (std::size_t i = 0; i < v.items.size() && i < kMaxItems; ++i) s += (i != 0 ? "," : "") + describe(v.items[i], true);
  return s + (v.items.size() > kMaxItems ? ",...]" : "]");
}

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  Json parse_document() {
    Json v = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) error("unexpected trailing characters after the top-level value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void error(std::string_view what) const {
    mnv4::detail::fail(file_, ": malformed safetensors header (JSON): ", what, " at byte ", pos_, " of ", s_.size());
  }

  // The character at pos_ as text for a message: 'x', or its code if unprintable.
  std::string current() const {
    const auto c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", static_cast<unsigned>(c));
    return buf;
  }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  char peek() {
    skip_space();
    if (pos_ >= s_.size()) error("unexpected end of header (truncated JSON)");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "', found " + current());
    ++pos_;
  }
  bool digit_here() const { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; }

  // Recursion is bounded by kMaxDepth, so hostile nesting is an error, not a stack overflow.
  Json parse_value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than 64 levels");
    const char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') {
      Json v;
      v.kind = Json::Kind::kString;
      v.text = parse_string();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    error("unexpected " + current() + " (expected an object, array, string or number)");
  }

  Json parse_object(int depth) {
    Json v;
    v.kind = Json::Kind::kObject;
    expect('{');
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      if (peek() != '"') error("expected a string key, found " + current());
      v.keys.push_back(parse_string());
      expect(':');
      v.items.push_back(parse_value(depth + 1));
      if (peek() == '}') {
        ++pos_;
        return v;
      }
      if (s_[pos_] != ',') error("expected ',' or '}' in object, found " + current());
      ++pos_;
    }
  }

  Json parse_array(int depth) {
    Json v;
    v.kind = Json::Kind::kArray;
    expect('[');
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      v.items.push_back(parse_value(depth + 1));
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      if (s_[pos_] != ',') error("expected ',' or ']' in array, found " + current());
      ++pos_;
    }
  }

  // JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  Json parse_number() {
    Json v;
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    const std::size_t int_start = pos_;
    while (digit_here()) ++pos_;
    if (pos_ == int_start) error("expected digits after '-'");
    if (pos_ - int_start > 1 && s_[int_start] == '0') error("leading zero in a number");
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integral = false;
      if (!digit_here()) error("expected digits after '.'");
      while (digit_here()) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integral = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digit_here()) error("expected digits in exponent");
      while (digit_here()) ++pos_;
    }
    v.text = std::string(s_.substr(start, pos_ - start));
    if (integral && s_[start] != '-') {
      v.is_uint = true;
      for (const char c : v.text) {
        const auto d = static_cast<uint64_t>(c - '0');
        if (v.uint > (std::numeric_limits<uint64_t>::max() - d) / 10) {
          v.is_uint = false;  // too large: kept as a literal, refused where a count is needed
          break;
        }
        v.uint = v.uint * 10 + d;
      }
    }
    return v;
  }

  unsigned hex4() {
    if (s_.size() - pos_ < 4) error("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else error("expected a hex digit in \\u escape, found " + current());
      ++pos_;
    }
    return v;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) error("unterminated string");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) error("unescaped control character " + current() + " in string");
      if (c != '\\') {
        const std::size_t n = utf8_length(s_, pos_);
        if (n == 0) error("invalid UTF-8 (" + current() + ") in string");
        out.append(s_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (++pos_ >= s_.size()) error("unterminated escape");
      switch (s_[pos_++]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // high surrogate: a low one must follow
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              error("unpaired surrogate (high \\u escape not followed by a low one)");
            pos_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("unpaired surrogate (high \\u escape not followed by a low one)");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate (low \\u escape without a high one)");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;  // report the character after the backslash
          error("unknown escape: " + current() + " after '\\'");
      }
    }
  }

  std::string_view s_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

// Read-only memory mapping of a whole file (or nothing for an empty file, which
// mmap refuses). The descriptor is closed at once: the mapping keeps the file alive.
class Mapping {
 public:
  Mapping() = default;
  explicit Mapping(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) mnv4::detail::fail(path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      mnv4::detail::fail(path.string(), ": not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        mnv4::detail::fail(path.string(), ": cannot map: ", std::strerror(err));
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);
  }
  Mapping(Mapping&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// IEEE half to float, exact: every half (subnormals included) is a normal float.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf, or nan keeping its payload
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // ±0
  } else {        // subnormal: shift the leading 1 into the implicit bit
    uint32_t e = 113;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16 is the top half of a float.
inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace detail

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path) {
    SafetensorsFile f;
    f.name_ = path.string();
    f.mapping_ = detail::Mapping(path);
    f.parse(f.mapping_.bytes());
    return f;
  }

  // Parses bytes held in memory (tests, fuzzing, data not on disk).
  static SafetensorsFile from_bytes(std::vector<std::byte> bytes, std::string name = "<memory>") {
    SafetensorsFile f;
    f.name_ = std::move(name);
    // Held through a pointer so the entries' spans stay valid when the file is moved.
    f.owned_ = std::make_unique<std::vector<std::byte>>(std::move(bytes));
    f.parse(*f.owned_);
    return f;
  }

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;

  const std::string& name() const { return name_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

  const TensorEntry* find(std::string_view tensor) const {
    const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), tensor,
                                     [](const TensorEntry& e, std::string_view n) { return e.name < n; });
    return it != tensors_.end() && it->name == tensor ? &*it : nullptr;
  }

  const TensorEntry& at(std::string_view tensor) const {
    const TensorEntry* e = find(tensor);
    if (e == nullptr) mnv4::detail::fail(name_, ": no tensor '", tensor, "'");
    return *e;
  }

  // The tensor as float32 values; F16 and BF16 are widened exactly.
  std::vector<float> to_float(const TensorEntry& e) const {
    if (e.dtype == DType::kI64)
      mnv4::detail::fail(name_, ": tensor '", e.name, "' is I64; expected a floating-point tensor (F32, F16 or BF16)");
    // Entries from this file are consistent; this guards against hand-made ones.
    const std::optional<int64_t> numel = detail::checked_numel(e.shape);
    if (!numel || e.bytes.size() / dtype_size(e.dtype) != static_cast<uint64_t>(*numel) ||
        e.bytes.size() % dtype_size(e.dtype) != 0)
      mnv4::detail::fail(name_, ": tensor '", e.name, "': shape ", shape_string(e.shape), " does not match its ",
                         e.bytes.size(), " bytes of ", dtype_name(e.dtype));
    const auto n = static_cast<std::size_t>(*numel);
    std::vector<float> out(n);
    const std::byte* p = e.bytes.data();
    if (e.dtype == DType::kF32) {
      if (n > 0) std::memcpy(out.data(), p, n * 4);
      return out;
    }
    for (std::size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = e.dtype == DType::kF16 ? detail::half_to_float(h) : detail::bf16_to_float(h);
    }
    return out;
  }

 private:
  using Json = detail::Json;
  using Kind = Json::Kind;

  SafetensorsFile() = default;

  [[noreturn]] void fail_tensor(const std::string& tensor, const std::string& what) const {
    mnv4::detail::fail(name_, ": tensor '", tensor, "': ", what);
  }

  void parse(std::span<const std::byte> file) {
    if (file.size() < 8)
      mnv4::detail::fail(name_, ": not a safetensors file: ", file.size(), " bytes, expected at least 8 (header length)");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint64_t>(file[static_cast<std::size_t>(i)]);
    // Compared against what the file holds before anything is allocated or read.
    if (header_len > file.size() - 8)
      mnv4::detail::fail(name_, ": header length ", header_len, " exceeds the ", file.size() - 8,
                         " bytes that follow it (truncated or not a safetensors file)");
    if (header_len > detail::kMaxHeaderBytes)
      mnv4::detail::fail(name_, ": header length ", header_len, " exceeds the limit of ", detail::kMaxHeaderBytes, " bytes");
    const std::string_view header(reinterpret_cast<const char*>(file.data()) + 8, static_cast<std::size_t>(header_len));
    const std::span<const std::byte> data = file.subspan(8 + static_cast<std::size_t>(header_len));

    const Json root = detail::JsonParser(header, name_).parse_document();
    if (root.kind != Kind::kObject)
      mnv4::detail::fail(name_, ": header must be a JSON object of tensors, found ", detail::describe(root));

    bool seen_metadata = false;
    for (std::size_t i = 0; i < root.keys.size(); ++i) {
      if (root.keys[i] != "__metadata__") {
        tensors_.push_back(read_entry(root.keys[i], root.items[i], data));
        continue;
      }
      if (std::exchange(seen_metadata, true)) mnv4::detail::fail(name_, ": \"__metadata__\" appears twice in the header");
      read_metadata(root.items[i]);
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < tensors_.size(); ++i)
      if (tensors_[i].name == tensors_[i - 1].name) fail_tensor(tensors_[i].name, "appears twice in the header");
    check_overlaps(data);
  }

  // Non-empty byte ranges must be disjoint (sorted by start, each must begin at or
  // after the previous end). Zero-size tensors own no bytes and are skipped.
  void check_overlaps(std::span<const std::byte> data) const {
    struct Range {
      uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Range> ranges;
    for (const TensorEntry& e : tensors_) {
      if (e.bytes.empty()) continue;
      const auto begin = static_cast<uint64_t>(e.bytes.data() - data.data());
      ranges.push_back({begin, begin + e.bytes.size(), &e.name});
    }
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    const auto text = [](const Range& r) { return "[" + std::to_string(r.begin) + "," + std::to_string(r.end) + ")"; };
    for (std::size_t i = 1; i < ranges.size(); ++i)
      if (ranges[i].begin < ranges[i - 1].end)
        fail_tensor(*ranges[i].name, "data_offsets " + text(ranges[i]) + " overlap tensor '" + *ranges[i - 1].name +
                                         "' " + text(ranges[i - 1]));
  }

  void read_metadata(const Json& value) {
    if (value.kind != Kind::kObject)
      mnv4::detail::fail(name_, ": \"__metadata__\" must be an object of strings, found ", detail::describe(value));
    for (std::size_t i = 0; i < value.keys.size(); ++i) {
      const std::string& key = value.keys[i];
      if (value.items[i].kind != Kind::kString)
        mnv4::detail::fail(name_, ": \"__metadata__\" entry '", key, "' must be a string, found ",
                           detail::describe(value.items[i]));
      metadata_.emplace_back(key, value.items[i].text);
    }
    // Sorted copy, so a header with many keys is not quadratic; metadata_ keeps file order.
    std::vector<std::string_view> keys(value.keys.begin(), value.keys.end());
    std::sort(keys.begin(), keys.end());
    if (const auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end())
      mnv4::detail::fail(name_, ": \"__metadata__\" key '", *dup, "' appears twice");
  }

  TensorEntry read_entry(const std::string& key, const Json& value, std::span<const std::byte> data) const {
    if (value.kind != Kind::kObject)
      fail_tensor(key, "entry must be an object with \"dtype\", \"shape\" and \"data_offsets\", found " +
                           detail::describe(value));
    const Json* dtype = nullptr;
    const Json* shape = nullptr;
    const Json* offsets = nullptr;
    for (std::size_t i = 0; i < value.keys.size(); ++i) {
      const std::string& k = value.keys[i];
      const Json** slot = k == "dtype" ? &dtype : k == "shape" ? &shape : k == "data_offsets" ? &offsets : nullptr;
      if (slot == nullptr) continue;  // unknown fields are ignored, as other readers do
      if (*slot != nullptr) fail_tensor(key, "\"" + k + "\" appears twice");
      *slot = &value.items[i];
    }
    for (const auto& [field, name] : {std::pair{dtype, "dtype"}, {shape, "shape"}, {offsets, "data_offsets"}})
      if (field == nullptr)
        fail_tensor(key, std::string("missing \"") + name + "\" (each tensor needs \"dtype\", \"shape\" and \"data_offsets\")");

    TensorEntry e;
    e.name = key;
    if (dtype->kind != Kind::kString) fail_tensor(key, "\"dtype\" must be a string, found " + detail::describe(*dtype));
    if (dtype->text == "F32") e.dtype = DType::kF32;
    else if (dtype->text == "F16") e.dtype = DType::kF16;
    else if (dtype->text == "BF16") e.dtype = DType::kBF16;
    else if (dtype->text == "I64") e.dtype = DType::kI64;
    else fail_tensor(key, "unsupported dtype '" + dtype->text + "' (supported: F32, F16, BF16, I64)");

    if (shape->kind != Kind::kArray)
      fail_tensor(key, "\"shape\" must be an array of non-negative integers, found " + detail::describe(*shape));
    constexpr auto kMaxI64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t numel = 1;  // stays <= kMaxI64
    for (const Json& d : shape->items) {
      if (d.kind != Kind::kNumber || d.text.find_first_of("-.eE") != std::string::npos)
        fail_tensor(key, "shape " + detail::describe(*shape) + " has dimension " + detail::describe(d) +
                             "; expected a non-negative integer");
      // An integer literal that is not is_uint is beyond 2^64.
      if (!d.is_uint || d.uint > kMaxI64 || (d.uint != 0 && numel > kMaxI64 / d.uint))
        fail_tensor(key, "shape " + detail::describe(*shape) + " has more than " + std::to_string(kMaxI64) + " elements");
      numel *= d.uint;
      e.shape.push_back(static_cast<int64_t>(d.uint));
    }

    if (offsets->kind != Kind::kArray || offsets->items.size() != 2 || !offsets->items[0].is_uint ||
        !offsets->items[1].is_uint)
      fail_tensor(key, "\"data_offsets\" must be [begin, end] (two non-negative integers), found " +
                           detail::describe(*offsets));
    const uint64_t begin = offsets->items[0].uint, end = offsets->items[1].uint;
    const std::string range = "data_offsets [" + std::to_string(begin) + "," + std::to_string(end) + "]";
    if (begin > end) fail_tensor(key, range + " end before they begin (expected begin <= end)");
    if (end > data.size())
      fail_tensor(key, range + " reach past the end of the " + std::to_string(data.size()) + "-byte data section");
    const uint64_t elem = dtype_size(e.dtype);
    // numel * elem can exceed 2^64; the first test rules that out before multiplying.
    if (numel > (end - begin) / elem || numel * elem != end - begin) {
      const std::string need = numel > std::numeric_limits<uint64_t>::max() / elem ? "more than 2^64"
                                                                                   : std::to_string(numel * elem);
      fail_tensor(key, "shape " + shape_string(e.shape) + " has " + std::to_string(numel) + " elements (" + need +
                           " bytes as " + std::string(dtype_name(e.dtype)) + ") but data_offsets span " +
                           std::to_string(end - begin) + " bytes");
    }
    e.bytes = data.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
    return e;
  }

  std::string name_;
  detail::Mapping mapping_;
  std::unique_ptr<std::vector<std::byte>> owned_;
  std::vector<TensorEntry> tensors_;
  std::vector<std::pair<std::string, std::string>> metadata_;
};

struct TensorView {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> data;
};

// Writes float32 tensors: sorted by name, data contiguous in that order, header
// padded with spaces to a multiple of 8 so the data section starts aligned.
// Refuses anything the reader would refuse (duplicate or invalid names, shapes
// that do not match the data).
inline void write_safetensors(const std::filesystem::path& path, std::span<const TensorView> tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  const std::string file = path.string();
  std::vector<const TensorView*> order;
  for (const TensorView& t : tensors) {
    const std::optional<int64_t> numel = detail::checked_numel(t.shape);
    if (!numel || static_cast<uint64_t>(*numel) != t.data.size())
      mnv4::detail::fail(file, ": tensor '", t.name, "': shape ", shape_string(t.shape), " does not describe the ",
                         t.data.size(), " values given");
    if (t.name == "__metadata__" || !detail::valid_utf8(t.name))
      mnv4::detail::fail(file, ": tensor name '", t.name, "' is reserved or not valid UTF-8");
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) { return a->name < b->name; });
  for (std::size_t i = 1; i < order.size(); ++i)
    if (order[i]->name == order[i - 1]->name) mnv4::detail::fail(file, ": tensor '", order[i]->name, "' given twice");
  for (const auto& [k, v] : metadata)
    if (!detail::valid_utf8(k) || !detail::valid_utf8(v))
      mnv4::detail::fail(file, ": metadata entry '", k, "' is not valid UTF-8");

  const auto quote = [](std::string_view s) {
    std::string q = "\"";
    for (const char c : s) {
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        q += buf;
        continue;
      }
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i)
      header += (i != 0 ? "," : "") + quote(metadata[i].first) + ":" + quote(metadata[i].second);
    header += "}";
  }
  uint64_t offset = 0;
  for (const TensorView* t : order) {
    const uint64_t bytes = t->data.size() * 4;
    header += (header.size() > 1 ? "," : "") + quote(t->name) + ":{\"dtype\":\"F32\",\"shape\":" +
              shape_string(t->shape) + ",\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) mnv4::detail::fail(file, ": cannot open for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const TensorView* t : order)
    out.write(reinterpret_cast<const char*>(t->data.data()), static_cast<std::streamsize>(t->data.size() * 4));
  if (!out) mnv4::detail::fail(file, ": write failed");
}

}  // namespace mnv4::io
