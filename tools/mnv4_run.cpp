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

#include "mnv4/dispatch/runner.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/model.hpp"

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
  --isa ISA           force an instruction set: avx512bw, avx2 or baseline (default: the best available)
  --resolution H W    input size for --bench (default 224 224)
  --batch N           batch size for --bench (default 1)
  --bench N           time N forward passes after 3 warm-ups; prints median_ms=, min_ms=
  --profile           with --bench: then N more passes with every block timed; one line a block
                      (block=conv_stem|blocks.S.I|head kind= ms= share= gflops=), mean per pass
  --list              print the known model names
)";

struct UsageError {
  std::string message;
};

struct Options {
  std::string model, weights, input, input_key = "input", output, backend = "cpu", isa;
  bool features = false, nhwc = false, list = false, profile = false;
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
    else if (a == "--isa") o.isa = *value();
    else if (a == "--features") o.features = true;
    else if (a == "--nhwc") o.nhwc = true;
    else if (a == "--list") o.list = true;
    else if (a == "--profile") o.profile = true;
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
  if (o.profile && o.bench == 0) throw UsageError{"--profile needs --bench N"};
  if (o.bench == 0 && (o.input.empty() || o.output.empty()))
    throw UsageError{"give --input and --output to run on a tensor, or --bench N to time"};
  if (o.bench == 0 && o.weights.empty()) throw UsageError{"--weights is required unless --bench is given"};
  return o;
}

void write_outputs(const Options& o, const std::vector<mnv4::dispatch::Array>& arrays) {
  std::vector<mnv4::io::TensorView> out;
  for (const auto& a : arrays) out.push_back({a.name, a.shape, a.values});
  mnv4::io::write_safetensors(o.output, out);
}

// Separate passes from the timed ones, so the clock reads never touch median_ms.
template <class Pass>
void print_profile(mnv4::dispatch::Runner& model, int passes, Pass&& pass) {
  model.enable_profiling(true);
  for (int i = 0; i < passes; ++i) pass();
  const mnv4::dispatch::Profile p = model.profile();
  model.enable_profiling(false);
  double total = 0;
  for (const auto& b : p.blocks) total += b.seconds;
  for (const auto& b : p.blocks) {
    const double ms = 1e3 * b.seconds / static_cast<double>(p.passes);
    std::printf("profile block=%s kind=%s ms=%.4f share=%.1f%% gflops=%.1f\n", b.block.c_str(), b.kind.c_str(), ms,
                100.0 * b.seconds / total, 2.0 * static_cast<double>(b.macs) / (ms * 1e6));
  }
  std::printf("profile total_ms=%.3f passes=%lld\n", 1e3 * total / static_cast<double>(p.passes),
              static_cast<long long>(p.passes));
}

int run(const Options& o) {
  const mnv4::dispatch::RunnerSet set = mnv4::dispatch::runners(o.isa);
  if (set.make == nullptr)
    throw UsageError{"instruction set '" + o.isa + "' is not available on this CPU or in this build"};
  if (o.list) {
    for (const std::string& n : set.model_names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  auto model = set.make(o.model, o.backend);
  model->set_threads(o.threads);
  if (!o.weights.empty())
    model->load(o.weights);
  else
    model->load_random(0);

  if (o.bench > 0) {
    const std::vector<int64_t> shape{o.batch, 3, o.height, o.width};
    std::vector<float> input(static_cast<std::size_t>(mnv4::shape_numel(shape)));
    for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>((i * 7919) % 255) / 255.0f - 0.5f;
    std::vector<float> logits(static_cast<std::size_t>(o.batch) * 1000);
    for (int i = 0; i < 3; ++i) model->run_into(input.data(), shape, logits.data());
    std::vector<double> ms;
    for (int i = 0; i < o.bench; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      model->run_into(input.data(), shape, logits.data());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    const double gflops = 2.0 * static_cast<double>(model->macs(o.height, o.width)) * o.batch / (median * 1e6);
    std::printf("model=%s backend=%s isa=%s batch=%d resolution=%dx%d threads=%d params=%lld macs=%lld "
                "median_ms=%.3f min_ms=%.3f gflops=%.1f\n",
                model->model().c_str(), model->backend().c_str(), model->isa().c_str(), o.batch, o.height, o.width,
                o.threads, static_cast<long long>(model->params()), static_cast<long long>(model->macs(o.height, o.width)),
                median, ms.front(), gflops);
    if (o.profile) print_profile(*model, o.bench, [&] { model->run_into(input.data(), shape, logits.data()); });
    return 0;
  }

  const auto file = mnv4::io::SafetensorsFile::open(o.input);
  const mnv4::io::TensorEntry& entry = file.at(o.input_key);
  const std::vector<float> input = file.to_float(entry);
  const std::vector<mnv4::dispatch::Array> out = model->run(input.data(), entry.shape, o.nhwc, o.features);
  write_outputs(o, out);
  const mnv4::dispatch::Array& logits = out.front();
  std::printf("%s (%s, %s): wrote %s: logits %s", model->model().c_str(), model->backend().c_str(),
              model->isa().c_str(), o.output.c_str(), mnv4::shape_string(logits.shape).c_str());
  if (o.features) std::printf(" + stem, features.0-%zu, pre_logits", out.size() - 4);
  std::printf("\n");
  const int classes = static_cast<int>(logits.shape[1]);
  for (int n = 0; n < static_cast<int>(logits.shape[0]); ++n) {
    const float* row = logits.values.data() + static_cast<std::ptrdiff_t>(n) * classes;
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
