// mnv4-classify: photos in, ImageNet top-k out, with timm's exact preprocessing.
//
//   mnv4-classify --model mobilenetv4_conv_small --weights model.safetensors cat.png dog.jpg
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <string>
#include <vector>

#include "mnv4/dispatch/runner.hpp"
#include "mnv4/extras/image_file.hpp"
#include "mnv4/extras/imagenet_labels.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/preprocess/transform.hpp"

namespace {

constexpr const char* kUsage = R"(usage: mnv4-classify --model NAME --weights CKPT [options] IMAGE...

  --model NAME               timm model name, e.g. mobilenetv4_conv_small
  --weights CKPT             timm checkpoint (model.safetensors)
  --checkpoint-config TAG    pretrained config whose preprocessing to use (default: the model's,
                             e.g. e2400_r224_in1k); append @test for its test size and crop
  --top K                    classes to print per image (default 5)
  --threads N                intra-op threads (default 1)
  --dump-input FILE          write the preprocessed batch as safetensors (key 'input')
)";

struct UsageError {
  std::string message;
};

int parse_int(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 1000)
    throw UsageError{flag + " expects an integer from 1 to 1000, got '" + text + "'"};
  return static_cast<int>(v);
}

int run(int argc, char** argv) {
  std::string model, weights, config_tag, dump;
  int top = 5, threads = 1;
  std::vector<std::string> images;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) throw UsageError{a + " needs a value"};
      return argv[++i];
    };
    if (a == "--model") model = value();
    else if (a == "--weights") weights = value();
    else if (a == "--checkpoint-config") config_tag = value();
    else if (a == "--top") top = parse_int(a, value());
    else if (a == "--threads") threads = parse_int(a, value());
    else if (a == "--dump-input") dump = value();
    else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a.rfind("--", 0) == 0) throw UsageError{"unknown argument '" + a + "'"};
    else images.push_back(a);
  }
  if (model.empty()) throw UsageError{"--model is required"};
  if (weights.empty()) throw UsageError{"--weights is required"};
  if (images.empty()) throw UsageError{"give at least one image"};

  const bool test_size = config_tag.size() > 5 && config_tag.ends_with("@test");
  if (test_size) config_tag.resize(config_tag.size() - 5);
  const std::string checkpoint = config_tag.empty() ? model : model + "." + config_tag;
  const auto config = mnv4::pretrained_config(checkpoint);
  if (!config) throw UsageError{"no pretrained config for '" + checkpoint + "' (see SPEC.md's checkpoint table)"};
  const mnv4::EvalTransform transform = config->transform(test_size);

  // Every image becomes size × size, so they all run as one batch.
  const int64_t per_image = 3 * static_cast<int64_t>(transform.size) * transform.size;
  std::vector<float> batch;
  batch.reserve(static_cast<std::size_t>(per_image) * images.size());
  for (const std::string& path : images) {
    const mnv4::Tensor x = mnv4::preprocess(mnv4::load_image(path).view(), transform);
    batch.insert(batch.end(), x.values().begin(), x.values().end());
  }
  const std::vector<int64_t> shape{static_cast<int64_t>(images.size()), 3, transform.size, transform.size};
  if (!dump.empty()) {
    const mnv4::io::TensorView view{"input", shape, batch};
    mnv4::io::write_safetensors(dump, std::span(&view, 1));
  }

  const mnv4::dispatch::RunnerSet set = mnv4::dispatch::runners();
  auto net = set.make(model, "cpu");
  net->set_threads(threads);
  net->load(weights);
  std::vector<float> logits(images.size() * 1000);
  const auto t0 = std::chrono::steady_clock::now();
  net->run_into(batch.data(), shape, logits.data());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::printf("%s (%s), %s preprocessing: %d px, crop %.3f; batch of %zu in %.2f ms (first run)\n",
              net->model().c_str(), net->isa().c_str(), std::string(config->checkpoint).c_str(), transform.size,
              transform.crop_pct, images.size(), ms);
  for (std::size_t n = 0; n < images.size(); ++n) {
    const float* row = logits.data() + n * 1000;
    const float max_logit = *std::max_element(row, row + 1000);
    double total = 0.0;
    for (int c = 0; c < 1000; ++c) total += std::exp(static_cast<double>(row[c] - max_logit));
    std::vector<int> order(1000);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int a, int b) { return row[a] > row[b]; });
    std::printf("%s\n", images[n].c_str());
    for (int k = 0; k < top; ++k) {
      const int c = order[static_cast<std::size_t>(k)];
      const double p = std::exp(static_cast<double>(row[c] - max_logit)) / total;
      std::printf("  %2d. %-28.*s class %4d  p=%.4f  logit=%.4f\n", k + 1,
                  static_cast<int>(mnv4::kImageNetLabels[static_cast<std::size_t>(c)].size()),
                  mnv4::kImageNetLabels[static_cast<std::size_t>(c)].data(), c, p, static_cast<double>(row[c]));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mnv4-classify: %s\n\n%s", e.message.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnv4-classify: error: %s\n", e.what());
    return 1;
  }
}
