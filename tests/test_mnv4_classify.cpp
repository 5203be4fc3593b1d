// End to end: mnv4-classify on real photos with the Conv-S golden checkpoint. Its
// --dump-input equals timm's preprocessing golden, and its top-5 equals the top-5
// of the logits path on that input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "compare.hpp"
#include "run_process.hpp"
#include "golden.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

using Result = ProcessResult;

Result run(const std::string& args) { return run_process(std::string(MNV4_CLASSIFY_BINARY) + " " + args); }

TEST(Mnv4Classify, ThreePhotosMatchPreprocessingAndLogitsPath) {
  const auto g = golden_dir();
  MNV4_REQUIRE_GOLDEN(g / "conv_small_224" / "model.safetensors");
  MNV4_REQUIRE_GOLDEN(g / "preprocess" / "chelsea.safetensors");
  const auto dump = std::filesystem::temp_directory_path() / ("mnv4_classify_" + std::to_string(::getpid()) + ".safetensors");
  const std::vector<std::string> photos{"chelsea", "coffee", "astronaut"};
  std::string args = "--model mobilenetv4_conv_small --weights " + (g / "conv_small_224" / "model.safetensors").string() +
                     " --dump-input " + dump.string();
  for (const auto& p : photos) args += " " + (g / "preprocess" / (p + ".png")).string();
  const Result r = run(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("%s", r.output.c_str());

  // The dumped batch is timm's preprocessing of each photo.
  const auto dumped = io::SafetensorsFile::open(dump);
  const Tensor batch = read_tensor(dumped, "input");
  ASSERT_EQ(batch.shape(), (Shape{3, 3, 224, 224}));
  const int64_t per = 3 * 224 * 224;
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const Tensor golden = read_tensor(io::SafetensorsFile::open(g / "preprocess" / (photos[i] + ".safetensors")), "s224_c875");
    const Tensor mine({1, 3, 224, 224}, std::vector<float>(batch.data() + static_cast<int64_t>(i) * per,
                                                           batch.data() + static_cast<int64_t>(i + 1) * per));
    double worst = 0.0;
    for (int64_t j = 0; j < per; ++j) worst = std::max(worst, std::abs(static_cast<double>(mine.data()[j]) - golden.data()[j]));
    EXPECT_LE(worst, 1.0 / 255 / 0.224 + 1e-6) << photos[i] << ": more than one 8-bit level from timm";
  }

  // The printed classes are the top-5 of the logits path on the same input.
  Model<ConvSmall> model(g / "conv_small_224" / "model.safetensors");
  const Tensor logits = model.run(batch);
  std::regex class_re(R"(class +(\d+))");
  std::vector<int> printed;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), class_re); it != std::sregex_iterator(); ++it)
    printed.push_back(std::stoi((*it)[1]));
  ASSERT_EQ(printed.size(), 15u);
  for (int n = 0; n < 3; ++n)
    EXPECT_EQ(std::vector<int>(printed.begin() + 5 * n, printed.begin() + 5 * n + 5), top_k(logits, n, 5)) << photos[static_cast<std::size_t>(n)];
  std::filesystem::remove(dump);
}

TEST(Mnv4Classify, BadInputsFailWithAMessage) {
  const auto g = golden_dir();
  MNV4_REQUIRE_GOLDEN(g / "conv_small_224" / "model.safetensors");
  const std::string base = "--model mobilenetv4_conv_small --weights " + (g / "conv_small_224" / "model.safetensors").string();
  const auto bad = std::filesystem::temp_directory_path() / ("mnv4_bad_" + std::to_string(::getpid()) + ".png");
  { std::FILE* f = std::fopen(bad.c_str(), "wb"); std::fputs("\x89PNG\r\n\x1a\n broken", f); std::fclose(f); }
  const std::pair<std::string, std::string> cases[] = {
      {base + " " + bad.string(), "cannot decode image"},
      {base + " /nonexistent.jpg", "/nonexistent.jpg: no such image file"},
      {base, "give at least one image"},
      {"--model mobilenetv4_conv_small " + bad.string(), "--weights is required"},
      {base + " --checkpoint-config e9_r1 " + bad.string(), "no pretrained config for 'mobilenetv4_conv_small.e9_r1'"},
      {base + " --top 0 x.png", "--top expects an integer from 1 to 1000"},
  };
  for (const auto& [args, message] : cases) {
    const Result r = run(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << args << "\n" << r.output;
  }
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace mnv4::test
