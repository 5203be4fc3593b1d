// mnv4-export-onnx writes the graph timm's torch.onnx export would: checked
// against timm's own exports of Conv-S and Hybrid-M in ../shared/peers (beside
// the goldens) by decoding both files' protobuf — the same operators, the same
// convolution weight shapes and groups in the same order, the same inputs and
// outputs. (That the numbers agree too is checked with ONNX Runtime by
// benchmarks/check_onnx_export.mjs, which the tests cannot depend on.)
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "golden.hpp"
#include "run_process.hpp"

namespace mnv4::test {
namespace {

// ---- a protobuf reader for the few ONNX fields compared ------------------------

struct Field {
  int number = 0, wire = 0;
  uint64_t value = 0;     // varint / fixed
  std::string_view bytes;  // length-delimited
};

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool next(Field& f) {
    if (pos_ >= b_.size()) return false;
    const uint64_t key = varint();
    f = {static_cast<int>(key >> 3), static_cast<int>(key & 7), 0, {}};
    if (f.wire == 0) f.value = varint();
    else if (f.wire == 5) pos_ += 4;
    else if (f.wire == 1) pos_ += 8;
    else if (f.wire == 2) {
      const uint64_t n = varint();
      if (n > b_.size() - pos_) throw std::runtime_error("truncated protobuf");
      f.bytes = b_.substr(pos_, n);
      pos_ += n;
    } else {
      throw std::runtime_error("unexpected protobuf wire type " + std::to_string(f.wire));
    }
    return true;
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; pos_ < b_.size() && shift < 64; shift += 7) {
      const auto byte = static_cast<unsigned char>(b_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    throw std::runtime_error("bad varint");
  }
  std::string_view b_;
  std::size_t pos_ = 0;
};

struct Node {
  std::string op;
  std::vector<std::string> inputs;
  std::map<std::string, std::vector<int64_t>> ints;  // integer attributes
};

struct Graph {
  std::vector<Node> nodes;
  std::map<std::string, std::vector<int64_t>> initializer_dims;
  std::vector<std::vector<int64_t>> input_dims, output_dims;
};

std::vector<int64_t> value_info_dims(std::string_view info) {
  std::vector<int64_t> dims;
  Field f, t, tt, s, d;
  for (Reader r(info); r.next(f);)
    if (f.number == 2)  // type
      for (Reader rt(f.bytes); rt.next(t);)
        if (t.number == 1)  // tensor_type
          for (Reader rtt(t.bytes); rtt.next(tt);)
            if (tt.number == 2)  // shape
              for (Reader rs(tt.bytes); rs.next(s);)
                if (s.number == 1)  // dim
                  for (Reader rd(s.bytes); rd.next(d);)
                    if (d.number == 1) dims.push_back(static_cast<int64_t>(d.value));
  return dims;
}

Graph read_graph(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Graph g;
  Field f, gf, nf, af;
  for (Reader model(bytes); model.next(f);) {
    if (f.number != 7) continue;  // graph
    for (Reader graph(f.bytes); graph.next(gf);) {
      if (gf.number == 1) {  // node
        Node n;
        for (Reader node(gf.bytes); node.next(nf);) {
          if (nf.number == 1) n.inputs.emplace_back(nf.bytes);
          if (nf.number == 4) n.op = std::string(nf.bytes);
          if (nf.number == 5) {  // attribute: name, i or ints
            std::string name;
            std::vector<int64_t> values;
            for (Reader attr(nf.bytes); attr.next(af);) {
              if (af.number == 1) name = std::string(af.bytes);
              if (af.number == 3 || af.number == 8) values.push_back(static_cast<int64_t>(af.value));
            }
            n.ints[name] = values;
          }
        }
        if (n.op != "Constant") g.nodes.push_back(std::move(n));  // torch keeps some constants as nodes
      } else if (gf.number == 5) {  // initializer: dims, name
        std::vector<int64_t> dims;
        std::string name;
        for (Reader t(gf.bytes); t.next(nf);) {
          if (nf.number == 1) dims.push_back(static_cast<int64_t>(nf.value));
          if (nf.number == 8) name = std::string(nf.bytes);
        }
        g.initializer_dims[name] = dims;
      } else if (gf.number == 11) {
        g.input_dims.push_back(value_info_dims(gf.bytes));
      } else if (gf.number == 12) {
        g.output_dims.push_back(value_info_dims(gf.bytes));
      }
    }
  }
  return g;
}

// One line per node: operator, and for a convolution its weight's shape, group, kernel, stride and pads.
std::vector<std::string> signature(const Graph& g) {
  std::vector<std::string> rows;
  for (const Node& n : g.nodes) {
    std::string row = n.op;
    if (n.op == "Conv") {
      const auto dims = g.initializer_dims.find(n.inputs.at(1));
      row += " w=";
      for (int64_t d : dims != g.initializer_dims.end() ? dims->second : std::vector<int64_t>{}) row += std::to_string(d) + ",";
      row += " bias=" + std::to_string(n.inputs.size() == 3);
      for (const char* a : {"group", "strides", "pads"}) {
        row += std::string(" ") + a + "=";
        for (int64_t v : n.ints.count(a) ? n.ints.at(a) : std::vector<int64_t>{}) row += std::to_string(v) + ",";
      }
    }
    rows.push_back(row);
  }
  return rows;
}

void expect_same_graph(const std::string& model, const std::string& key, int side) {
  const std::filesystem::path peers = golden_dir() / ".." / "peers";
  const std::filesystem::path timm = peers / ("mobilenetv4_" + key + ".onnx");
  const std::filesystem::path checkpoint = golden_dir() / key / "model.safetensors";
  MNV4_REQUIRE_GOLDEN(timm);
  MNV4_REQUIRE_GOLDEN(checkpoint);
  const std::filesystem::path ours = std::filesystem::path(MNV4_TEST_BINARY_DIR) / ("export_" + key + ".onnx");
  const ProcessResult r = run_process(std::string(MNV4_EXPORT_BINARY) + " " + model + " " + std::to_string(side) + " " +
                                      std::to_string(side) + " " + ours.string() + " " + checkpoint.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Graph a = read_graph(ours), b = read_graph(timm);
  ASSERT_FALSE(b.nodes.empty()) << timm;
  EXPECT_EQ(a.input_dims, b.input_dims);
  EXPECT_EQ(a.output_dims, b.output_dims);
  const std::vector<std::string> sa = signature(a), sb = signature(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (std::size_t i = 0; i < sa.size(); ++i) EXPECT_EQ(sa[i], sb[i]) << "node " << i;
  std::filesystem::remove(ours);
}

TEST(ExportOnnx, ConvSmallIsTimmsGraph) { expect_same_graph("mobilenetv4_conv_small", "conv_small_224", 224); }
TEST(ExportOnnx, HybridMediumIsTimmsGraph) {
  expect_same_graph("mobilenetv4_hybrid_medium", "hybrid_medium_256", 256);
}

TEST(ExportOnnx, BadArgumentsFailWithAMessage) {
  const std::string exe = MNV4_EXPORT_BINARY;
  const std::pair<std::string, std::string> cases[] = {
      {"", "usage: mnv4-export-onnx"},
      {"mobilenetv4_conv_tiny 224 224 x.onnx", "unknown model 'mobilenetv4_conv_tiny'"},
      {"mobilenetv4_conv_small 16 224 x.onnx", "resolution must be an integer in [32, 4096], got '16'"},
      {"mobilenetv4_conv_small 224 224 /nonexistent/dir/x.onnx", "cannot write /nonexistent/dir/x.onnx"},
      {"mobilenetv4_conv_small 224 224 x.onnx /nonexistent.safetensors", "/nonexistent.safetensors"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult r = run_process(exe + " " + args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << "args: " << args << "\noutput: " << r.output;
  }
}

}  // namespace
}  // namespace mnv4::test
