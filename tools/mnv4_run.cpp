// mnv4-run: run a MobileNetV4 model on a tensor stored in safetensors, or time it.
//
//   mnv4-run --model mobilenetv4_conv_small --weights model.safetensors
//            --input in.safetensors [--input-key input] --output out.safetensors [--features]
//   mnv4-run --model mobilenetv4_conv_small --resolution 224 224 --bench 50
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mnv4/io/safetensors.hpp"
#include "mnv4/registry.hpp"

namespace {

constexpr const char* kUsage = R"(usage:
  mnv4-run --model NAME --weights CKPT --input IN --output OUT [options]
  mnv4-run --model NAME [--weights CKPT] --resolution H W --bench N [options]

  --model NAME        timm model name, e.g. mobilenetv4_conv_small (see --list)
  --weights CKPT      timm checkpoint (safetensors); without it: synthetic weights (--bench only)
  --input IN          safetensors file holding an NCHW float tensor
  --input-key KEY     tensor name inside IN (default: input)
  --nhwc              the input tensor is NHWC instead of NCHW
  --output OUT        write 'logits' (and with --features: stem, features.0..4, pre_logits)
  --features          also write the stem, every stage's features and pre_logits
  --backend B         cpu (default) or reference
  --threads N         intra-op threads (default 1)
  --resolution H W    input size for --bench (default 224 224)
  --batch N           batch size for --bench (default 1)
  --bench N           time N forward passes after 3 warm-ups; prints median_ms=, min_ms=
  --list              print the known model names
)";

struct UsageError {
  std::string message;
};

struct Options {
  std::string model, weights, input, input_key = "input", output, backend = "cpu";
  bool features = false, nhwc = false, list = false;
  int threads = 1, height = 224, width = 224, batch = 1, bench = 0;
};

int parse_int(std::string_view flag, const char* text, int min_value) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < min_value || v > 1 << 20)
    throw UsageError{std::string(flag) + " expects an integer >= " + std::to_string(min_value) + ", got '" + text + "'"};
  return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto value = [&](int count = 1) -> char** {
      if (i + count >= argc) throw UsageError{std::string(a) + " needs " + std::to_string(count) + " value(s)"};
      char** v = argv + i + 1;
      i += count;
      return v;
    };
    if (a == "--model") o.model = *value();
    else if (a == "--weights") o.weights = *value();
    else if (a == "--input") o.input = *value();
    else if (a == "--input-key") o.input_key = *value();
    else if (a == "--output") o.output = *value();
    else if (a == "--backend") o.backend = *value();
    else if (a == "--features") o.features = true;
    else if (a == "--nhwc") o.nhwc = true;
    else if (a == "--list") o.list = true;
    else if (a == "--threads") o.threads = parse_int(a, *value(), 1);
    else if (a == "--batch") o.batch = parse_int(a, *value(), 1);
    else if (a == "--bench") o.bench = parse_int(a, *value(), 1);
    else if (a == "--resolution") {
      char** v = value(2);
      o.height = parse_int(a, v[0], mnv4::kMinInputSide);
      o.width = parse_int(a, v[1], mnv4::kMinInputSide);
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      throw UsageError{"unknown argument '" + std::string(a) + "'"};
    }
  }
  if (o.list) return o;
  if (o.model.empty()) throw UsageError{"--model is required"};
  if (o.bench == 0 && (o.input.empty() || o.output.empty()))
    throw UsageError{"give --input and --output to run on a tensor, or --bench N to time"};
  if (o.bench == 0 && o.weights.empty()) throw UsageError{"--weights is required unless --bench is given"};
  return o;
}

void write_outputs(const Options& o, const mnv4::Features& f) {
  std::vector<mnv4::io::TensorView> out;
  const auto add = [&](std::string name, const mnv4::Tensor& t) { out.push_back({std::move(name), t.shape(), t.values()}); };
  add("logits", f.logits);
  if (o.features) {
    add("stem", f.stem);
    for (std::size_t s = 0; s < f.stages.size(); ++s) add("features." + std::to_string(s), f.stages[s]);
    add("pre_logits", f.pre_logits);
  }
  mnv4::io::write_safetensors(o.output, out);
}

int run(const Options& o) {
  if (o.list) {
    for (std::string_view n : mnv4::model_names()) std::printf("%.*s\n", static_cast<int>(n.size()), n.data());
    return 0;
  }
  auto model = mnv4::make_model(o.model, o.backend);
  model->set_threads(o.threads);
  if (!o.weights.empty())
    model->load(o.weights);
  else
    model->load_random(0);
  const mnv4::Layout layout = o.nhwc ? mnv4::Layout::kNHWC : mnv4::Layout::kNCHW;

  if (o.bench > 0) {
    mnv4::Tensor input = o.nhwc ? mnv4::Tensor({o.batch, o.height, o.width, 3}) : mnv4::Tensor({o.batch, 3, o.height, o.width});
    for (std::size_t i = 0; i < input.values().size(); ++i) input.data()[i] = static_cast<float>((i * 7919) % 255) / 255.0f - 0.5f;
    for (int i = 0; i < 3; ++i) model->run(input, layout);
    std::vector<double> ms;
    for (int i = 0; i < o.bench; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      model->run(input, layout);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    const double gflops = 2.0 * static_cast<double>(model->macs(o.height, o.width)) * o.batch / (median * 1e6);
    std::printf("model=%.*s backend=%.*s batch=%d resolution=%dx%d threads=%d median_ms=%.3f min_ms=%.3f gflops=%.1f\n",
                static_cast<int>(model->name().size()), model->name().data(), static_cast<int>(model->backend().size()),
                model->backend().data(), o.batch, o.height, o.width, o.threads, median, ms.front(), gflops);
    return 0;
  }

  const auto file = mnv4::io::SafetensorsFile::open(o.input);
  const mnv4::io::TensorEntry& entry = file.at(o.input_key);
  const mnv4::Tensor input(entry.shape, file.to_float(entry));
  const mnv4::Features f = model->features(input, layout);
  write_outputs(o, f);
  std::printf("wrote %s: logits %s", o.output.c_str(), mnv4::shape_string(f.logits.shape()).c_str());
  if (o.features) std::printf(" + stem, features.0-%zu, pre_logits", f.stages.size() - 1);
  std::printf("\n");
  const int classes = static_cast<int>(f.logits.dim(1));
  for (int n = 0; n < static_cast<int>(f.logits.dim(0)); ++n) {
    const float* row = f.logits.data() + static_cast<std::ptrdiff_t>(n) * classes;
    std::printf("image %d: top-1 class %ld (logit %.4f)\n", n, std::max_element(row, row + classes) - row,
                static_cast<double>(*std::max_element(row, row + classes)));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mnv4-run: %s\n\n%s", e.message.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnv4-run: error: %s\n", e.what());
    return 1;
  }
}
