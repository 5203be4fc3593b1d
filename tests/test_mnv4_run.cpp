// End to end: mnv4-run on the shared goldens writes timm's outputs, and refuses
// bad arguments with a non-zero exit code and a message.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "compare.hpp"
#include "run_process.hpp"
#include "golden.hpp"
#include "mnv4/io/safetensors.hpp"
#include "mnv4/models/hybrid_medium.hpp"

namespace mnv4::test {
namespace {

using Result = ProcessResult;

Result run(const std::string& args) { return run_process(std::string(MNV4_RUN_BINARY) + " " + args); }

void check_golden(const std::string& model, const std::string& folder, const std::string& backend,
                  const std::string& isa = "") {
  const auto dir = golden_dir() / folder;
  MNV4_REQUIRE_GOLDEN(dir / "model.safetensors");
  const auto out = std::filesystem::temp_directory_path() / ("mnv4_run_" + std::to_string(::getpid()) + ".safetensors");
  const Result r = run("--model " + model + " --backend " + backend + (isa.empty() ? "" : " --isa " + isa) +
                       " --weights " + (dir / "model.safetensors").string() +
                       " --input " + (dir / "io.safetensors").string() + " --output " + out.string() + " --features");
  if (!isa.empty() && r.output.find("is not available") != std::string::npos)
    GTEST_SKIP() << "this CPU lacks " << isa;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("%s", r.output.c_str());
  const auto golden = io::SafetensorsFile::open(dir / "io.safetensors");
  const auto ours = io::SafetensorsFile::open(out);
  for (const char* key : {"logits", "pre_logits", "stem", "features.0", "features.1", "features.2", "features.3", "features.4"})
    EXPECT_TRUE(matches_golden(read_tensor(ours, key), read_tensor(golden, key), kModelTolerance,
                               "mnv4-run/" + backend + (isa.empty() ? "" : "-" + isa) + "/" + folder + "/" + key));
  std::filesystem::remove(out);
}

TEST(Mnv4Run, ConvSmallGolden) { check_golden("mobilenetv4_conv_small", "conv_small_224", "cpu"); }
TEST(Mnv4Run, HybridMediumGolden) { check_golden("mobilenetv4_hybrid_medium", "hybrid_medium_256", "cpu"); }
TEST(Mnv4Run, ConvSmallGoldenReference) { check_golden("mobilenetv4_conv_small", "conv_small_224", "reference"); }

// The default backend matches the goldens with every instruction set the build targets.
class Mnv4RunIsa : public ::testing::TestWithParam<std::string> {};
TEST_P(Mnv4RunIsa, ConvSmallGolden) { check_golden("mobilenetv4_conv_small", "conv_small_224", "cpu", GetParam()); }
TEST_P(Mnv4RunIsa, HybridMediumGolden) { check_golden("mobilenetv4_hybrid_medium", "hybrid_medium_256", "cpu", GetParam()); }
INSTANTIATE_TEST_SUITE_P(EveryIsa, Mnv4RunIsa, ::testing::Values("avx512bw", "avx2", "baseline"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(Mnv4Run, BenchOnSyntheticWeights) {
  const Result r = run("--model mobilenetv4_conv_small --resolution 64 48 --bench 2 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("median_ms="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("min_ms="), std::string::npos) << r.output;
}

TEST(Mnv4Run, ProfilePrintsEveryBlock) {
  const Result r = run("--model mobilenetv4_hybrid_medium --resolution 64 64 --bench 2 --threads 2 --profile");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::size_t rows = 0;
  for (std::size_t at = r.output.find("profile block="); at != std::string::npos;
       at = r.output.find("profile block=", at + 1))
    ++rows;
  EXPECT_EQ(rows, HybridMedium::num_blocks + 2) << r.output;  // conv_stem, every block, head
  EXPECT_NE(r.output.find("profile block=conv_stem kind=stem ms="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("profile block=blocks.3.1 kind=uib_extra_dw ms="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("profile block=head kind=head ms="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("profile total_ms="), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("passes=2"), std::string::npos) << r.output;
}

TEST(Mnv4Run, BadArgumentsFailWithAMessage) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "--model is required"},
      {"--model mobilenetv4_conv_tiny --bench 1", "unknown model 'mobilenetv4_conv_tiny'"},
      {"--model mobilenetv4_conv_small --bench 0", "--bench expects an integer >= 1"},
      {"--model mobilenetv4_conv_small --resolution 16 16 --bench 1", "--resolution expects an integer >= 32"},
      {"--model mobilenetv4_conv_small --backend gpu --bench 1", "unknown backend 'gpu'"},
      {"--model mobilenetv4_conv_small --frobnicate", "unknown argument '--frobnicate'"},
      {"--model mobilenetv4_conv_small --profile", "--profile needs --bench N"},
      {"--model mobilenetv4_conv_small --input in.safetensors --output out.safetensors",
       "--weights is required"},
      {"--model mobilenetv4_conv_small --weights /nonexistent.safetensors --input x --output y",
       "/nonexistent.safetensors: cannot open"},
  };
  for (const auto& [args, message] : cases) {
    const Result r = run(args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.output.find(message), std::string::npos) << "args: " << args << "\noutput: " << r.output;
  }
}

TEST(Mnv4Run, WrongInputKeyAndShape) {
  const auto dir = golden_dir() / "conv_small_224";
  MNV4_REQUIRE_GOLDEN(dir / "model.safetensors");
  const std::string base = "--model mobilenetv4_conv_small --weights " + (dir / "model.safetensors").string() +
                           " --input " + (dir / "io.safetensors").string() + " --output /tmp/never.safetensors";
  Result r = run(base + " --input-key nope");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no tensor 'nope'"), std::string::npos) << r.output;
  r = run(base + " --input-key logits");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("got shape [1,1000]"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace mnv4::test
