#pragma once
// 3×3 stride-2 dense convolution with 25 products per 2×2 outputs instead of 36.
//
// Along one axis, output j reads inputs 2j-1 .. 2j+1. Split them by parity:
// the even-phase inputs meet taps w0 and w2 (a 2-tap convolution of the even
// samples), the odd-phase ones tap w1 alone. Two neighbouring outputs, from the
// five inputs x0..x4 they read (x0 = input 2j-1), then come from five products
// instead of six, Winograd's F(2,2) on the even phase and the odd phase direct:
//   m0 = (x0 - x2)·w0,  m1 = x2·(w0 + w2),  m2 = (x4 - x2)·w2,  m3 = x1·w1,  m4 = x3·w1
//   y0 = m0 + m1 + m3,  y1 = m1 + m2 + m4.
// In two dimensions a tile of 2×2 outputs takes the 5×5 products of the two
// axes' points, each a GEMM over the channels: V_t [tiles, in] · U_t [in, out]
// for the 25 points t, with U_t transformed and packed once at load. The
// transforms are additions only, so rounding stays at the level of the direct
// sum (one subtraction of inputs, one addition of weights).
#include "mnv4/config.hpp"
#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "mnv4/core/cpu_model.hpp"
#include "mnv4/core/dims.hpp"
#include "mnv4/kernels/cpu/dense_conv.hpp"
#include "mnv4/kernels/cpu/epilogue.hpp"
#include "mnv4/kernels/cpu/gemm.hpp"
#include "mnv4/layers/fold.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu {

// Products per tile (5 points along each axis).
inline constexpr int kWinogradPoints = 25;
// Tiles (2×2 outputs) per block: the rows of each of its 25 GEMMs, whole row
// tiles for every panel width. Its V and M (12 × 25 × (32 + 128) floats, 192 KiB,
// for Conv-M's FusedIB) stay in L2 beside the layer's input and output: with 24
// tiles Conv-M and Conv-S took 1.02–1.05 of the time (best of 4–5 alternating
// runs), with 6 about the same as 12.
inline constexpr int kWinogradTiles = 12;

// Where the transform pays: a 3×3 stride-2 convolution from enough channels
// that the 25 GEMMs are not dominated by the transforms (the stem's 3 channels
// stay direct), where no direct kernel runs the shape. Measured in the models
// (`mnv4-run --profile`, alternating with the build before, 3–4 runs each):
// AVX-512, Conv-M's FusedIB 32 → 128 1.88–1.90 → 1.61–1.77 ms; but where
// AVX-512's direct kernel runs (from 24 or 32 channels into at most 96) it
// stays ahead: Conv-L's FusedIB 24 → 96 2.38–2.53 against 2.66–2.83 ms, Conv-S's
// 32 → 96 no faster. AVX2+FMA (im2col or in-place GEMMs before): Conv-S's
// 32 → 32 and 32 → 96 0.85 and 0.77 of the time, the FusedIB expansions of
// Conv-M 0.78 and Conv-L 0.85.
// The shapes the transform can run at all (what the preferences below choose among).
constexpr bool winograd_s2_shape(int in_c, int k, int stride) { return k == 3 && stride == 2 && in_c >= 16; }

template <class Arch>
constexpr bool winograd_s2_applies(int in_c, int out_c, int k, int stride) {
  return winograd_s2_shape(in_c, k, stride) && !dense_conv_is_direct<Arch>(in_c, out_c, k, stride);
}

// winograd_s2_applies, or, where AVX-512's direct kernel runs the shape too, on
// cores whose 512-bit FMAs are half rate (avx512_on_half_width_units): there
// Winograd's 25/36 of the FMAs are worth its extra loads and stores from 32
// channels up. Measured on Zen 4: `bench_kernels` (3 runs) 32 → 96 0.89 of the
// direct kernel's time, 32 → 32 0.95, 24 → 96 1.00 (so from 32 channels);
// Conv-S (`mnv4-run --profile`, 15 alternating runs) blocks.1.0 (32 → 96) 0.88,
// blocks.0.0 (32 → 32) 0.97. Decided at run time, once a process.
template <class Arch>
bool winograd_s2_preferred(int in_c, int out_c, int k, int stride) {
  if (winograd_s2_applies<Arch>(in_c, out_c, k, stride)) return true;
  return winograd_s2_shape(in_c, k, stride) && in_c >= 32 && xsimd::batch<float, Arch>::size == 16 &&
         avx512_on_half_width_units();
}

namespace detail {
// Row t of the per-axis weight transform: which taps (of w0, w1, w2) sum into point t.
inline constexpr std::array<std::array<int, 3>, 5> kWinogradTaps = {{{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 1, 0}}};

// The input transform along one axis, for a float or a SIMD batch.
template <class T>
void winograd_in_1d(const T (&x)[5], T (&t)[5]) {
  t[0] = x[0] - x[2];
  t[1] = x[2];
  t[2] = x[4] - x[2];
  t[3] = x[1];
  t[4] = x[3];
}
}  // namespace detail

// Floats of weights pack_for_winograd_s2 writes: 25 packed [in, out] matrices.
template <class Arch>
constexpr std::size_t winograd_s2_weight_floats(int in_c, int out_c) {
  return kWinogradPoints * packed_floats<Arch>(in_c, out_c);
}

// A folded 3×3 stride-2 convolution (fold_dense: [(ky·3 + kx)·in + i, out]) with
// its weights transformed to U_t = G_a w G_bᵀ for the 25 points t = 5b + a (b
// the point along x, a along y), each packed for the GEMM (pack_panels), one
// after the other.
template <class Arch>
FoldedConv pack_for_winograd_s2(FoldedConv f) {
  const int in = f.in_c, out = f.out_c;
  const std::size_t each = packed_floats<Arch>(in, out);
  AlignedBuffer packed;
  packed.reserve(kWinogradPoints * each);
  const float* w = f.weights.data();
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 5; ++b) {
      const auto at = [&](int i, int o) {
        double sum = 0.0;  // at most four taps: summed in double, rounded once
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx)
            if (detail::kWinogradTaps[a][ky] != 0 && detail::kWinogradTaps[b][kx] != 0)
              sum += w[((static_cast<std::size_t>(ky) * 3 + kx) * in + i) * out + o];
        return static_cast<float>(sum);
      };
      pack_panels_from<Arch>(at, in, out, packed.data() + static_cast<std::size_t>(b * 5 + a) * each);
    }
  f.weights = std::move(packed);
  return f;
}

// Scratch floats one concurrent caller of winograd_s2_rows needs: a block of
// transformed inputs V, one of products M, and a row of zeros for the padding.
inline std::size_t winograd_s2_floats(int in_c, int out_c) {
  return static_cast<std::size_t>(kWinogradTiles) * kWinogradPoints * static_cast<std::size_t>(in_c + out_c) +
         static_cast<std::size_t>(in_c);
}

// Row pairs of the output (image n, output rows 2r and 2r+1), flattened: the unit of winograd_s2_rows.
inline std::size_t winograd_s2_row_pairs(Dims in) {
  return static_cast<std::size_t>(in.n) * static_cast<std::size_t>((conv_out(in.h, 3, 2) + 1) / 2);
}

// Row pairs [pair_begin, pair_end) of act(conv(in) + bias), f packed by
// pack_for_winograd_s2, written to `out` from its pixel `out_first` on (0: out
// holds the whole output; a caller with one pair's buffer passes the pair's
// first pixel). The pairs' tiles are taken kWinogradTiles at a time, across
// rows, so every GEMM but the last has whole row tiles. A last odd row or
// column is computed in a whole tile and not stored.
//
// V and M are tile-major ([tile][point][channel]; the GEMMs read and write
// them with a row pitch of 25 points): a tile's transforms then store and load
// its 25 points one after the other, one pointer stepping by the channels,
// where point-major blocks needed 25 addresses live at once (spilled, a third
// of the time of 32 → 32).
template <class Arch>
void winograd_s2_rows(const float* in, Dims d, const FoldedConv& f, float* scratch, float* out, std::size_t pair_begin,
                      std::size_t pair_end, std::size_t out_first = 0) {
  using B = xsimd::batch<float, Arch>;
  constexpr int kLanes = static_cast<int>(B::size);
  const int ci = d.c, co = f.out_c;
  const int oh = conv_out(d.h, 3, 2), ow = conv_out(d.w, 3, 2);
  const std::size_t pairs_per_image = static_cast<std::size_t>((oh + 1) / 2);
  const std::size_t tiles_per_row = static_cast<std::size_t>((ow + 1) / 2);
  const std::size_t sci = static_cast<std::size_t>(ci), sco = static_cast<std::size_t>(co);
  const std::size_t u_floats = packed_floats<Arch>(ci, co);
  const std::size_t v_tile = kWinogradPoints * sci, m_tile = kWinogradPoints * sco;
  float* v = scratch;
  float* m = v + kWinogradTiles * v_tile;
  float* zeros = m + kWinogradTiles * m_tile;  // the padding's samples
  std::fill_n(zeros, ci, 0.0f);
  const int whole_in = ci / kLanes * kLanes, whole_out = co / kLanes * kLanes;
  const Act act = f.act;
  const std::size_t row_pitch = static_cast<std::size_t>(d.w) * sci;

  const std::size_t tile_end = pair_end * tiles_per_row;
  for (std::size_t tile0 = pair_begin * tiles_per_row; tile0 < tile_end; tile0 += kWinogradTiles) {
    const int nt = static_cast<int>(std::min<std::size_t>(kWinogradTiles, tile_end - tile0));
    // Input transform: V[tile][5·b + a][channel], b the point along x, a along y.
    for (int i = 0; i < nt; ++i) {
      const std::size_t tile = tile0 + static_cast<std::size_t>(i), pair = tile / tiles_per_row;
      const std::size_t n = pair / pairs_per_image;
      const int iy0 = 4 * static_cast<int>(pair % pairs_per_image) - 1, ix0 = 4 * static_cast<int>(tile % tiles_per_row) - 1;
      float* vt = v + static_cast<std::size_t>(i) * v_tile;
      // sample(r, c): channel 0 of the tile's input sample (r, c).
      const auto transform = [&]<class T>(auto load, auto store, auto sample, int ch) {
        T t[5][5];  // [x point][row]
        for (int r = 0; r < 5; ++r) {
          T x[5], y[5];
          for (int c = 0; c < 5; ++c) x[c] = load(sample(r, c) + ch);
          detail::winograd_in_1d(x, y);
          for (int b = 0; b < 5; ++b) t[b][r] = y[b];
        }
        float* dst = vt + ch;
        for (int b = 0; b < 5; ++b) {
          T y[5];
          detail::winograd_in_1d(t[b], y);
          for (int a = 0; a < 5; ++a, dst += sci) store(dst, y[a]);
        }
      };
      const auto each_channel = [&](auto sample) {
        for (int ch = 0; ch < whole_in; ch += kLanes)
          transform.template operator()<B>([](const float* p) { return B::load_unaligned(p); },
                                           [](float* p, B x) { x.store_unaligned(p); }, sample, ch);
        for (int ch = whole_in; ch < ci; ++ch)
          transform.template operator()<float>([](const float* p) { return *p; }, [](float* p, float x) { *p = x; },
                                               sample, ch);
      };
      if (iy0 >= 0 && iy0 + 5 <= d.h && ix0 >= 0 && ix0 + 5 <= d.w) {
        // Inside the image: in place.
        const float* first = in + (n * d.plane() + static_cast<std::size_t>(iy0) * d.w + static_cast<std::size_t>(ix0)) * sci;
        each_channel([&](int r, int c) { return first + static_cast<std::size_t>(r) * row_pitch + static_cast<std::size_t>(c) * sci; });
      } else {
        // At the edges: a table of the samples' pointers, the padding at `zeros`.
        std::array<const float*, 25> at;
        for (int r = 0; r < 5; ++r)
          for (int c = 0; c < 5; ++c) {
            const int iy = iy0 + r, ix = ix0 + c;
            at[r * 5 + c] = iy >= 0 && iy < d.h && ix >= 0 && ix < d.w
                                ? in + (n * d.plane() + static_cast<std::size_t>(iy) * d.w + static_cast<std::size_t>(ix)) * sci
                                : zeros;
          }
        each_channel([&](int r, int c) { return at[r * 5 + c]; });
      }
    }
    // The 25 products M_t = V_t · U_t, each one row block and one depth slice
    // (nt ≤ 24 rows, k = in_c, U_t in L1/L2): straight to the panels, without
    // gemm_bias_act's blocking.
    for (int t = 0; t < kWinogradPoints; ++t) {
      const GemmArgs g{.m = static_cast<std::size_t>(nt), .k = ci, .n = co, .a = v + static_cast<std::size_t>(t) * sci,
                       .lda = v_tile, .b = f.weights.data() + static_cast<std::size_t>(t) * u_floats, .bias = nullptr,
                       .act = Act::kNone, .c = m + static_cast<std::size_t>(t) * sco, .ldc = m_tile};
      const float* panel = g.b;
      for (int col = 0; col < co; col += GemmTiling<Arch>::kPanel) {
        const int width = detail::panel_width<Arch>(co, col);
        detail::gemm_panel_any<Arch>(width / kLanes, g, 0, g.m, col, panel, 0, ci, {});
        panel += static_cast<std::size_t>(ci) * width;
      }
    }
    // Output transform, bias, activation: the tile's 2×2 outputs.
    for (int i = 0; i < nt; ++i) {
      const std::size_t tile = tile0 + static_cast<std::size_t>(i), pair = tile / tiles_per_row;
      const std::size_t n = pair / pairs_per_image;
      const int oy0 = 2 * static_cast<int>(pair % pairs_per_image), ox0 = 2 * static_cast<int>(tile % tiles_per_row);
      std::array<float*, 4> dst{};  // output (y, x) at index 2y + x, null past the image
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x)
          if (oy0 + y < oh && ox0 + x < ow)
            dst[y * 2 + x] = out + ((n * static_cast<std::size_t>(oh) + static_cast<std::size_t>(oy0 + y)) * ow +
                                    static_cast<std::size_t>(ox0 + x) - out_first) * sco;
      const float* mt = m + static_cast<std::size_t>(i) * m_tile;
      const auto transform = [&]<class T>(auto load, auto store, int ch) {
        T z[2][5];  // [output row][x point]
        const float* src = mt + ch;
        for (int b = 0; b < 5; ++b) {  // along y: the points a of x point b, one after the other
          T p[5];
          for (int a = 0; a < 5; ++a, src += sco) p[a] = load(src);
          z[0][b] = p[0] + p[1] + p[3];
          z[1][b] = p[1] + p[2] + p[4];
        }
        const T bias = load(f.bias.data() + ch);
        const auto activated = [act](T y) {
          if constexpr (std::is_same_v<T, float>)
            return activate(y, act);
          else
            return activate<Arch>(y, act);
        };
        for (int y = 0; y < 2; ++y) {  // along x
          if (dst[2 * y] != nullptr) store(dst[2 * y] + ch, activated(z[y][0] + z[y][1] + z[y][3] + bias));
          if (dst[2 * y + 1] != nullptr) store(dst[2 * y + 1] + ch, activated(z[y][1] + z[y][2] + z[y][4] + bias));
        }
      };
      for (int ch = 0; ch < whole_out; ch += kLanes)
        transform.template operator()<B>([](const float* p) { return B::load_unaligned(p); },
                                         [](float* p, B x) { x.store_unaligned(p); }, ch);
      for (int ch = whole_out; ch < co; ++ch)
        transform.template operator()<float>([](const float* p) { return *p; }, [](float* p, float x) { *p = x; }, ch);
    }
  }
}

}  // namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::cpu
