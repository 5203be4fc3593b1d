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
// section, match its shape and dtype, and not overlap another tensor.
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
  std::vector<int64_t> shape;       // [] for a scalar
  std::span<const std::byte> bytes;  // little-endian, inside the file's mapping
  int64_t numel() const { return shape_numel(shape); }
};

namespace detail {

// A JSON value, as far as safetensors headers need: objects, arrays, strings and
// non-negative integers. Anything else in the header is an error.
struct Json {
  enum class Kind { kObject, kArray, kString, kInteger } kind = Kind::kInteger;
  std::string text;                                  // kString
  uint64_t integer = 0;                              // kInteger
  std::vector<Json> items;                           // kArray, or kObject's values
  std::vector<std::string> keys;                     // kObject's keys, in file order (items holds the values)
};

class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  Json parse_document() {
    Json v = parse_value(0);
    skip_space();
    if (pos_ != s_.size()) error("unexpected trailing characters");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void error(std::string_view what) const {
    mnv4::detail::fail(file_, ": malformed safetensors header (JSON): ", what, " at byte ", pos_, " of ", s_.size());
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
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }

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
    if (c >= '0' && c <= '9') return parse_integer();
    if (c == '-') error("negative numbers are not valid here");
    error(std::string("unexpected character '") + c + "'");
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
      if (peek() != '"') error("expected a string key");
      v.keys.push_back(parse_string());
      expect(':');
      v.items.push_back(parse_value(depth + 1));
      const char c = peek();
      ++pos_;
      if (c == '}') return v;
      if (c != ',') error("expected ',' or '}' in object");
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
      const char c = peek();
      ++pos_;
      if (c == ']') return v;
      if (c != ',') error("expected ',' or ']' in array");
    }
  }

  Json parse_integer() {
    Json v;
    v.kind = Json::Kind::kInteger;
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(s_[pos_] - '0');
      if (v.integer > (std::numeric_limits<uint64_t>::max() - digit) / 10) error("integer too large");
      v.integer = v.integer * 10 + digit;
      ++pos_;
    }
    if (pos_ - start > 1 && s_[start] == '0') error("leading zeros in a number");
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E'))
      error("only non-negative integers are valid here");
    return v;
  }

  unsigned hex4() {
    if (s_.size() - pos_ < 4) error("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else error("bad hex digit in \\u escape");
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

  // Copies one UTF-8 sequence, rejecting invalid encodings.
  void copy_utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(s_[pos_]);
    const int len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xE ? 3 : (b0 >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || s_.size() - pos_ < static_cast<std::size_t>(len)) error("invalid UTF-8 in string");
    uint32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
    for (int i = 1; i < len; ++i) {
      const auto b = static_cast<unsigned char>(s_[pos_ + static_cast<std::size_t>(i)]);
      if ((b & 0xC0) != 0x80) error("invalid UTF-8 in string");
      cp = (cp << 6) | (b & 0x3Fu);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : len == 4 ? 0x10000 : 0;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error("invalid UTF-8 in string");
    out.append(s_.substr(pos_, static_cast<std::size_t>(len)));
    pos_ += static_cast<std::size_t>(len);
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
      if (static_cast<unsigned char>(c) < 0x20) error("control character in string");
      if (c != '\\') {
        copy_utf8(out);
        continue;
      }
      if (++pos_ >= s_.size()) error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
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
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') error("unpaired surrogate");
            pos_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: error("unknown escape");
      }
    }
  }

  std::string_view s_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

// Read-only memory mapping of a whole file (or nothing for an empty file).
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

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // ±0
  } else {        // subnormal: normalise
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
    f.owned_ = std::make_unique<std::vector<std::byte>>(std::move(bytes));
    f.parse(*f.owned_);
    return f;
  }

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
    const std::size_t n = static_cast<std::size_t>(e.numel());
    std::vector<float> out(n);
    const std::byte* p = e.bytes.data();
    switch (e.dtype) {
      case DType::kF32:
        if (n > 0) std::memcpy(out.data(), p, n * 4);
        break;
      case DType::kF16:
      case DType::kBF16:
        for (std::size_t i = 0; i < n; ++i) {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          out[i] = e.dtype == DType::kF16 ? detail::half_to_float(h) : detail::bf16_to_float(h);
        }
        break;
      case DType::kI64:
        mnv4::detail::fail(name_, ": tensor '", e.name, "' is I64; expected a floating-point tensor (F32, F16 or BF16)");
    }
    return out;
  }

 private:
  SafetensorsFile() = default;

  [[noreturn]] void fail_tensor(const std::string& tensor, std::string_view what) const {
    mnv4::detail::fail(name_, ": tensor '", tensor, "': ", what);
  }

  void parse(std::span<const std::byte> file) {
    if (file.size() < 8)
      mnv4::detail::fail(name_, ": not a safetensors file: ", file.size(), " bytes, expected at least 8 (header length)");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint64_t>(file[static_cast<std::size_t>(i)]);
    if (header_len > file.size() - 8)
      mnv4::detail::fail(name_, ": header length ", header_len, " exceeds the ", file.size() - 8,
                         " bytes that follow it (truncated or not a safetensors file)");
    const std::string_view header(reinterpret_cast<const char*>(file.data()) + 8, static_cast<std::size_t>(header_len));
    const std::span<const std::byte> data = file.subspan(8 + static_cast<std::size_t>(header_len));

    const detail::Json root = detail::JsonParser(header, name_).parse_document();
    if (root.kind != detail::Json::Kind::kObject) mnv4::detail::fail(name_, ": header is not a JSON object");

    struct Range {
      uint64_t begin, end;
      const std::string* name;
    };
    for (std::size_t i = 0; i < root.keys.size(); ++i) {
      const std::string& key = root.keys[i];
      const detail::Json& value = root.items[i];
      if (key == "__metadata__") {
        read_metadata(value);
        continue;
      }
      tensors_.push_back(read_entry(key, value, data));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
    for (std::size_t i = 1; i < tensors_.size(); ++i)
      if (tensors_[i].name == tensors_[i - 1].name) fail_tensor(tensors_[i].name, "appears twice in the header");

    // Non-empty byte ranges must not overlap.
    std::vector<Range> nonempty;
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      const TensorEntry& e = tensors_[i];
      if (e.bytes.empty()) continue;
      const auto begin = static_cast<uint64_t>(e.bytes.data() - data.data());
      nonempty.push_back({begin, begin + e.bytes.size(), &e.name});
    }
    std::sort(nonempty.begin(), nonempty.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < nonempty.size(); ++i)
      if (nonempty[i].begin < nonempty[i - 1].end)
        fail_tensor(*nonempty[i].name, "data_offsets [" + std::to_string(nonempty[i].begin) + "," +
                                           std::to_string(nonempty[i].end) + ") overlap tensor '" +
                                           *nonempty[i - 1].name + "' [" + std::to_string(nonempty[i - 1].begin) +
                                           "," + std::to_string(nonempty[i - 1].end) + ")");
  }

  void read_metadata(const detail::Json& value) {
    if (value.kind != detail::Json::Kind::kObject) mnv4::detail::fail(name_, ": __metadata__ must be an object of strings");
    for (std::size_t i = 0; i < value.keys.size(); ++i) {
      if (value.items[i].kind != detail::Json::Kind::kString)
        mnv4::detail::fail(name_, ": __metadata__ entry '", value.keys[i], "' must be a string");
      metadata_.emplace_back(value.keys[i], value.items[i].text);
    }
  }

  TensorEntry read_entry(const std::string& key, const detail::Json& value, std::span<const std::byte> data) const {
    using Kind = detail::Json::Kind;
    if (value.kind != Kind::kObject) fail_tensor(key, "entry must be an object");
    const detail::Json* dtype = nullptr;
    const detail::Json* shape = nullptr;
    const detail::Json* offsets = nullptr;
    for (std::size_t i = 0; i < value.keys.size(); ++i) {
      if (value.keys[i] == "dtype") dtype = &value.items[i];
      else if (value.keys[i] == "shape") shape = &value.items[i];
      else if (value.keys[i] == "data_offsets") offsets = &value.items[i];
    }
    if (dtype == nullptr || shape == nullptr || offsets == nullptr)
      fail_tensor(key, std::string("missing ") + (dtype == nullptr ? "\"dtype\"" : shape == nullptr ? "\"shape\"" : "\"data_offsets\""));

    TensorEntry e;
    e.name = key;
    if (dtype->kind != Kind::kString) fail_tensor(key, "\"dtype\" must be a string");
    if (dtype->text == "F32") e.dtype = DType::kF32;
    else if (dtype->text == "F16") e.dtype = DType::kF16;
    else if (dtype->text == "BF16") e.dtype = DType::kBF16;
    else if (dtype->text == "I64") e.dtype = DType::kI64;
    else fail_tensor(key, "unsupported dtype '" + dtype->text + "' (supported: F32, F16, BF16, I64)");

    if (shape->kind != Kind::kArray) fail_tensor(key, "\"shape\" must be an array of non-negative integers");
    uint64_t numel = 1;
    for (const detail::Json& d : shape->items) {
      if (d.kind != Kind::kInteger) fail_tensor(key, "\"shape\" must be an array of non-negative integers");
      if (d.integer > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (d.integer != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / d.integer))
        fail_tensor(key, "shape " + json_shape(*shape) + " has too many elements");
      numel *= d.integer;
      e.shape.push_back(static_cast<int64_t>(d.integer));
    }

    if (offsets->kind != Kind::kArray || offsets->items.size() != 2 || offsets->items[0].kind != Kind::kInteger ||
        offsets->items[1].kind != Kind::kInteger)
      fail_tensor(key, "\"data_offsets\" must be [begin, end]");
    const uint64_t begin = offsets->items[0].integer, end = offsets->items[1].integer;
    if (begin > end)
      fail_tensor(key, "data_offsets [" + std::to_string(begin) + "," + std::to_string(end) + "] end before they begin");
    if (end > data.size())
      fail_tensor(key, "data_offsets [" + std::to_string(begin) + "," + std::to_string(end) + "] reach past the " +
                           std::to_string(data.size()) + "-byte data section");
    const uint64_t elem = dtype_size(e.dtype);
    if (numel > std::numeric_limits<uint64_t>::max() / elem || numel * elem != end - begin)
      fail_tensor(key, "shape " + json_shape(*shape) + " has " + std::to_string(numel) + " elements (" +
                           std::to_string(numel * elem) + " bytes as " + std::string(dtype_name(e.dtype)) +
                           ") but data_offsets span " + std::to_string(end - begin) + " bytes");
    e.bytes = data.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
    return e;
  }

  static std::string json_shape(const detail::Json& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.items.size(); ++i) {
      if (i != 0) s += ',';
      s += std::to_string(shape.items[i].integer);
    }
    return s + "]";
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

// Writes float32 tensors (sorted by name, contiguous, header padded to 8 bytes).
inline void write_safetensors(const std::filesystem::path& path, std::span<const TensorView> tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata = {}) {
  std::vector<const TensorView*> order;
  for (const TensorView& t : tensors) {
    if (static_cast<int64_t>(t.data.size()) != shape_numel(t.shape))
      mnv4::detail::fail(path.string(), ": tensor '", t.name, "': shape ", shape_string(t.shape), " needs ",
                         shape_numel(t.shape), " values, got ", t.data.size());
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) { return a->name < b->name; });

  const auto quote = [](std::string_view s) {
    std::string q = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        q += buf;
      } else {
        q += c;
      }
    }
    return q + "\"";
  };
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (std::size_t i = 0; i < metadata.size(); ++i) {
      if (i != 0) header += ',';
      header += quote(metadata[i].first);
      header += ':';
      header += quote(metadata[i].second);
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const TensorView* t : order) {
    if (header.size() > 1) header += ",";
    const uint64_t bytes = t->data.size() * 4;
    header += quote(t->name) + ":{\"dtype\":\"F32\",\"shape\":" + shape_string(t->shape) + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) mnv4::detail::fail(path.string(), ": cannot open for writing");
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const TensorView* t : order)
    out.write(reinterpret_cast<const char*>(t->data.data()), static_cast<std::streamsize>(t->data.size() * 4));
  if (!out) mnv4::detail::fail(path.string(), ": write failed");
}

}  // namespace mnv4::io
