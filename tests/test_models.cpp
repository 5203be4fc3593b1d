// Properties every model must have, checked on every model type with synthetic
// weights: parameter counts, output shapes at odd and non-square sizes, batch
// independence, layouts, and the default backend agreeing with the reference.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include "compare.hpp"
#include "mnv4/mnv4.hpp"

namespace mnv4::test {
namespace {

Tensor random_input(Shape shape, uint32_t seed) {
  Tensor t(std::move(shape));
  uint32_t s = seed * 2654435761u + 1;
  for (float& v : t.values()) {
    s = s * 1664525u + 1013904223u;
    v = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 4.0f - 2.0f;
  }
  return t;
}

// Rows [row] of a [N, ...] tensor as its own [1, ...] tensor.
Tensor slice(const Tensor& t, int row) {
  Shape shape = t.shape();
  shape[0] = 1;
  const int64_t per = t.numel() / t.dim(0);
  return Tensor(shape, std::vector<float>(t.data() + row * per, t.data() + (row + 1) * per));
}

template <class Net>
class ModelProperties : public ::testing::Test {};
using AllModels = ::testing::Types<ConvSmall, ConvSmall035, ConvSmall050, ConvMedium, ConvLarge, HybridMedium,
                                   HybridMedium075, HybridLarge, HybridLarge075>;
struct NetName {
  template <class Net>
  static std::string GetName(int) {
    return std::string(Net::name);
  }
};
TYPED_TEST_SUITE(ModelProperties, AllModels, NetName);

// The compile-time parameter count equals what the weights hold (minus BN buffers).
TYPED_TEST(ModelProperties, ParameterCountMatchesWeights) {
  using Net = TypeParam;
  int64_t count = 0;
  const auto add = [&](const std::string& key, Weight& w) {
    const bool buffer = key.ends_with(".running_mean") || key.ends_with(".running_var");
    if (!buffer) count += shape_numel(w.shape);
  };
  auto stem = make_weights(Net::stem);
  for_each_weight(stem, "", add);
  [&]<class... P>(TypeList<P...>) {
    (
        [&] {
          auto w = make_weights(P::spec);
          for_each_weight(w, "", add);
        }(),
        ...);
  }(typename Net::blocks{});
  auto head = make_weights(Net::head);
  for_each_weight(head, "", add);
  EXPECT_EQ(count, Net::params());
}

TYPED_TEST(ModelProperties, FeatureShapesAtOddAndNonSquareSizes) {
  using Net = TypeParam;
  Model<Net> model;
  model.load_random(1);
  for (auto [h, w] : {std::pair{32, 32}, std::pair{33, 47}, std::pair{71, 40}}) {
    const Features f = model.features(random_input({1, 3, h, w}, 3));
    const auto stem = Net::stage_shape(-1, h, w);
    EXPECT_EQ(f.stem.shape(), (Shape{1, stem[0], stem[1], stem[2]})) << h << "x" << w;
    ASSERT_EQ(static_cast<int>(f.stages.size()), Net::num_stages);
    for (int s = 0; s < Net::num_stages; ++s) {
      const auto chw = Net::stage_shape(s, h, w);
      EXPECT_EQ(f.stages[static_cast<std::size_t>(s)].shape(), (Shape{1, chw[0], chw[1], chw[2]}))
          << "stage " << s << " at " << h << "x" << w;
    }
    EXPECT_EQ(f.pre_logits.shape(), (Shape{1, Net::head.hidden}));
    EXPECT_EQ(f.logits.shape(), (Shape{1, Net::head.classes}));
    for (float v : f.logits.values()) ASSERT_TRUE(std::isfinite(v));
  }
  // The deepest stage of a 33-pixel side is ceil(33 / 32) = 2 (timm's padding rounds up).
  EXPECT_EQ(Net::stage_shape(Net::num_stages - 1, 33, 33)[1], 2);
}

TYPED_TEST(ModelProperties, BatchEqualsSingleRuns) {
  Model<TypeParam> model;
  model.load_random(2);
  const Tensor batch = random_input({3, 3, 40, 36}, 5);
  const Tensor logits = model.run(batch);
  ASSERT_EQ(logits.shape(), (Shape{3, TypeParam::head.classes}));
  for (int n = 0; n < 3; ++n) {
    const Tensor single = model.run(slice(batch, n));
    EXPECT_LE(relative_error(slice(logits, n), single), 1e-5) << "image " << n;
  }
}

TYPED_TEST(ModelProperties, FeaturesPathMatchesLogitsPath) {
  Model<TypeParam> model;
  model.load_random(3);
  const Tensor input = random_input({2, 3, 48, 64}, 7);
  const Features f = model.features(input);
  const Tensor logits = model.run(input);
  EXPECT_EQ(relative_error(logits, f.logits), 0.0);
}

TYPED_TEST(ModelProperties, NhwcInputMatchesNchw) {
  Model<TypeParam> model;
  model.load_random(4);
  const Tensor nchw = random_input({1, 3, 37, 45}, 9);
  Tensor nhwc({1, 37, 45, 3});
  nchw_to_nhwc(nchw.data(), Dims{1, 3, 37, 45}, nhwc.data());
  EXPECT_EQ(relative_error(model.run(nhwc, Layout::kNHWC), model.run(nchw)), 0.0);
}

TYPED_TEST(ModelProperties, DefaultBackendMatchesReference) {
  Model<TypeParam, backend::Cpu> cpu;
  Model<TypeParam, backend::Reference> reference;
  cpu.load_random(5);
  reference.load_random(5);
  const Tensor input = random_input({2, 3, 65, 49}, 11);
  const Features a = cpu.features(input), b = reference.features(input);
  EXPECT_TRUE(matches_golden(a.logits, b.logits, kModelTolerance, std::string(TypeParam::name) + "/cpu-vs-ref/logits"));
  for (std::size_t s = 0; s < b.stages.size(); ++s)
    EXPECT_TRUE(matches_golden(a.stages[s], b.stages[s], kModelTolerance,
                               std::string(TypeParam::name) + "/cpu-vs-ref/features." + std::to_string(s)));
}

TEST(ModelInput, WrongShapesAreClearErrors) {
  Model<ConvSmall> model;
  EXPECT_THAT([&] { model.run(Tensor({1, 3, 64, 64})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("run before load")));
  model.load_random(0);
  EXPECT_THAT([&] { model.run(Tensor({3, 64, 64})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("input must be [N, 3, H, W] (NCHW), got shape [3,64,64]")));
  EXPECT_THAT([&] { model.run(Tensor({1, 4, 64, 64})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("got shape [1,4,64,64]")));
  EXPECT_THAT([&] { model.run(Tensor({1, 3, 31, 64})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("H, W >= 32")));
  EXPECT_THAT([&] { model.run(Tensor({1, 64, 64, 3})); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("mobilenetv4_conv_small")));
  EXPECT_THAT([&] { model.run(Tensor({1, 3, 64, 64}), Layout::kNHWC); },
              ::testing::ThrowsMessage<Error>(::testing::HasSubstr("[N, H, W, 3] (NHWC)")));
}

TEST(ModelProfile, TimesEveryBlockOfEveryPass) {
  Model<HybridMedium> net;
  net.load_random(3);
  Workspace ws;
  ws.enable_profiling();
  const Tensor input = random_input({2, 3, 80, 64}, 1);
  const Tensor plain = net.run(input);
  const Tensor profiled = net.run(input, ws);
  EXPECT_TRUE(std::equal(profiled.values().begin(), profiled.values().end(), plain.values().begin()))
      << "profiling must not change what is computed";
  net.run(input, ws);
  const Profile& p = ws.profile();
  EXPECT_EQ(p.passes, 2);
  ASSERT_EQ(p.blocks.size(), HybridMedium::num_blocks + 2);
  EXPECT_EQ(p.blocks.front().block, "conv_stem");
  EXPECT_EQ(p.blocks[1].block, "blocks.0.0");
  EXPECT_EQ(p.blocks[1].kind, "fused_ib");
  EXPECT_EQ(p.blocks.back().block, "head");
  int64_t macs = 0;
  for (const BlockTime& b : p.blocks) {
    macs += b.macs;
    EXPECT_GT(b.seconds, 0.0) << b.block;
  }
  EXPECT_EQ(macs, 2 * HybridMedium::macs_at(80, 64));
  // A new extent starts a new profile; switching it off stops counting.
  net.run(random_input({1, 3, 64, 64}, 2), ws);
  EXPECT_EQ(ws.profile().passes, 1);
  EXPECT_EQ(ws.profile().blocks.back().macs, mnv4::macs(HybridMedium::head));
  ws.enable_profiling(false);
  net.run(input, ws);
  EXPECT_EQ(ws.profile().passes, 0);
  EXPECT_TRUE(ws.profile().blocks.empty());
}

TEST(ModelDescription, NativeResolutionFacts) {
  static_assert(ConvSmall::macs_at(224, 224) == 186'005'568);
  static_assert(HybridLarge::macs_at(384, 384) == 7'711'877'120);
  constexpr auto rows = ConvSmall::describe(224, 224);
  static_assert(rows.size() == 1 + ConvSmall::num_blocks);
  static_assert(rows[0].out_h == 112 && rows[0].out_channels == 32);
  static_assert(rows.back().out_h == 7 && rows.back().out_channels == 960);
  EXPECT_STREQ(rows[3].kind, "conv_bn");
  EXPECT_STREQ(rows[5].kind, "uib_extra_dw");
}

// One block (spec Spec, random weights) on the CPU backend against the reference
// backend on the same NCHW input; with 2 and 3 threads, bit for bit as with one.
template <auto Spec>
void check_block_backends(Dims in, uint64_t seed) {
  const auto weights = [seed] {
    auto w = make_weights(Spec);
    io::RandomWeights random(seed);
    for_each_weight(w, "", random);
    return w;
  };
  using Ref = block_impl_t<backend::Reference, Spec>;
  const Ref reference(weights());
  const block_impl_t<backend::Cpu, Spec> cpu(weights());
  const Tensor x_nchw = random_input({in.n, in.c, in.h, in.w}, static_cast<uint32_t>(seed));
  const Dims o = Ref::output_dims(in);
  const auto run = [&](const auto& impl, ThreadPool* pool) {
    using Impl = std::remove_cvref_t<decltype(impl)>;
    AlignedBuffer x(in.count()), y(o.count()), scratch(Impl::scratch_floats(in) + 1);
    convert_layout(x_nchw.data(), Layout::kNCHW, in, x.data(), Impl::layout);
    impl.run(x.data(), in, y.data(), scratch.data(), RunContext{pool});
    Tensor out({o.n, o.c, o.h, o.w});
    convert_layout(y.data(), Impl::layout, o, out.data(), Layout::kNCHW);
    return out;
  };
  const Tensor expected = run(reference, nullptr);
  ThreadPool two(2), three(3);
  const Tensor one_thread = run(cpu, nullptr);
  EXPECT_LE(relative_error(one_thread, expected), 2e-6);
  // Three threads on this project's two-core hosts: one is often descheduled and
  // the others take its rows, which must not change a bit.
  for (ThreadPool* pool : {&two, &three})
    for (int round = 0; round < 3; ++round) EXPECT_EQ(relative_error(run(cpu, pool), one_thread), 0.0) << pool->size();
}

// FusedIBs with a residual (stride 1, in == out: no MobileNetV4 has one, but the
// spec allows it), batch 2: one whose expansion reads its input in place, row by
// row, and one it gathers with im2col (more outputs than patch values), at a size
// whose pixel count is not a whole number of the CPU's pixel blocks.
TEST(BlockBackends, FusedIbWithResidualMatchesReference) {
  constexpr FusedIb in_place{.in = 32, .mid = 96, .out = 32, .k = 3, .stride = 1, .act = Act::kRelu};
  constexpr FusedIb gathered{.in = 8, .mid = 96, .out = 8, .k = 3, .stride = 1, .act = Act::kGelu};
  static_assert(in_place.skip() && gathered.skip());
  ASSERT_TRUE(kernels::cpu::dense_conv_in_place<xsimd::default_arch>(in_place.in, in_place.mid, 3, 1));
  ASSERT_FALSE(kernels::cpu::dense_conv_in_place<xsimd::default_arch>(gathered.in, gathered.mid, 3, 1));
  check_block_backends<in_place>({2, in_place.in, 13, 11}, 5);
  check_block_backends<gathered>({2, gathered.in, 13, 11}, 6);
}

// UIBs whose expanded tensor is large enough for the CPU backend to run expand →
// dw_mid in bands of rows through a window: stride 2 with dw_start (ExtraDW),
// stride 1 with a residual, GELU and no dw_start (IR); batch 2, so with 2 threads
// the rows split at a seam inside an image.
TEST(BlockBackends, BandedUibMatchesReference) {
  constexpr Uib extra_dw{.in = 8, .out = 16, .start_k = 3, .mid_k = 5, .stride = 2, .mid = 32};
  constexpr Uib inverted{.in = 8, .out = 8, .start_k = 0, .mid_k = 3, .stride = 1, .mid = 40, .act = Act::kGelu};
  const Dims a{2, 8, 97, 91}, b{2, 8, 83, 90}, c{1, 8, 160, 150};
  using ExtraDw = block_impl_t<backend::Cpu, extra_dw>;
  using Inverted = block_impl_t<backend::Cpu, inverted>;
  ASSERT_TRUE(ExtraDw::banded(a) && ExtraDw::banded(c) && Inverted::banded(b));
  // Projected band by band (stride 2; stride 1 with the residual), and not (a).
  ASSERT_TRUE(ExtraDw::projected_in_bands(c) && Inverted::projected_in_bands(b) && !ExtraDw::projected_in_bands(a));
  check_block_backends<extra_dw>(a, 7);
  check_block_backends<inverted>(b, 8);
  check_block_backends<extra_dw>(c, 10);
  // Rows so wide that one band's window (6 rows of 2.5 MB) would not fit in an
  // image of 3 rows: op by op, not banded past the end of the scratch.
  const Dims wide{1, 8, 3, 20000};
  EXPECT_FALSE((block_impl_t<backend::Cpu, extra_dw>::banded(wide)));
  check_block_backends<extra_dw>(wide, 9);
}

// The CPU fact that picks Winograd over the direct 3×3/2 kernel for Conv-S on
// AVX-512 (winograd_s2_preferred), against what Linux reports of the same CPUID.
TEST(CpuModel, HalfWidthAvx512IsAmdFamily19h) {
  std::ifstream info("/proc/cpuinfo");
  std::string line, vendor;
  int family = -1;
  while (std::getline(info, line) && (vendor.empty() || family < 0)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    const std::string value = line.substr(colon + 2);
    if (line.rfind("vendor_id", 0) == 0) vendor = value;
    if (line.rfind("cpu family", 0) == 0) family = std::stoi(value);
  }
  if (vendor.empty() || family < 0) GTEST_SKIP() << "no x86 vendor and family in /proc/cpuinfo";
  EXPECT_EQ(avx512_on_half_width_units(), vendor == "AuthenticAMD" && family == 0x19) << vendor << " family " << family;
}

// The conversions against the index formula itself (the model tests above use
// them on both sides): the RGB fast path and the generic one, and the round trip.
TEST(LayoutConvert, MatchesIndexFormulaAndRoundTrips) {
  for (int c : {1, 3, 5}) {
    const Dims d{2, c, 7, 9};
    const Tensor nchw = random_input({d.n, d.c, d.h, d.w}, static_cast<uint32_t>(c));
    Tensor nhwc({d.n, d.h, d.w, d.c}), back({d.n, d.c, d.h, d.w});
    nchw_to_nhwc(nchw.data(), d, nhwc.data());
    for (int n = 0; n < d.n; ++n)
      for (int ch = 0; ch < d.c; ++ch)
        for (int y = 0; y < d.h; ++y)
          for (int x = 0; x < d.w; ++x)
            ASSERT_EQ(nhwc.data()[((static_cast<std::size_t>(n) * d.h + y) * d.w + x) * d.c + ch],
                      nchw.data()[((static_cast<std::size_t>(n) * d.c + ch) * d.h + y) * d.w + x])
                << "c=" << c << " n=" << n << " ch=" << ch << " y=" << y << " x=" << x;
    nhwc_to_nchw(nhwc.data(), d, back.data());
    EXPECT_EQ(relative_error(back, nchw), 0.0) << "c=" << c;
    // Ranges of image rows (as the model splits them across threads, here
    // straddling the two images) compose the whole conversion, in every direction.
    const std::size_t rows = static_cast<std::size_t>(d.n) * d.h;
    for (const auto& [from, to] : {std::pair{Layout::kNCHW, Layout::kNHWC}, {Layout::kNHWC, Layout::kNCHW},
                                   {Layout::kNHWC, Layout::kNHWC}}) {
      const Tensor& src = from == Layout::kNCHW ? nchw : nhwc;
      const Tensor& whole = to == Layout::kNCHW ? nchw : nhwc;
      Tensor parts(whole.shape());
      for (std::size_t r = 0; r < rows; r += 4)
        convert_layout_rows(src.data(), from, d, parts.data(), to, r, std::min(rows, r + 4));
      EXPECT_EQ(relative_error(parts, whole), 0.0) << "c=" << c;
    }
  }
}

}  // namespace
}  // namespace mnv4::test
