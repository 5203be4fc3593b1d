// Every single-block golden of ../shared/golden/blocks against the same block of
// the model it came from, on every CPU backend.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "compare.hpp"
#include "golden.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

// Runs one block, loaded from a block golden file, on NCHW input; returns NCHW output.
template <class B, auto Spec>
Tensor run_block(const io::SafetensorsFile& file, const Tensor& input) {
  using Impl = block_impl_t<B, Spec>;
  io::CheckpointBinder binder(file, "block");
  auto weights = make_weights(Spec);
  for_each_weight(weights, "", binder);
  binder.finish({"input", "output"});
  const Impl impl(std::move(weights));

  const Dims in{static_cast<int>(input.dim(0)), static_cast<int>(input.dim(1)), static_cast<int>(input.dim(2)),
                static_cast<int>(input.dim(3))};
  AlignedBuffer x(in.count()), scratch(Impl::scratch_floats(in) + 1);
  convert_layout(input.data(), Layout::kNCHW, in, x.data(), Impl::layout);
  const RunContext ctx{};
  if constexpr (std::is_same_v<std::remove_cvref_t<decltype(Spec)>, Head>) {
    Tensor pre({in.n, Spec.hidden}), logits({in.n, Spec.classes});
    impl.run(x.data(), in, pre.data(), logits.data(), scratch.data(), ctx);
    return logits;
  } else {
    const Dims o = Impl::output_dims(in);
    AlignedBuffer y(o.count());
    impl.run(x.data(), in, y.data(), scratch.data(), ctx);
    Tensor out({o.n, o.c, o.h, o.w});
    convert_layout(y.data(), Impl::layout, o, out.data(), Layout::kNCHW);
    return out;
  }
}

template <class B, auto Spec>
void check_block(const std::string& file_name) {
  const auto path = golden_dir() / "blocks" / file_name;
  MNV4_REQUIRE_GOLDEN(path);
  const auto file = io::SafetensorsFile::open(path);
  const Tensor input = read_tensor(file, "input");
  const Tensor expected = read_tensor(file, "output");
  const Tensor ours = run_block<B, Spec>(file, input);
  EXPECT_TRUE(matches_golden(ours, expected, kBlockTolerance, std::string(B::name) + "/" + file_name));
}

template <class B>
class GoldenBlock : public ::testing::Test {};
using Backends = ::testing::Types<backend::Reference, backend::Cpu>;
struct BackendName {
  template <class B>
  static std::string GetName(int) {
    return std::string(B::name);
  }
};
TYPED_TEST_SUITE(GoldenBlock, Backends, BackendName);

template <class Net, int S, int I>
inline constexpr auto spec_at = Net::template block_at<S, I>::spec;

#define MNV4_BLOCK_CASE(test_name, file, spec) \
  TYPED_TEST(GoldenBlock, test_name) { check_block<TypeParam, spec>(file); }

MNV4_BLOCK_CASE(StemRelu, "block_stem_relu.safetensors", ConvSmall::stem)
MNV4_BLOCK_CASE(StemGelu, "block_stem_gelu.safetensors", HybridLarge::stem)
MNV4_BLOCK_CASE(ConvBnK3S2Relu, "block_convbnact_k3_s2_relu.safetensors", (spec_at<ConvSmall, 0, 0>))
MNV4_BLOCK_CASE(ConvBnK1S1Relu, "block_convbnact_k1_s1_relu.safetensors", (spec_at<ConvSmall, 0, 1>))
MNV4_BLOCK_CASE(ConvBnK1S1Gelu, "block_convbnact_k1_s1_gelu.safetensors", (spec_at<HybridLarge, 4, 0>))
MNV4_BLOCK_CASE(FusedIbS2Relu, "block_fusedib_s2_noskip_relu.safetensors", (spec_at<ConvMedium, 0, 0>))
MNV4_BLOCK_CASE(FusedIbS2Gelu, "block_fusedib_s2_noskip_gelu.safetensors", (spec_at<HybridLarge, 0, 0>))
MNV4_BLOCK_CASE(UibExtraDwS2Relu, "block_uib_extradw_s2_noskip_nols_relu.safetensors", (spec_at<ConvSmall, 2, 0>))
MNV4_BLOCK_CASE(UibIrS1Relu, "block_uib_ir_s1_skip_nols_relu.safetensors", (spec_at<ConvSmall, 2, 1>))
MNV4_BLOCK_CASE(UibConvNextS1Relu, "block_uib_convnext_s1_skip_nols_relu.safetensors", (spec_at<ConvSmall, 2, 5>))
MNV4_BLOCK_CASE(UibExtraDwS1Relu, "block_uib_extradw_s1_skip_nols_relu.safetensors", (spec_at<ConvSmall, 3, 1>))
MNV4_BLOCK_CASE(UibFfnS1Relu, "block_uib_ffn_s1_skip_nols_relu.safetensors", (spec_at<ConvMedium, 2, 6>))
MNV4_BLOCK_CASE(UibExtraDwS2LsRelu, "block_uib_extradw_s2_noskip_ls_relu.safetensors", (spec_at<HybridMedium, 1, 0>))
MNV4_BLOCK_CASE(UibExtraDwS1LsRelu, "block_uib_extradw_s1_skip_ls_relu.safetensors", (spec_at<HybridMedium, 1, 1>))
MNV4_BLOCK_CASE(UibFfnS1LsRelu, "block_uib_ffn_s1_skip_ls_relu.safetensors", (spec_at<HybridMedium, 2, 1>))
MNV4_BLOCK_CASE(UibConvNextS1LsRelu, "block_uib_convnext_s1_skip_ls_relu.safetensors", (spec_at<HybridMedium, 2, 7>))
MNV4_BLOCK_CASE(UibExtraDwS2LsGelu, "block_uib_extradw_s2_noskip_ls_gelu.safetensors", (spec_at<HybridLarge, 1, 0>))
MNV4_BLOCK_CASE(UibExtraDwS1LsGelu, "block_uib_extradw_s1_skip_ls_gelu.safetensors", (spec_at<HybridLarge, 1, 1>))
MNV4_BLOCK_CASE(UibConvNextS1LsGelu, "block_uib_convnext_s1_skip_ls_gelu.safetensors", (spec_at<HybridLarge, 2, 14>))
MNV4_BLOCK_CASE(MqaH4D64KvDown, "block_mqa_h4_d64_kv2_skip_ls.safetensors", (spec_at<HybridMedium, 2, 4>))
MNV4_BLOCK_CASE(MqaH4D64, "block_mqa_h4_d64_kv1_skip_ls.safetensors", (spec_at<HybridMedium, 3, 8>))
MNV4_BLOCK_CASE(MqaH8D48KvDown, "block_mqa_h8_d48_kv2_skip_ls.safetensors", (spec_at<HybridLarge, 2, 7>))
MNV4_BLOCK_CASE(MqaH8D64, "block_mqa_h8_d64_kv1_skip_ls.safetensors", (spec_at<HybridLarge, 3, 10>))
MNV4_BLOCK_CASE(HeadRelu, "block_head_relu.safetensors", ConvSmall::head)
MNV4_BLOCK_CASE(HeadGelu, "block_head_gelu.safetensors", HybridLarge::head)

// Every block golden in the folder is covered above (a new golden must get a case).
TEST(GoldenBlockFolder, EveryFileHasACase) {
  const auto dir = golden_dir() / "blocks";
  MNV4_REQUIRE_GOLDEN(dir);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors") ++files;
  EXPECT_EQ(files, 25);
}

}  // namespace
}  // namespace mnv4::test
