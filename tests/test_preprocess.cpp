// Preprocessing against timm's own eval transform of three real photos at five
// (size, crop_pct) pairs: every value within one 8-bit level, and the count of
// exactly equal values reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>

#include "compare.hpp"
#include "golden.hpp"
#include "mnv4/extras/image_file.hpp"
#include "mnv4/preprocess/transform.hpp"

namespace mnv4::test {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

struct Case {
  std::string image, key;
  int size;
  double crop_pct;
};

class PreprocessGolden : public ::testing::TestWithParam<Case> {};

TEST_P(PreprocessGolden, WithinOneLevelOfTimm) {
  const Case& c = GetParam();
  const auto dir = golden_dir() / "preprocess";
  MNV4_REQUIRE_GOLDEN(dir / (c.image + ".safetensors"));
  const Image img = load_image(dir / (c.image + ".png"));
  const Tensor ours = preprocess(img.view(), EvalTransform{c.size, c.crop_pct});
  const auto file = io::SafetensorsFile::open(dir / (c.image + ".safetensors"));
  const Tensor golden = read_tensor(file, c.key);
  ASSERT_EQ(ours.shape(), golden.shape());
  const EvalTransform t;
  const int64_t plane = static_cast<int64_t>(c.size) * c.size;
  int64_t exact = 0;
  double worst_levels = 0.0;
  for (int64_t i = 0; i < golden.numel(); ++i) {
    const float s = t.std[static_cast<std::size_t>(i / plane)];
    const double levels = std::abs(static_cast<double>(ours.data()[i]) - golden.data()[i]) * s * 255.0;
    worst_levels = std::max(worst_levels, levels);
    exact += levels < 1e-3 ? 1 : 0;
  }
  const double pct = 100.0 * static_cast<double>(exact) / static_cast<double>(golden.numel());
  RecordProperty("exact_pct", std::to_string(pct));
  std::printf("[ preproc  ] %-9s %-10s max diff %.3f levels, %lld/%lld exactly equal (%.3f%%)\n", c.image.c_str(),
              c.key.c_str(), worst_levels, static_cast<long long>(exact), static_cast<long long>(golden.numel()), pct);
  EXPECT_LE(worst_levels, 1.0 + 1e-3);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* image : {"astronaut", "chelsea", "coffee"})
    for (const auto& [key, size, crop] : {std::tuple{"s224_c875", 224, 0.875}, std::tuple{"s256_c950", 256, 0.95},
                                          std::tuple{"s384_c950", 384, 0.95}, std::tuple{"s320_c1000", 320, 1.0},
                                          std::tuple{"s193_c900", 193, 0.9}})
      cases.push_back({image, key, size, crop});
  return cases;
}
INSTANTIATE_TEST_SUITE_P(Photos, PreprocessGolden, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.image + "_" + p.param.key; });

TEST(Preprocess, LayoutsAgree) {
  Image img{40, 30, std::vector<uint8_t>(40 * 30 * 3)};
  for (std::size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>(i * 37);
  const Tensor nchw = preprocess(img.view(), {24, 0.875}), nhwc = preprocess(img.view(), {24, 0.875}, Layout::kNHWC);
  ASSERT_EQ(nhwc.shape(), (Shape{1, 24, 24, 3}));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 24 * 24; ++i) ASSERT_EQ(nchw.data()[c * 576 + i], nhwc.data()[i * 3 + c]);
}

TEST(Preprocess, PretrainedConfigs) {
  const auto c = pretrained_config("mobilenetv4_conv_small.e2400_r224_in1k");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->train_size, 224);
  EXPECT_EQ(pretrained_config("mobilenetv4_hybrid_large")->test_size, 448);
  EXPECT_FALSE(pretrained_config("resnet50").has_value());
  EXPECT_EQ(c->transform(true).size, 256);
}

TEST(Preprocess, BadArgumentsAreErrors) {
  Image img{10, 10, std::vector<uint8_t>(300)};
  EXPECT_THAT([&] { preprocess(img.view(), {8, 0.0}); }, ThrowsMessage<Error>(HasSubstr("crop_pct must be in (0, 1], got 0")));
  EXPECT_THAT([&] { preprocess(img.view(), {8, 1.5}); }, ThrowsMessage<Error>(HasSubstr("crop_pct must be in (0, 1]")));
  EXPECT_THAT([&] { preprocess(img.view(), {0, 0.9}); }, ThrowsMessage<Error>(HasSubstr("size must be >= 1")));
  EXPECT_THAT([&] { preprocess(ImageView{10, 10, {img.rgb.data(), 299}}, {8, 0.9}); },
              ThrowsMessage<Error>(HasSubstr("10x10 RGB needs 300 bytes, got 299")));
  EXPECT_THAT([&] { preprocess(ImageView{0, 10, {}}, {8, 0.9}); }, ThrowsMessage<Error>(HasSubstr("must be >= 1, got 0x10")));
}

TEST(ImageFile, DecodingErrorsNameTheFile) {
  const auto tmp = std::filesystem::temp_directory_path() / ("mnv4_img_" + std::to_string(::getpid()));
  EXPECT_THAT([&] { load_image(tmp / "missing.png"); }, ThrowsMessage<Error>(HasSubstr("missing.png: no such image file")));
  std::filesystem::create_directories(tmp);
  {
    std::ofstream(tmp / "text.png") << "this is not an image";
  }
  EXPECT_THAT([&] { load_image(tmp / "text.png"); }, ThrowsMessage<Error>(HasSubstr("text.png: cannot decode image")));
  const auto golden = golden_dir() / "preprocess" / "chelsea.png";
  if (std::filesystem::exists(golden)) {
    std::ifstream in(golden, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(tmp / "truncated.png", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
    EXPECT_THAT([&] { load_image(tmp / "truncated.png"); }, ThrowsMessage<Error>(HasSubstr("truncated.png: cannot decode")));
    const Image ok = load_image(golden);
    EXPECT_EQ(ok.width, 451);
    EXPECT_EQ(ok.height, 300);
  }
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace mnv4::test
