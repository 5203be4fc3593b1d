// Whole-model goldens: timm's logits, pre_logits, stem and every stage's features.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "compare.hpp"
#include "golden.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

template <class Net, class B>
void check_model(const std::string& folder) {
  const auto dir = golden_dir() / folder;
  MNV4_REQUIRE_GOLDEN(dir / "model.safetensors");
  MNV4_REQUIRE_GOLDEN(dir / "io.safetensors");
  const auto io_file = io::SafetensorsFile::open(dir / "io.safetensors");
  Model<Net, B> model(dir / "model.safetensors");
  const Tensor input = read_tensor(io_file, "input");
  const Features f = model.features(input);
  const std::string tag = std::string(B::name) + "/" + folder + "/";

  EXPECT_TRUE(matches_golden(f.stem, read_tensor(io_file, "stem"), kModelTolerance, tag + "stem"));
  ASSERT_EQ(f.stages.size(), 5u);
  for (int s = 0; s < 5; ++s) {
    const std::string key = "features." + std::to_string(s);
    EXPECT_TRUE(matches_golden(f.stages[static_cast<std::size_t>(s)], read_tensor(io_file, key), kModelTolerance,
                               tag + key));
  }
  EXPECT_TRUE(matches_golden(f.pre_logits, read_tensor(io_file, "pre_logits"), kModelTolerance, tag + "pre_logits"));
  const Tensor golden_logits = read_tensor(io_file, "logits");
  EXPECT_TRUE(matches_golden(f.logits, golden_logits, kModelTolerance, tag + "logits"));

  for (int row = 0; row < static_cast<int>(golden_logits.dim(0)); ++row) {
    auto ours = top_k(f.logits, row, 5), theirs = top_k(golden_logits, row, 5);
    EXPECT_EQ(ours.front(), theirs.front()) << "top-1 differs for image " << row;
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    EXPECT_EQ(ours, theirs) << "top-5 classes differ for image " << row;
  }

  // The logits-only path gives the same numbers as the features path.
  const Tensor logits = model.run(input);
  EXPECT_TRUE(std::equal(logits.values().begin(), logits.values().end(), f.logits.values().begin()));

  // Two intra-op threads split rows, column panels and attention rows, but every
  // output element is summed in the same order: the same bits as one thread.
  model.set_threads(2);
  const Features f2 = model.features(input);
  EXPECT_TRUE(matches_golden(f2.logits, golden_logits, kModelTolerance, tag + "logits (2 threads)"));
  for (int s = 0; s < 5; ++s) {
    const auto& one = f.stages[static_cast<std::size_t>(s)].values();
    EXPECT_TRUE(std::equal(one.begin(), one.end(), f2.stages[static_cast<std::size_t>(s)].values().begin()))
        << "features." << s << " differ between 1 and 2 threads";
  }
  EXPECT_TRUE(std::equal(f.logits.values().begin(), f.logits.values().end(), f2.logits.values().begin()))
      << "logits differ between 1 and 2 threads";
}

template <class B>
class GoldenModel : public ::testing::Test {};
using Backends = ::testing::Types<backend::Reference, backend::Cpu>;
struct BackendName {
  template <class B>
  static std::string GetName(int) {
    return std::string(B::name);
  }
};
TYPED_TEST_SUITE(GoldenModel, Backends, BackendName);

TYPED_TEST(GoldenModel, ConvSmall224) { check_model<ConvSmall, TypeParam>("conv_small_224"); }
TYPED_TEST(GoldenModel, HybridMedium256) { check_model<HybridMedium, TypeParam>("hybrid_medium_256"); }

}  // namespace
}  // namespace mnv4::test
