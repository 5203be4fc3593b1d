// mnv4-export-onnx: writes a model as an ONNX graph laid out like timm's own
// export (torch.onnx, opset 17), so ONNX Runtime can be timed on the models
// ../shared/peers has no export for, instead of scaling its table:
//   - every BatchNorm that follows a convolution folded into it (weights + bias);
//   - ReLU as Relu, GELU as torch's Div → Erf → Add → Mul → Mul (ORT fuses it);
//   - layer scale as a Mul by [1, C, 1, 1], residuals as Add;
//   - Mobile MQA as torch traces it: BatchNormalization, 1×1 Conv projections,
//     Reshape / Transpose / Unsqueeze, Mul by the scale, MatMul, Softmax, MatMul.
// Weights come from a timm checkpoint, or are mnv4's synthetic ones. Batch 1,
// input "input" [1, 3, H, W], output "logits" [1, classes].
//
//   mnv4-export-onnx MODEL H W OUT.onnx [CKPT]
//
// benchmarks/check_onnx_export.mjs compares an export of the golden checkpoints
// with timm's files in ../shared/peers (outputs and ORT's latency).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mnv4/io/checkpoint.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/layers/weights.hpp"
#include "mnv4/models/all.hpp"

namespace {

using namespace mnv4;  // NOLINT(google-build-using-namespace)

// ---- protobuf wire format (only what ONNX's messages need) ----------------------

class Proto {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      bytes_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    bytes_.push_back(static_cast<char>(v));
  }
  void integer(int field, int64_t v) {
    tag(field, 0);
    varint(static_cast<uint64_t>(v));
  }
  void fixed32(int field, float v) {
    tag(field, 5);
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>(bits >> (8 * i)));
  }
  void text(int field, std::string_view s) {
    tag(field, 2);
    varint(s.size());
    bytes_.append(s);
  }
  void message(int field, const Proto& m) { text(field, m.bytes_); }
  const std::string& bytes() const { return bytes_; }

 private:
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire)); }
  std::string bytes_;
};

// onnx.proto field numbers and enum values used below.
namespace onnx {
constexpr int kFloat = 1, kInt64 = 7;                                // TensorProto.DataType
constexpr int kAttrFloat = 1, kAttrInt = 2, kAttrInts = 7;           // AttributeProto.AttributeType
}  // namespace onnx

struct Attr {
  std::string name;
  int type = onnx::kAttrInt;
  std::vector<int64_t> ints;
  float f = 0.0f;
};
Attr ints(std::string name, std::vector<int64_t> v) { return {std::move(name), onnx::kAttrInts, std::move(v), 0.0f}; }
Attr one_int(std::string name, int64_t v) { return {std::move(name), onnx::kAttrInt, {v}, 0.0f}; }
Attr one_float(std::string name, float v) { return {std::move(name), onnx::kAttrFloat, {}, v}; }

Proto tensor_type(const std::vector<int64_t>& dims) {
  Proto shape;
  for (int64_t d : dims) {
    Proto dim;
    dim.integer(1, d);  // Dimension.dim_value
    shape.message(1, dim);
  }
  Proto tensor;
  tensor.integer(1, onnx::kFloat);  // elem_type
  tensor.message(2, shape);
  Proto type;
  type.message(1, tensor);  // TypeProto.tensor_type
  return type;
}

class Graph {
 public:
  // A float initializer; returns its name.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    Proto t;
    for (int64_t d : dims) t.integer(1, d);
    t.integer(2, onnx::kFloat);
    t.text(8, name);
    t.text(9, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    graph_.message(5, t);
    return name;
  }
  std::string constant_i64(const std::string& name, const std::vector<int64_t>& v) {
    Proto t;
    t.integer(1, static_cast<int64_t>(v.size()));
    t.integer(2, onnx::kInt64);
    t.text(8, name);
    t.text(9, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)));
    graph_.message(5, t);
    return name;
  }
  std::string scalar(const std::string& name, float v) {
    Proto t;
    t.integer(2, onnx::kFloat);
    t.text(8, name);
    t.text(9, std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
    graph_.message(5, t);
    return name;
  }
  // A node with one output, named after the node.
  std::string node(const std::string& op, const std::string& name, std::initializer_list<std::string> inputs,
                   const std::vector<Attr>& attrs = {}) {
    Proto n;
    for (const std::string& in : inputs) n.text(1, in);
    const std::string out = name + "_output_0";
    n.text(2, out);
    n.text(3, name);
    n.text(4, op);
    for (const Attr& a : attrs) {
      Proto p;
      p.text(1, a.name);
      if (a.type == onnx::kAttrFloat) p.fixed32(2, a.f);
      if (a.type == onnx::kAttrInt) p.integer(3, a.ints[0]);
      if (a.type == onnx::kAttrInts)
        for (int64_t v : a.ints) p.integer(8, v);
      p.integer(20, a.type);
      n.message(5, p);
    }
    graph_.message(1, n);
    return out;
  }
  void io(int field, const std::string& name, const std::vector<int64_t>& dims) {
    Proto v;
    v.text(1, name);
    v.message(2, tensor_type(dims));
    graph_.message(field, v);  // 11: input, 12: output
  }
  // The model with opset 17 (what timm's export used).
  std::string model(const std::string& name) {
    graph_.text(2, name);
    Proto opset;
    opset.text(1, "");
    opset.integer(2, 17);
    Proto m;
    m.integer(1, 8);  // ir_version
    m.text(2, "mnv4-export-onnx");
    m.message(7, graph_);
    m.message(8, opset);
    return m.bytes();
  }

 private:
  Proto graph_;
};

// ---- the network, block by block ------------------------------------------------

// BatchNorm folded into the convolution before it, in double as timm's folding would be exact to fp32.
struct Folded {
  std::vector<float> weights, bias;
};
Folded fold(const ConvBnWeights& w) {
  const std::size_t out = static_cast<std::size_t>(w.conv.shape[0]);
  const std::size_t per = w.conv.values.size() / out;
  Folded f{w.conv.values, std::vector<float>(out)};
  for (std::size_t o = 0; o < out; ++o) {
    const double s = w.bn.gamma.values[o] / std::sqrt(static_cast<double>(w.bn.var.values[o]) + kBnEps);
    for (std::size_t i = 0; i < per; ++i) f.weights[o * per + i] = static_cast<float>(w.conv.values[o * per + i] * s);
    f.bias[o] = static_cast<float>(w.bn.beta.values[o] - w.bn.mean.values[o] * s);
  }
  return f;
}

class Exporter {
 public:
  explicit Exporter(Graph& g) : g_(g) {}

  std::string conv_bn(const std::string& name, const std::string& x, const ConvBnWeights& w, int stride, int groups,
                      Act act) {
    const Folded f = fold(w);
    const int k = static_cast<int>(w.conv.shape[2]);
    const int64_t pad = conv_pad(k, stride);
    std::string y = g_.node("Conv", name + "/Conv",
                            {x, g_.constant(name + ".weight", w.conv.shape, f.weights),
                             g_.constant(name + ".bias", {w.conv.shape[0]}, f.bias)},
                            {ints("dilations", {1, 1}), one_int("group", groups), ints("kernel_shape", {k, k}),
                             ints("pads", {pad, pad, pad, pad}), ints("strides", {stride, stride})});
    return activation(name, y, act);
  }
  std::string conv(const std::string& name, const std::string& x, const Weight& w) {
    return g_.node("Conv", name + "/Conv", {x, g_.constant(name + ".weight", w.shape, w.values)},
                   {ints("dilations", {1, 1}), one_int("group", 1), ints("kernel_shape", {1, 1}),
                    ints("pads", {0, 0, 0, 0}), ints("strides", {1, 1})});
  }
  std::string activation(const std::string& name, const std::string& x, Act act) {
    if (act == Act::kRelu) return g_.node("Relu", name + "/act/Relu", {x});
    if (act != Act::kGelu) return x;
    // torch 1.13's exact GELU: x · 0.5 · (1 + erf(x / √2)).
    const std::string a = name + "/act";
    std::string t = g_.node("Div", a + "/Div", {x, g_.scalar(a + ".sqrt2", 1.4142135381698608f)});
    t = g_.node("Erf", a + "/Erf", {t});
    t = g_.node("Add", a + "/Add", {t, g_.scalar(a + ".one", 1.0f)});
    t = g_.node("Mul", a + "/Mul", {x, t});
    return g_.node("Mul", a + "/Mul_1", {t, g_.scalar(a + ".half", 0.5f)});
  }
  std::string layer_scale(const std::string& name, const std::string& x, const std::optional<Weight>& gamma) {
    if (!gamma) return x;
    return g_.node("Mul", name + "layer_scale/Mul",
                   {x, g_.constant(name + ".layer_scale.gamma", {1, gamma->shape[0], 1, 1}, gamma->values)});
  }

  // Each block takes x (NCHW, h×w) and returns its output; h, w follow the stride.
  std::string block(const std::string& name, const std::string& x, const Stem& s, StemWeights& w) {
    advance(s.k, s.stride);
    return conv_bn(name + "conv_stem", x, w.conv, s.stride, 1, s.act);
  }
  std::string block(const std::string& name, const std::string& x, const ConvBn& s, ConvBnBlockWeights& w) {
    advance(s.k, s.stride);
    return conv_bn(name + "conv", x, w.conv, s.stride, 1, s.act);
  }
  std::string block(const std::string& name, const std::string& x, const FusedIb& s, FusedIbWeights& w) {
    advance(s.k, s.stride);
    std::string y = conv_bn(name + "conv_exp", x, w.exp, s.stride, 1, s.act);
    y = conv_bn(name + "conv_pwl", y, w.pwl, 1, 1, Act::kNone);
    return s.skip() ? g_.node("Add", name + "Add", {y, x}) : y;
  }
  std::string block(const std::string& name, const std::string& x, const Uib& s, UibWeights& w) {
    std::string y = x;
    if (w.dw_start) {
      advance(s.start_k, s.start_stride());
      y = conv_bn(name + "dw_start", y, *w.dw_start, s.start_stride(), s.in, Act::kNone);
    }
    y = conv_bn(name + "pw_exp", y, w.pw_exp, 1, 1, s.act);
    if (w.dw_mid) {
      advance(s.mid_k, s.stride);
      y = conv_bn(name + "dw_mid", y, *w.dw_mid, s.stride, s.mid, s.act);
    }
    y = conv_bn(name + "pw_proj", y, w.pw_proj, 1, 1, Act::kNone);
    y = layer_scale(name, y, w.gamma);
    return s.skip() ? g_.node("Add", name + "Add", {y, x}) : y;
  }
  std::string block(const std::string& name, const std::string& x, const Mqa& s, MqaWeights& w) {
    const std::string a = name + "attn";
    const std::string normed =
        g_.node("BatchNormalization", name + "norm/BatchNormalization",
                {x, g_.constant(name + "norm.weight", w.norm.gamma.shape, w.norm.gamma.values),
                 g_.constant(name + "norm.bias", w.norm.beta.shape, w.norm.beta.values),
                 g_.constant(name + "norm.running_mean", w.norm.mean.shape, w.norm.mean.values),
                 g_.constant(name + "norm.running_var", w.norm.var.shape, w.norm.var.values)},
                {one_float("epsilon", kBnEps)});
    // q: [1, heads·kd, H, W] → [1, heads, kd, L] → [1, heads, L, kd], scaled.
    std::string q = conv(a + ".query.proj", normed, w.query);
    q = g_.node("Reshape", a + "/Reshape", {q, g_.constant_i64(a + ".q_shape", {1, s.heads, s.key_dim, -1})});
    q = g_.node("Transpose", a + "/Transpose", {q}, {ints("perm", {0, 1, 3, 2})});
    // k, v: one head each, [1, P, d] then [1, 1, P, d].
    const auto kv = [&](const std::string& which, const std::optional<ConvBnWeights>& down, const Weight& proj,
                        int dim) {
      std::string t = normed;
      if (down) t = conv_bn(a + "." + which + ".down_conv", t, *down, s.kv_stride, s.dim, Act::kNone);
      t = conv(a + "." + which + ".proj", t, proj);
      t = g_.node("Reshape", a + "/" + which + "/Reshape", {t, g_.constant_i64(a + "." + which + "_shape", {1, dim, -1})});
      t = g_.node("Transpose", a + "/" + which + "/Transpose", {t}, {ints("perm", {0, 2, 1})});
      return g_.node("Unsqueeze", a + "/" + which + "/Unsqueeze", {t, g_.constant_i64(a + "." + which + "_axis", {1})});
    };
    const std::string k = kv("key", w.key_down, w.key, s.key_dim);
    const std::string v = kv("value", w.value_down, w.value, s.value_dim);
    q = g_.node("Mul", a + "/Mul", {q, g_.scalar(a + ".scale", 1.0f / std::sqrt(static_cast<float>(s.key_dim)))});
    const std::string kt = g_.node("Transpose", a + "/Transpose_3", {k}, {ints("perm", {0, 1, 3, 2})});
    std::string o = g_.node("MatMul", a + "/MatMul", {q, kt});
    o = g_.node("Softmax", a + "/Softmax", {o}, {one_int("axis", -1)});
    o = g_.node("MatMul", a + "/MatMul_1", {o, v});
    // [1, heads, L, vd] → [1, L, heads, vd] → [1, H, W, heads·vd] → NCHW.
    o = g_.node("Transpose", a + "/Transpose_4", {o}, {ints("perm", {0, 2, 1, 3})});
    o = g_.node("Reshape", a + "/Reshape_3",
                {o, g_.constant_i64(a + ".o_shape", {1, h_, w_, int64_t{s.heads} * s.value_dim})});
    o = g_.node("Transpose", a + "/Transpose_5", {o}, {ints("perm", {0, 3, 1, 2})});
    o = conv(a + ".output.proj", o, w.output);
    o = layer_scale(name, o, w.gamma);
    return g_.node("Add", name + "Add", {o, x});
  }
  std::string head(const std::string& x, const Head& s, HeadWeights& w) {
    std::string y = g_.node("GlobalAveragePool", "/global_pool/GlobalAveragePool", {x});
    y = conv_bn("conv_head", y, w.conv, 1, 1, s.act);
    y = g_.node("Flatten", "/flatten/Flatten", {y}, {one_int("axis", 1)});
    return g_.node("Gemm", "/classifier/Gemm",
                   {y, g_.constant("classifier.weight", w.fc_weight.shape, w.fc_weight.values),
                    g_.constant("classifier.bias", w.fc_bias.shape, w.fc_bias.values)},
                   {one_float("alpha", 1.0f), one_float("beta", 1.0f), one_int("transB", 1)});
  }

  void start(int h, int w) { h_ = h, w_ = w; }

 private:
  void advance(int k, int stride) {
    h_ = conv_out(h_, k, stride);
    w_ = conv_out(w_, k, stride);
  }
  Graph& g_;
  int h_ = 0, w_ = 0;
};

template <class Net, class Source>
std::string export_net(int h, int w, Source& source) {
  Graph g;
  Exporter e(g);
  e.start(h, w);
  g.io(11, "input", {1, 3, h, w});
  auto stem = make_weights(Net::stem);
  for_each_weight(stem, "", source);
  std::string x = e.block("", "input", Net::stem, stem);
  [&]<class... P>(TypeList<P...>) {
    (
        [&] {
          const std::string prefix = "blocks." + std::to_string(P::stage) + "." + std::to_string(P::index) + ".";
          auto weights = make_weights(P::spec);
          for_each_weight(weights, prefix, source);
          x = e.block(prefix, x, P::spec, weights);
        }(),
        ...);
  }(typename Net::blocks{});
  auto head = make_weights(Net::head);
  for_each_weight(head, "", source);
  x = e.head(x, Net::head, head);
  g.io(12, x, {1, Net::head.classes});
  return g.model(std::string(Net::name));
}

template <class Net>
std::string export_model(int h, int w, const std::string& checkpoint) {
  if (checkpoint.empty()) {
    io::RandomWeights source(0);  // the weights mnv4-run --bench uses
    return export_net<Net>(h, w, source);
  }
  const io::SafetensorsFile file = io::SafetensorsFile::open(checkpoint);
  io::CheckpointBinder binder(file, Net::name);
  std::string bytes = export_net<Net>(h, w, binder);
  binder.finish();
  return bytes;
}

int parse_side(const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 32 || v > 4096) {
    std::fprintf(stderr, "mnv4-export-onnx: resolution must be an integer in [32, 4096], got '%s'\n", text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: mnv4-export-onnx MODEL H W OUT.onnx [CKPT]\n");
    return 2;
  }
  const std::string_view model = argv[1];
  const int h = parse_side(argv[2]), w = parse_side(argv[3]);
  const std::string checkpoint = argc == 6 ? argv[5] : "";
  try {
    std::string bytes;
    [&]<class... N>(TypeList<N...>) {
      ((bytes.empty() && model == N::name ? void(bytes = export_model<N>(h, w, checkpoint)) : void()), ...);
    }(AllNetworks{});
    if (bytes.empty()) {
      std::fprintf(stderr, "mnv4-export-onnx: unknown model '%s' (mnv4-run --list names them)\n", argv[1]);
      return 2;
    }
    std::ofstream out(argv[4], std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::fprintf(stderr, "mnv4-export-onnx: cannot write %s\n", argv[4]);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnv4-export-onnx: %s\n", e.what());
    return 1;
  }
  return 0;
}
