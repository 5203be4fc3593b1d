// Every CPU kernel against the scalar reference, swept over tile edges (channel
// counts around the vector width, tiny and odd extents, both strides, each
// activation). Compiled once per instruction set (mnv4_add_isa_test).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compare.hpp"
#include "isa_test.hpp"
#include "mnv4/backend/cpu.hpp"
#include "mnv4/core/layout_convert.hpp"
#include "mnv4/kernels/reference/ops.hpp"

namespace mnv4::test {
namespace {

using Arch = xsimd::default_arch;
constexpr int kLanes = static_cast<int>(xsimd::batch<float, Arch>::size);
namespace ref = kernels::reference;

std::vector<float> randoms(std::size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

ConvBnWeights random_conv_bn(int out, int in_per_group, int k, uint32_t seed) {
  ConvBnWeights w = conv_bn_of(in_per_group, out, k);
  w.conv.values = randoms(static_cast<std::size_t>(shape_numel(w.conv.shape)), seed);
  w.bn.gamma.values = randoms(static_cast<std::size_t>(out), seed + 1, 0.5f, 1.5f);
  w.bn.beta.values = randoms(static_cast<std::size_t>(out), seed + 2);
  w.bn.mean.values = randoms(static_cast<std::size_t>(out), seed + 3);
  w.bn.var.values = randoms(static_cast<std::size_t>(out), seed + 4, 0.5f, 1.5f);
  return w;
}

// Reference: NCHW conv → BN → act, returned as NHWC.
Tensor reference_conv_bn_act(const Tensor& nchw, Dims d, const ConvBnWeights& w, int k, int stride, int groups, Act act) {
  const int out_c = static_cast<int>(w.conv.shape[0]);
  const Dims o{d.n, out_c, conv_out(d.h, k, stride), conv_out(d.w, k, stride)};
  std::vector<float> y(o.count());
  ref::conv2d(nchw.data(), d, w.conv.values.data(), out_c, k, stride, groups, y.data());
  ref::batch_norm(y.data(), o, w.bn.gamma.values.data(), w.bn.beta.values.data(), w.bn.mean.values.data(),
                  w.bn.var.values.data(), kBnEps);
  ref::activate(y.data(), o.count(), act);
  Tensor nhwc({o.n, o.h, o.w, o.c});
  nchw_to_nhwc(y.data(), o, nhwc.data());
  return nhwc;
}

Tensor to_nhwc(const Tensor& nchw, Dims d) {
  Tensor t({d.n, d.h, d.w, d.c});
  nchw_to_nhwc(nchw.data(), d, t.data());
  return t;
}

std::string label(Dims d, int k, int s, Act a) {
  std::ostringstream out;  // (not string +: GCC 12 raises a false -Wrestrict on it)
  out << "n" << d.n << " c" << d.c << " " << d.h << "x" << d.w << " k" << k << " s" << s << " " << act_name(a);
  return out.str();
}

ISA_TEST(KernelDepthwise, MatchesReferenceAcrossEdges) {
  MNV4_REQUIRE_ISA();
  int cases = 0;
  for (int c : {1, kLanes - 1, kLanes, kLanes + 1, 3 * kLanes + 5, 48, 120})
    for (int hw : {1, 2, 3, 7, 8, 13, 40})  // 40 × 42: interior pixel groups at both strides
      for (int k : {3, 5})
        for (int s : {1, 2})
          for (Act act : {Act::kNone, Act::kRelu, Act::kGelu}) {
            if (c < 1) continue;
            const Dims d{2, c, hw, hw + 2};
            const Tensor x({d.n, d.c, d.h, d.w}, randoms(d.count(), static_cast<uint32_t>(c * 131 + hw)));
            const ConvBnWeights w = random_conv_bn(c, 1, k, static_cast<uint32_t>(k * 7 + s));
            const Tensor expected = reference_conv_bn_act(x, d, w, k, s, c, act);
            const FoldedConv f = kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(w, s, act));
            const Tensor in = to_nhwc(x, d);
            Tensor got(expected.shape());
            const Dims o = kernels::cpu::depthwise_conv<Arch>(in.data(), d, f, got.data());
            ASSERT_EQ(o.h * o.w * o.c * o.n, expected.numel());
            ASSERT_LE(relative_error(got, expected), 2e-6) << label(d, k, s, act);
            ++cases;
          }
  RecordProperty("cases", cases);
}

ISA_TEST(KernelDepthwise, RowRangesComposeTheWholeOutput) {
  MNV4_REQUIRE_ISA();
  // Stride 1, and 5×5 stride 2, with whole vectors take output rows in pairs
  // where the range and the image allow: ranges of 3 rows start pairs at both
  // parities, and the 11-row images make pairs meet image boundaries.
  struct Case { int c, k, s; };
  for (const Case cs : {Case{2 * kLanes + 3, 5, 2}, Case{2 * kLanes, 5, 1}, Case{kLanes, 3, 1}, Case{2 * kLanes, 5, 2},
                        Case{kLanes, 3, 2}})
    for (std::size_t step : {2, 3}) {
      const Dims d{3, cs.c, 11, 9};
      const Tensor x({d.n, d.h, d.w, d.c}, randoms(d.count(), 5));
      const FoldedConv f =
          kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(random_conv_bn(d.c, 1, cs.k, 9), cs.s, Act::kRelu));
      const std::size_t rows = kernels::cpu::depthwise_rows(d, f);
      Tensor whole({d.n, conv_out(d.h, cs.k, cs.s), conv_out(d.w, cs.k, cs.s), d.c}), parts(whole.shape());
      kernels::cpu::depthwise_conv<Arch>(x.data(), d, f, whole.data());
      for (std::size_t r = 0; r < rows; r += step)
        kernels::cpu::depthwise_conv_rows<Arch>(x.data(), d, f, parts.data(), r, std::min(rows, r + step));
      EXPECT_EQ(relative_error(parts, whole), 0.0) << "c" << cs.c << " k" << cs.k << " s" << cs.s << " step " << step;
    }
}


ISA_TEST(KernelDepthwise, PixelPitchesGiveThePackedResult) {
  MNV4_REQUIRE_ISA();
  // Pixels further apart than the channel count (the UIB's padded expanded
  // tensors): the same values as packed tensors, and the gaps in the output
  // left as they were. A ragged channel count takes the scalar tail too.
  constexpr float kGap = 12345.0f;
  for (const int c : {2 * kLanes, 2 * kLanes + 3})
    for (const int k : {3, 5})
      for (const int s : {1, 2})
        for (const std::size_t pad : {std::size_t{1}, std::size_t{16}}) {
          const Dims d{2, c, 9, 10};
          const std::size_t pitch = static_cast<std::size_t>(c) + pad, pixels = d.pixels();
          const Tensor x({d.n, d.h, d.w, d.c}, randoms(d.count(), 17));
          const FoldedConv f =
              kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(random_conv_bn(c, 1, k, 3), s, Act::kGelu));
          const Dims o{d.n, c, conv_out(d.h, k, s), conv_out(d.w, k, s)};
          Tensor packed({o.n, o.h, o.w, o.c});
          kernels::cpu::depthwise_conv<Arch>(x.data(), d, f, packed.data());
          std::vector<float> in(pixels * pitch, std::numeric_limits<float>::quiet_NaN()), out(o.pixels() * pitch, kGap);
          for (std::size_t p = 0; p < pixels; ++p)
            std::copy_n(x.data() + p * c, c, in.data() + p * pitch);
          kernels::cpu::depthwise_conv_rows<Arch>(in.data(), d, f, out.data(), 0, kernels::cpu::depthwise_rows(d, f),
                                                  pitch, pitch);
          for (std::size_t p = 0; p < o.pixels(); ++p) {
            for (int ch = 0; ch < c; ++ch)
              ASSERT_EQ(out[p * pitch + ch], packed.data()[p * c + ch])
                  << "c" << c << " k" << k << " s" << s << " pixel " << p;
            for (std::size_t g = c; g < pitch; ++g) ASSERT_EQ(out[p * pitch + g], kGap) << "gap written at pixel " << p;
          }
        }
}

ISA_TEST(KernelDepthwise, RowsFromARingGiveTheInOrderResult) {
  MNV4_REQUIRE_ISA();
  // The banded UIB keeps its expanded rows in a ring and writes a band's output
  // rows to the start of a buffer: every rotation of the ring, output ranges of
  // 1–3 rows (pairs and single rows, at both parities), ragged channels too.
  struct Case { int c, k, s; };
  for (const Case cs : {Case{2 * kLanes, 5, 2}, Case{2 * kLanes + 3, 5, 1}, Case{kLanes, 3, 1}, Case{kLanes + 1, 3, 2}}) {
    const Dims d{1, cs.c, 10, 9};
    const auto row_floats = static_cast<std::size_t>(d.w) * d.c;
    const Tensor x({d.n, d.h, d.w, d.c}, randoms(d.count(), 23));
    const FoldedConv f =
        kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(random_conv_bn(d.c, 1, cs.k, 4), cs.s, Act::kRelu));
    const Dims o{1, d.c, conv_out(d.h, cs.k, cs.s), conv_out(d.w, cs.k, cs.s)};
    const auto out_row_floats = static_cast<std::size_t>(o.w) * o.c;
    Tensor whole({o.n, o.h, o.w, o.c});
    kernels::cpu::depthwise_conv<Arch>(x.data(), d, f, whole.data());
    for (std::size_t first = 0; first < static_cast<std::size_t>(d.h); ++first) {
      std::vector<float> ring(x.numel());
      for (std::size_t y = 0; y < static_cast<std::size_t>(d.h); ++y)
        std::copy_n(x.data() + y * row_floats, row_floats, ring.data() + (first + y) % d.h * row_floats);
      for (std::size_t step : {1, 2, 3})
        for (std::size_t r = 0; r < static_cast<std::size_t>(o.h); r += step) {
          const std::size_t end = std::min(static_cast<std::size_t>(o.h), r + step);
          std::vector<float> band((end - r) * out_row_floats);
          kernels::cpu::depthwise_conv_rows<Arch>(
              ring.data(), d, f, band.data(), r, end,
              kernels::cpu::DepthwiseRowsLayout{.ring = static_cast<std::size_t>(d.h), .ring_first = first, .out_first = r});
          for (std::size_t i = 0; i < band.size(); ++i)
            ASSERT_EQ(band[i], whole.data()[r * out_row_floats + i])
                << "c" << cs.c << " k" << cs.k << " s" << cs.s << " ring at " << first << " rows " << r << ".." << end;
        }
    }
  }
  // A ring holds one image; rows before the output's first are refused.
  const Dims two{2, kLanes, 4, 4};
  const FoldedConv f = kernels::cpu::pack_for_depthwise<Arch>(fold_depthwise(random_conv_bn(kLanes, 1, 3, 1), 1, Act::kNone));
  std::vector<float> in(two.count()), out(two.count());
  EXPECT_THROW(kernels::cpu::depthwise_conv_rows<Arch>(in.data(), two, f, out.data(), 0, 1,
                                                       kernels::cpu::DepthwiseRowsLayout{.ring = 4}),
               Error);
  EXPECT_THROW(kernels::cpu::depthwise_conv_rows<Arch>(in.data(), two, f, out.data(), 0, 1,
                                                       kernels::cpu::DepthwiseRowsLayout{.out_first = 1}),
               Error);
}

ISA_TEST(KernelDense, ConvolutionMatchesReference) {
  MNV4_REQUIRE_ISA();
  // 40 columns: the direct kernel's pixel groups read the image in place
  // between its edges and gather their patches at them; 7: gathered only.
  for (int in_c : {3, 5, 24, 32})
    for (int out_c : {1, kLanes + 1, 2 * kLanes, 24, 48, 6 * kLanes})
      for (int k : {1, 3})
        for (int s : {1, 2})
          for (Act act : {Act::kNone, Act::kRelu, Act::kGelu})
            for (int width : {7, 40}) {
              const Dims d{2, in_c, 9, width};
              const Tensor x({d.n, d.c, d.h, d.w}, randoms(d.count(), static_cast<uint32_t>(in_c + out_c)));
              const ConvBnWeights w = random_conv_bn(out_c, in_c, k, static_cast<uint32_t>(k + s));
              const Tensor expected = reference_conv_bn_act(x, d, w, k, s, 1, act);
              const FoldedConv f = kernels::cpu::pack_for_gemm<Arch>(fold_dense(w, s, act));
              const Tensor in = to_nhwc(x, d);
              Tensor got(expected.shape());
              std::vector<float> scratch(kernels::cpu::dense_conv_scratch<Arch>(d, f) + 1);
              kernels::cpu::dense_conv<Arch>(in.data(), d, f, scratch.data(), got.data());
              ASSERT_LE(relative_error(got, expected), 2e-6) << label(d, k, s, act) << " out " << out_c;
            }
}

ISA_TEST(KernelDense, InPlaceMatchesReference) {
  MNV4_REQUIRE_ISA();
  // dense_conv_in_place_rows (the CPU backend's path for k×k convolutions a
  // kernel row of which fits a GEMM slice): 3×4 images (edge pixels only at
  // 5×5), 7 and 40 columns (interior GEMMs beside edge batches; a first
  // row of 40 edge pixels overflows one batch), 5×5 kernels, output ranges of
  // 3 rows that start and end anywhere.
  int cases = 0;
  for (int in_c : {5, 24, 32})
    for (int out_c : {1, kLanes + 1, 2 * kLanes, 128})
      for (int k : {3, 5})
        for (int s : {1, 2})
          for (const auto& [h, width] : {std::pair{3, 4}, {9, 7}, {9, 40}}) {
            const int depth = k * k * in_c;
            if (!kernels::cpu::dense_conv_in_place<Arch>(in_c, out_c, k, s)) continue;
            const Act act = out_c % 2 == 0 ? Act::kRelu : Act::kGelu;
            const Dims d{2, in_c, h, width};
            const Tensor x({d.n, d.c, d.h, d.w}, randoms(d.count(), static_cast<uint32_t>(in_c + out_c + k)));
            const ConvBnWeights w = random_conv_bn(out_c, in_c, k, static_cast<uint32_t>(k + s));
            const Tensor expected = reference_conv_bn_act(x, d, w, k, s, 1, act);
            const FoldedConv f = kernels::cpu::pack_for_gemm<Arch>(fold_dense(w, s, act));
            const Tensor in = to_nhwc(x, d);
            Tensor got(expected.shape());
            std::vector<float> scratch(kernels::cpu::dense_conv_in_place_floats(d, f));
            ASSERT_GE(static_cast<int>(scratch.size()), 2 * depth);
            const std::size_t rows = static_cast<std::size_t>(d.n) * conv_out(h, k, s);
            for (std::size_t r = 0; r < rows; r += 3)
              kernels::cpu::dense_conv_in_place_rows<Arch>(in.data(), d, f, scratch.data(), got.data(), r,
                                                           std::min(rows, r + 3));
            ASSERT_LE(relative_error(got, expected), 2e-6) << label(d, k, s, act) << " out " << out_c;
            ++cases;
          }
  EXPECT_GT(cases, 0);
  RecordProperty("cases", cases);
}

ISA_TEST(KernelDense, PixelRangesComposeTheWholeOutput) {
  MNV4_REQUIRE_ISA();
  // Ranges that start and end inside rows and inside the direct kernel's groups,
  // each written to a buffer of its own size with guard values after it: the
  // stores of a partial last vector (Conv-L's 24-output stem) stay in the range.
  for (const auto& [in_c, out_c] : {std::pair{3, 2 * kLanes}, {32, 2 * kLanes}, {24, 6 * kLanes}, {3, 24}, {3, 1},
                                    {3, kLanes + 1}}) {
    const Dims d{2, in_c, 11, 38};
    const Tensor x({d.n, d.h, d.w, d.c}, randoms(d.count(), 7));
    const FoldedConv f = kernels::cpu::pack_for_gemm<Arch>(fold_dense(random_conv_bn(out_c, in_c, 3, 4), 2, Act::kRelu));
    const Dims o{d.n, f.out_c, conv_out(d.h, 3, 2), conv_out(d.w, 3, 2)};
    Tensor whole({o.n, o.h, o.w, o.c}), parts(whole.shape());
    std::vector<float> scratch(kernels::cpu::dense_conv_scratch<Arch>(d, f) + 1);
    kernels::cpu::dense_conv<Arch>(x.data(), d, f, scratch.data(), whole.data());
    const auto co = static_cast<std::size_t>(o.c);
    constexpr float kGuard = -7777.0f;
    for (const std::size_t step : {5, 19})
      for (std::size_t p = 0; p < o.pixels(); p += step) {
        const std::size_t end = std::min(o.pixels(), p + step), floats = (end - p) * co;
        std::vector<float> range(floats + 2 * kLanes, kGuard);
        kernels::cpu::dense_conv_rows<Arch>(x.data(), d, f, scratch.data(), range.data(), nullptr, p, end);
        for (std::size_t i = floats; i < range.size(); ++i)
          ASSERT_EQ(range[i], kGuard) << "in_c " << in_c << " out_c " << out_c << " pixels " << p << ".." << end;
        std::copy_n(range.data(), floats, parts.data() + p * co);
      }
    EXPECT_EQ(relative_error(parts, whole), 0.0) << "in_c " << in_c << " out_c " << out_c;
  }
}

ISA_TEST(KernelWinograd, MatchesReference) {
  MNV4_REQUIRE_ISA();
  // The polyphase Winograd 3×3/2 against the direct reference: odd and even
  // extents (a last tile half outside the image, one-pixel images whose every
  // sample but one is padding), rows of more than one block of tiles (48
  // columns: 24 tiles, two blocks), channel counts around the vector width (the scalar
  // tails of both transforms), two images (blocks that cross from one to the next).
  int cases = 0;
  for (int in_c : {1, kLanes + 3, 24, 32})
    for (int out_c : {1, kLanes + 1, 64, 96})
      for (const auto& [h, width] : {std::pair{1, 1}, {3, 4}, {9, 7}, {10, 48}})
        for (Act act : {Act::kNone, Act::kRelu, Act::kGelu}) {
          const Dims d{2, in_c, h, width};
          const Tensor x({d.n, d.c, d.h, d.w}, randoms(d.count(), static_cast<uint32_t>(in_c * out_c + h)));
          const ConvBnWeights w = random_conv_bn(out_c, in_c, 3, static_cast<uint32_t>(out_c + width));
          const Tensor expected = reference_conv_bn_act(x, d, w, 3, 2, 1, act);
          const FoldedConv f = kernels::cpu::pack_for_winograd_s2<Arch>(fold_dense(w, 2, act));
          const Tensor in = to_nhwc(x, d);
          Tensor got(expected.shape());
          std::vector<float> scratch(kernels::cpu::winograd_s2_floats(in_c, out_c));
          kernels::cpu::winograd_s2_rows<Arch>(in.data(), d, f, scratch.data(), got.data(), 0,
                                               kernels::cpu::winograd_s2_row_pairs(d));
          ASSERT_LE(relative_error(got, expected), 2e-6) << label(d, 3, 2, act) << " out " << out_c;
          ++cases;
        }
  RecordProperty("cases", cases);
}

ISA_TEST(KernelWinograd, RowPairsComposeTheWholeOutput) {
  MNV4_REQUIRE_ISA();
  // One pair at a time into a pair-sized buffer (out_first: the FusedIB's use)
  // gives the bits of the whole range at once; an odd last row is written once.
  const Dims d{2, 32, 13, 30};
  const Tensor x({d.n, d.h, d.w, d.c}, randoms(d.count(), 11));
  const FoldedConv f = kernels::cpu::pack_for_winograd_s2<Arch>(fold_dense(random_conv_bn(96, 32, 3, 5), 2, Act::kRelu));
  const Dims o{d.n, f.out_c, conv_out(d.h, 3, 2), conv_out(d.w, 3, 2)};
  Tensor whole({o.n, o.h, o.w, o.c});
  std::vector<float> scratch(kernels::cpu::winograd_s2_floats(d.c, f.out_c));
  const std::size_t pairs = kernels::cpu::winograd_s2_row_pairs(d);
  kernels::cpu::winograd_s2_rows<Arch>(x.data(), d, f, scratch.data(), whole.data(), 0, pairs);
  const auto row = static_cast<std::size_t>(o.w) * static_cast<std::size_t>(o.c);
  constexpr float kUnwritten = -7.0f;
  std::vector<float> pair_out(2 * row + 1, kUnwritten);
  const std::size_t per_image = static_cast<std::size_t>(o.h + 1) / 2;
  for (std::size_t p = 0; p < pairs; ++p) {
    std::fill(pair_out.begin(), pair_out.end(), kUnwritten);
    const std::size_t n = p / per_image, oy = 2 * (p % per_image);
    const std::size_t first = (n * static_cast<std::size_t>(o.h) + oy) * static_cast<std::size_t>(o.w);
    kernels::cpu::winograd_s2_rows<Arch>(x.data(), d, f, scratch.data(), pair_out.data(), p, p + 1, first);
    const std::size_t rows = std::min<std::size_t>(2, static_cast<std::size_t>(o.h) - oy);
    for (std::size_t i = 0; i < rows * row; ++i)
      ASSERT_EQ(pair_out[i], whole.data()[first * static_cast<std::size_t>(o.c) + i]) << "pair " << p << " float " << i;
    for (std::size_t i = rows * row; i < pair_out.size(); ++i) ASSERT_EQ(pair_out[i], kUnwritten) << "pair " << p;
  }
}

ISA_TEST(KernelGemm, BiasActivationResidualMatchReference) {
  MNV4_REQUIRE_ISA();
  // m around the register tiles' rows (kRows, and the taller tiles of narrow
  // panels with their leftover rows), k deep enough for several row blocks,
  // n around the panel width (one and two vectors, ragged tails).
  constexpr auto kRows = static_cast<std::size_t>(kernels::cpu::GemmTiling<Arch>::kRows);
  for (std::size_t m : {std::size_t{1}, kRows - 1, kRows, kRows + 1, 2 * kRows - 1, 2 * kRows + 1, 4 * kRows - 1,
                        std::size_t{64}, std::size_t{197}})
    for (int k : {1, 3, 27, 96, 1100})
      for (int n : {1, kLanes - 1 > 0 ? kLanes - 1 : 1, kLanes, kLanes + 3, 2 * kLanes, 2 * kLanes + 1, 96})
        for (Act act : {Act::kNone, Act::kRelu, Act::kGelu})
          for (bool with_residual : {false, true}) {
            const auto a = randoms(m * static_cast<std::size_t>(k + 2), 1);  // lda = k + 2: strided rows
            const auto b = randoms(static_cast<std::size_t>(k) * n, 2);
            AlignedBuffer packed;
            kernels::cpu::pack_panels<Arch>(b.data(), k, n, packed);
            const auto bias = randoms(static_cast<std::size_t>(n), 3);
            const auto res = randoms(m * static_cast<std::size_t>(n), 4);
            Tensor got({static_cast<int64_t>(m), n}), expected({static_cast<int64_t>(m), n});
            kernels::cpu::gemm_bias_act<Arch>({.m = m, .k = k, .n = n, .a = a.data(), .lda = static_cast<std::size_t>(k + 2),
                                               .b = packed.data(), .bias = bias.data(), .act = act,
                                               .residual = with_residual ? res.data() : nullptr,
                                               .ldr = static_cast<std::size_t>(n), .c = got.data(),
                                               .ldc = static_cast<std::size_t>(n)});
            for (std::size_t i = 0; i < m; ++i)
              for (int j = 0; j < n; ++j) {
                double acc = bias[static_cast<std::size_t>(j)];
                for (int p = 0; p < k; ++p)
                  acc += static_cast<double>(a[i * static_cast<std::size_t>(k + 2) + static_cast<std::size_t>(p)]) *
                         b[static_cast<std::size_t>(p) * n + static_cast<std::size_t>(j)];
                float v = ref::activate(static_cast<float>(acc), act);
                if (with_residual) v += res[i * static_cast<std::size_t>(n) + static_cast<std::size_t>(j)];
                expected.data()[i * static_cast<std::size_t>(n) + static_cast<std::size_t>(j)] = v;
              }
            ASSERT_LE(relative_error(got, expected), 2e-6) << "m " << m << " k " << k << " n " << n << " "
                                                            << act_name(act) << " residual " << with_residual;
          }
}

ISA_TEST(KernelGemm, RowBlocksAndDepthSlicesCompose) {
  MNV4_REQUIRE_ISA();
  // Tall enough for several row blocks (and depth slices where whole_depth() is
  // under 700), B big enough (> 64 KiB) to be prefetched panel by panel, and any
  // panel range: the same result as a plain dot product, and column ranges compose.
  const std::size_t m = 700;
  const int k = 700, n = 3 * kernels::cpu::GemmTiling<Arch>::kPanel + kLanes + 1;
  const auto a = randoms(m * static_cast<std::size_t>(k), 11);
  const auto b = randoms(static_cast<std::size_t>(k) * n, 12);
  const auto residual = randoms(m * static_cast<std::size_t>(n), 13);
  AlignedBuffer packed;
  kernels::cpu::pack_panels<Arch>(b.data(), k, n, packed);
  const auto co = static_cast<std::size_t>(n);
  kernels::cpu::GemmArgs g{.m = m, .k = k, .n = n, .a = a.data(), .lda = static_cast<std::size_t>(k),
                           .b = packed.data(), .act = Act::kRelu, .residual = residual.data(), .ldr = co};
  Tensor whole({static_cast<std::int64_t>(m), n}), parts(whole.shape()), expected(whole.shape());
  g.c = whole.data();
  g.ldc = co;
  kernels::cpu::gemm_bias_act<Arch>(g);
  g.c = parts.data();
  const int panels = kernels::cpu::gemm_panels<Arch>(n);
  for (int p = 0; p < panels; ++p) kernels::cpu::gemm_bias_act_panels<Arch>(g, p, p + 1);
  for (std::size_t i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int p = 0; p < k; ++p) acc += static_cast<double>(a[i * k + p]) * b[static_cast<std::size_t>(p) * n + j];
      expected.data()[i * co + j] = static_cast<float>(std::max(acc, 0.0) + residual[i * co + j]);
    }
  EXPECT_LE(relative_error(whole, expected), 2e-6);
  EXPECT_EQ(relative_error(parts, whole), 0.0);
}

ISA_TEST(KernelGemm, DepthSlicesRowBlocksAndPanelRangesMatchReference) {
  MNV4_REQUIRE_ISA();
  // Deeper than whole_depth(): depth slices, C read back between them. Whole
  // depth over more rows than one L2 block: two row blocks. Either computed in
  // two column ranges of panels must give the same bits as in one.
  using T = kernels::cpu::GemmTiling<Arch>;
  const int n = 2 * T::kPanel + kLanes + 3;
  const int whole_k = std::min(300, T::whole_depth());
  const std::size_t block_rows = T::l2_bytes() / 2 / (static_cast<std::size_t>(whole_k) * sizeof(float));
  struct Shape {
    std::size_t m;
    int k;
  };
  for (const Shape shape : {Shape{100, T::whole_depth() + T::depth() + 7}, Shape{block_rows * 2 + 5, whole_k}}) {
    const std::size_t m = shape.m;
    const int k = shape.k;
    const auto a = randoms(m * static_cast<std::size_t>(k), 21);
    const auto b = randoms(static_cast<std::size_t>(k) * n, 22);
    const auto bias = randoms(static_cast<std::size_t>(n), 23);
    const auto residual = randoms(m * static_cast<std::size_t>(n), 24);
    AlignedBuffer packed;
    kernels::cpu::pack_panels<Arch>(b.data(), k, n, packed);
    const auto co = static_cast<std::size_t>(n);
    kernels::cpu::GemmArgs g{.m = m, .k = k, .n = n, .a = a.data(), .lda = static_cast<std::size_t>(k),
                             .b = packed.data(), .bias = bias.data(), .act = Act::kRelu, .residual = residual.data(),
                             .ldr = co};
    const auto blk = kernels::cpu::detail::gemm_blocking<Arch>(g);
    if (k > T::whole_depth()) {
      EXPECT_LT(blk.kc, k) << "k " << k;
    } else {
      EXPECT_LT(blk.mc, m) << "k " << k;
    }
    const int panels = kernels::cpu::gemm_panels<Arch>(n);
    Tensor whole({static_cast<std::int64_t>(m), n}), parts(whole.shape()), expected(whole.shape());
    g.c = whole.data();
    g.ldc = co;
    kernels::cpu::gemm_bias_act<Arch>(g);
    g.c = parts.data();
    kernels::cpu::gemm_bias_act_panels<Arch>(g, 0, panels / 2);
    kernels::cpu::gemm_bias_act_panels<Arch>(g, panels / 2, panels);
    for (std::size_t i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double acc = bias[static_cast<std::size_t>(j)];
        for (int p = 0; p < k; ++p) acc += static_cast<double>(a[i * k + p]) * b[static_cast<std::size_t>(p) * n + j];
        expected.data()[i * co + j] = static_cast<float>(std::max(acc, 0.0) + residual[i * co + j]);
      }
    // fp32 rounding over a k-term sum grows as sqrt(k): 2e-6 at k = 263.
    EXPECT_LE(relative_error(whole, expected), 1.2e-7 * std::sqrt(static_cast<double>(k))) << "k " << k;
    EXPECT_EQ(relative_error(parts, whole), 0.0) << "k " << k;
  }
}

ISA_TEST(KernelAttention, MatchesReference) {
  MNV4_REQUIRE_ISA();
  for (int heads : {1, 4})
    for (int key_dim : {8, 48})
      for (std::size_t l : {std::size_t{1}, std::size_t{13}, std::size_t{64}})
        for (std::size_t p : {std::size_t{1}, std::size_t{5}, std::size_t{16}, std::size_t{37}, std::size_t{100}}) {
          const int value_dim = key_dim;
          // Token-major inputs for the kernel; channel-major copies for the reference.
          const auto q = randoms(l * heads * key_dim, 1, -2, 2), k = randoms(p * key_dim, 2, -2, 2),
                     v = randoms(p * value_dim, 3);
          std::vector<float> qc(q.size()), kc(k.size()), vc(v.size()), oc(l * heads * value_dim);
          for (std::size_t i = 0; i < l; ++i)
            for (std::size_t ch = 0; ch < static_cast<std::size_t>(heads * key_dim); ++ch) qc[ch * l + i] = q[i * heads * key_dim + ch];
          for (std::size_t i = 0; i < p; ++i)
            for (std::size_t ch = 0; ch < static_cast<std::size_t>(key_dim); ++ch) {
              kc[ch * p + i] = k[i * key_dim + ch];
              vc[ch * p + i] = v[i * value_dim + ch];
            }
          ref::multi_query_attention(qc.data(), kc.data(), vc.data(), 1, heads, key_dim, value_dim, l, p, oc.data());
          Tensor expected({static_cast<int64_t>(l), heads * value_dim}), got(expected.shape());
          for (std::size_t i = 0; i < l; ++i)
            for (std::size_t ch = 0; ch < static_cast<std::size_t>(heads * value_dim); ++ch)
              expected.data()[i * heads * value_dim + ch] = oc[ch * l + i];
          AlignedBuffer scratch(kernels::cpu::attention_scratch<Arch>(l, p, key_dim, value_dim));
          kernels::cpu::multi_query_attention<Arch>({.l = l, .p = p, .heads = heads, .key_dim = key_dim,
                                                     .value_dim = value_dim, .q = q.data(), .k = k.data(),
                                                     .v = v.data(), .o = got.data()},
                                                    scratch.data());
          ASSERT_LE(relative_error(got, expected), 2e-6) << "heads " << heads << " d " << key_dim << " l " << l << " p " << p;
        }
}

// The softmax's exponential (arguments s - max ≤ 0) against std::exp in double:
// within 2 ULP down to -87, 0 below (where e^x < 1.7e-38), NaN kept.
ISA_TEST(KernelAttention, SoftmaxExpIsWithinTwoUlp) {
  MNV4_REQUIRE_ISA();
  using B = xsimd::batch<float, Arch>;
  std::vector<float> x;
  for (int i = 0; i <= 1000000; ++i) x.push_back(static_cast<float>(i) * -1e-4f);  // [-100, 0]
  x.insert(x.end(), {-0.0f, -1e-30f, -86.99f, -87.0f, -87.01f, -1e30f, -std::numeric_limits<float>::infinity(),
                     std::numeric_limits<float>::quiet_NaN()});
  while (x.size() % B::size != 0) x.push_back(-1.0f);
  double worst_ulp = 0.0;
  for (std::size_t i = 0; i < x.size(); i += B::size) {
    std::array<B, 1> v{B::load_unaligned(&x[i])};
    kernels::cpu::detail::exp_nonpositive<Arch>(v);
    alignas(64) float got[B::size];
    v[0].store_aligned(got);
    for (std::size_t j = 0; j < B::size; ++j) {
      const float xi = x[i + j];
      if (std::isnan(xi)) {
        EXPECT_TRUE(std::isnan(got[j]));
        continue;
      }
      const double want = std::exp(static_cast<double>(xi));
      if (xi < -87.0f) {
        EXPECT_EQ(got[j], 0.0f) << xi;
        continue;
      }
      const double ulp = std::nextafter(static_cast<float>(want), 1.0f) - static_cast<float>(want);
      worst_ulp = std::max(worst_ulp, std::abs(got[j] - want) / ulp);
    }
  }
  EXPECT_LE(worst_ulp, 2.0);
  RecordProperty("worst_ulp", std::to_string(worst_ulp));
}

// GELU against timm's formula 0.5·x·(1 + erf(x/√2)) in double. The bound is what that
// formula itself loses when evaluated in fp32, as PyTorch does, with an erf good to 2 ULP:
// 0.5·|x| times the error of 1 + erf (≤ 3e-7) plus the last rounding, 1.5e-7·|x| +
// 1.2e-7·|gelu(x)|. Near x = -3.4, where 1 + erf cancels, that is ~1e-4 of |gelu(x)|.
ISA_TEST(KernelActivation, GeluIsTheErfForm) {
  MNV4_REQUIRE_ISA();
  std::vector<float> x;
  for (int i = -100000; i <= 100000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);  // [-10, 10]
  x.insert(x.end(), {-30.0f, 30.0f, 1e-30f, -1e-30f, 0.0f});
  std::vector<float> y = x;
  kernels::cpu::bias_act_residual<Arch>(y.data(), 1, static_cast<int>(y.size()), y.size(), nullptr, Act::kGelu, nullptr, 0);
  double worst_abs = 0.0, worst_rel = 0.0, worst_of_bound = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = 0.5 * x[i] * (1.0 + std::erf(static_cast<double>(x[i]) / std::sqrt(2.0)));
    const double err = std::abs(y[i] - e);
    worst_abs = std::max(worst_abs, err);
    if (std::abs(e) > 1e-3) worst_rel = std::max(worst_rel, err / std::abs(e));
    const double bound = 1.5e-7 * std::abs(x[i]) + 1.2e-7 * std::abs(e);
    if (err > 0.0) worst_of_bound = std::max(worst_of_bound, err / bound);
  }
  RecordProperty("max_abs_err", std::to_string(worst_abs));
  RecordProperty("max_rel_err", std::to_string(worst_rel));
  RecordProperty("max_err_over_bound", std::to_string(worst_of_bound));
  std::printf("[ gelu     ] %s: max abs error %.3g, max rel error (|gelu| > 1e-3) %.3g, max error / fp32 bound %.3g\n",
              MNV4_ISA_STR(MNV4_TEST_ISA), worst_abs, worst_rel, worst_of_bound);
  EXPECT_LE(worst_abs, 2e-6);
  EXPECT_LE(worst_of_bound, 1.0);
  // The tanh approximation is ~1e-3 off near x = -2: make sure that is not what runs.
  std::vector<float> probe{-2.0f};
  kernels::cpu::bias_act_residual<Arch>(probe.data(), 1, 1, 1, nullptr, Act::kGelu, nullptr, 0);
  EXPECT_NEAR(probe[0], -0.04550026389635842, 1e-6);
}

}  // namespace
}  // namespace mnv4::test
