// Hardening: workspace sizes are known before running, oversized inputs are
// refused with an error (never an OOM kill), NaN/Inf weights are refused at load,
// and a checkpoint of another model is named as such.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "checkpoint_util.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(Limits, WorkspaceBytesAreComputableBeforeRunning) {
  const std::size_t small = Model<ConvSmall>::workspace_bytes({1, 3, 224, 224});
  const std::size_t big = Model<ConvSmall>::workspace_bytes({1, 3, 448, 448});
  const std::size_t batch = Model<ConvSmall>::workspace_bytes({4, 3, 224, 224});
  EXPECT_GT(small, std::size_t{1} << 20);
  EXPECT_GT(big, 3 * small);  // ~4x the pixels
  EXPECT_GT(batch, 3 * small);
  std::printf("[ limits   ] Conv-S workspace: 224 %.1f MiB, 448 %.1f MiB, batch 4 @224 %.1f MiB; Hybrid-L @384 %.1f MiB\n",
              small / 1048576.0, big / 1048576.0, batch / 1048576.0,
              Model<HybridLarge>::workspace_bytes({1, 3, 384, 384}) / 1048576.0);
}

TEST(Limits, OversizedInputIsRefusedNotAllocated) {
  Model<ConvSmall> model;
  model.load_random(0);
  model.set_workspace_limit(64u << 20);
  // 2048 x 2048 needs far more than 64 MiB: refused before any buffer is touched.
  const Dims huge{1, 3, 2048, 2048};
  EXPECT_GT(Model<ConvSmall>::workspace_bytes(huge), 64u << 20);
  std::vector<float> logits(1000);
  Workspace ws;
  std::vector<float> input(1);  // never read: the check comes first
  EXPECT_THAT([&] { model.run(input.data(), huge, Layout::kNCHW, ws, logits.data()); },
              ThrowsMessage<Error>(AllOf(HasSubstr("H=2048 W=2048"), HasSubstr("MiB of workspace, over the limit of 64 MiB"))));
  // The default limit (half of RAM) still refuses absurd sizes.
  Model<ConvSmall> fresh;
  fresh.load_random(0);
  EXPECT_THAT([&] { fresh.run(input.data(), Dims{4096, 3, 4096, 4096}, Layout::kNCHW, ws, logits.data()); },
              ThrowsMessage<Error>(HasSubstr("over the limit")));
  EXPECT_THAT([&] { fresh.run(input.data(), Dims{1 << 20, 3, 1 << 20, 1 << 20}, Layout::kNCHW, ws, logits.data()); },
              ThrowsMessage<Error>(HasSubstr("too large to plan")));
  EXPECT_THAT([&] { fresh.run(input.data(), Dims{1, 3, 16, 300}, Layout::kNCHW, ws, logits.data()); },
              ThrowsMessage<Error>(HasSubstr("each at least 32x32")));
}

TEST(Limits, NonFiniteWeightsAreRefused) {
  StateDict sd = random_state_dict<ConvSmall>(1);
  sd["blocks.3.2.pw_exp.conv.weight"].values[5] = std::numeric_limits<float>::quiet_NaN();
  sd["classifier.bias"].values[0] = std::numeric_limits<float>::infinity();
  const auto path = temp_path("nan.safetensors");
  write_state_dict(path, sd);
  EXPECT_THAT([&] { Model<ConvSmall>{path}; },
              ThrowsMessage<Error>(AllOf(HasSubstr("2 tensors with NaN or Inf values"),
                                         HasSubstr("blocks.3.2.pw_exp.conv.weight: 1 of 65536 values are NaN or Inf"),
                                         HasSubstr("classifier.bias"))));
  std::filesystem::remove(path);
}

TEST(Limits, WrongModelCheckpointIsNamed) {
  const auto path = temp_path("hm075.safetensors");
  write_state_dict(path, random_state_dict<HybridMedium075>(3));
  EXPECT_THAT([&] { Model<HybridMedium>{path}; },
              ThrowsMessage<Error>(HasSubstr("holds a mobilenetv4_hybrid_medium_075 checkpoint")));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace mnv4::test
