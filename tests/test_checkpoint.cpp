// Binding timm checkpoints: every way a state_dict can disagree with the model
// is an error naming the key and expected vs found; F16/BF16 load; the optional
// num_batches_tracked buffers are accepted either way.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "checkpoint_util.hpp"
#include "compare.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class CheckpointTest : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }
  std::filesystem::path path_ = temp_path("ckpt.safetensors");
};

Tensor probe_input() {
  Tensor t({1, 3, 64, 48});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>((i * 13) % 97) / 48.0f - 1.0f;
  return t;
}

TEST_F(CheckpointTest, RoundTripOfARandomStateDict) {
  const StateDict sd = random_state_dict<ConvSmall>(1);
  write_state_dict(path_, sd);
  Model<ConvSmall> from_file(path_);
  Model<ConvSmall> direct;
  direct.load_random(1);  // the same weights, bound without a file
  EXPECT_EQ(relative_error(from_file.run(probe_input()), direct.run(probe_input())), 0.0);
}

TEST_F(CheckpointTest, NumBatchesTrackedPresentOrAbsent) {
  const StateDict sd = random_state_dict<ConvSmall>(2);
  write_state_dict(path_, sd, "F32", {i64_scalar("bn1.num_batches_tracked", 1234)});
  EXPECT_NO_THROW(Model<ConvSmall>{path_});
  // ...but only next to a BatchNorm the model has.
  write_state_dict(path_, sd, "F32", {i64_scalar("blocks.9.0.bn1.num_batches_tracked", 1)});
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; },
              ThrowsMessage<Error>(AllOf(HasSubstr("unexpected tensors"), HasSubstr("blocks.9.0.bn1.num_batches_tracked"))));
}

TEST_F(CheckpointTest, MissingTensorNamesKeyAndExpectedShape) {
  StateDict sd = random_state_dict<ConvSmall>(3);
  sd.erase("blocks.2.0.pw_exp.conv.weight");
  write_state_dict(path_, sd);
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; },
              ThrowsMessage<Error>(AllOf(HasSubstr(path_.string()), HasSubstr("does not match mobilenetv4_conv_small"),
                                         HasSubstr("1 missing tensors"),
                                         HasSubstr("blocks.2.0.pw_exp.conv.weight [192,64,1,1]"))));
}

TEST_F(CheckpointTest, UnexpectedTensorIsNamed) {
  StateDict sd = random_state_dict<ConvSmall>(4);
  sd["blocks.2.0.extra.weight"] = {{4}, {1, 2, 3, 4}};
  write_state_dict(path_, sd);
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; },
              ThrowsMessage<Error>(AllOf(HasSubstr("1 unexpected tensors"), HasSubstr("blocks.2.0.extra.weight [4]"))));
}

TEST_F(CheckpointTest, ShapeMismatchSaysExpectedAndFound) {
  StateDict sd = random_state_dict<ConvSmall>(5);
  sd["classifier.weight"] = {{10, 1280}, std::vector<float>(12800, 0.0f)};
  write_state_dict(path_, sd);
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; },
              ThrowsMessage<Error>(HasSubstr("classifier.weight: expected [1000,1280], found [10,1280]")));
}

TEST_F(CheckpointTest, CheckpointOfAnotherModelIsDiagnosed) {
  write_state_dict(path_, random_state_dict<ConvMedium>(6));
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; },
              ThrowsMessage<Error>(AllOf(HasSubstr("does not match mobilenetv4_conv_small"),
                                         HasSubstr("holds a mobilenetv4_conv_medium checkpoint"))));
}

TEST_F(CheckpointTest, IntegerTensorWhereWeightsBelong) {
  StateDict sd = random_state_dict<ConvSmall>(7);
  sd.erase("bn1.running_mean");
  RawEntry bad{"bn1.running_mean", "I64", {32}, std::vector<unsigned char>(32 * 8, 0)};
  write_state_dict(path_, sd, "F32", {bad});
  EXPECT_THAT([&] { Model<ConvSmall>{path_}; }, ThrowsMessage<Error>(HasSubstr("bn1.running_mean")));
}

// F16 and BF16 checkpoints load (converted at load) and give exactly what the F32
// checkpoint holding the same rounded values gives.
TEST_F(CheckpointTest, HalfAndBfloat16Checkpoints) {
  for (const std::string dtype : {"F16", "BF16"}) {
    StateDict sd = random_state_dict<ConvSmall>(8);
    for (auto& [name, e] : sd)
      for (float& v : e.values) v = dtype == "F16" ? from_f16(to_f16(v)) : from_bf16(to_bf16(v));
    write_state_dict(path_, sd, dtype);
    Model<ConvSmall> half(path_);
    write_state_dict(path_, sd, "F32");
    Model<ConvSmall> full(path_);
    EXPECT_EQ(relative_error(half.run(probe_input()), full.run(probe_input())), 0.0) << dtype;
  }
}

TEST(CheckpointFile, MissingFileIsAClearError) {
  EXPECT_THAT([] { Model<ConvSmall>{"/nonexistent/model.safetensors"}; },
              ThrowsMessage<Error>(HasSubstr("/nonexistent/model.safetensors")));
}

}  // namespace
}  // namespace mnv4::test
