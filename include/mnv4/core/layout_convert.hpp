#pragma once
// Conversions between NCHW and NHWC, used only at the model's edges and where
// consecutive blocks run on backends with different layouts. Each works on a
// range of image rows (image, y), so a caller can split one across threads.
#include "mnv4/config.hpp"
#include <algorithm>
#include <cstddef>

#include "mnv4/core/dims.hpp"
#include "mnv4/core/layout.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

namespace detail {
// One image row: C channel rows of NCHW (`s`, a plane apart) into one NHWC row
// (`o`). C known at compile time (an RGB input): each pixel written whole,
// where C strided passes would each touch every output line.
template <int C>
void nchw_row_to_nhwc(const float* s, std::size_t plane, int c, int w, float* o) {
  const int channels = C != 0 ? C : c;
  for (int x = 0; x < w; ++x)
    for (int ch = 0; ch < channels; ++ch)
      o[static_cast<std::size_t>(x) * channels + ch] = s[static_cast<std::size_t>(ch) * plane + x];
}
}  // namespace detail

// Image rows [row_begin, row_end) of the flattened (image, y) range.
inline void nchw_to_nhwc_rows(const float* src, Dims d, float* dst, std::size_t row_begin, std::size_t row_end) {
  const std::size_t plane = d.plane(), h = static_cast<std::size_t>(d.h), w = static_cast<std::size_t>(d.w);
  const std::size_t c = static_cast<std::size_t>(d.c);
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const std::size_t n = r / h, y = r % h;
    const float* s = src + n * c * plane + y * w;
    float* o = dst + r * w * c;
    if (d.c == 3) detail::nchw_row_to_nhwc<3>(s, plane, d.c, d.w, o);
    else detail::nchw_row_to_nhwc<0>(s, plane, d.c, d.w, o);
  }
}

inline void nhwc_to_nchw_rows(const float* src, Dims d, float* dst, std::size_t row_begin, std::size_t row_end) {
  const std::size_t plane = d.plane(), h = static_cast<std::size_t>(d.h), w = static_cast<std::size_t>(d.w);
  const std::size_t c = static_cast<std::size_t>(d.c);
  for (std::size_t r = row_begin; r < row_end; ++r) {
    const std::size_t n = r / h, y = r % h;
    const float* s = src + r * w * c;
    float* o = dst + n * c * plane + y * w;
    for (std::size_t ch = 0; ch < c; ++ch)
      for (std::size_t x = 0; x < w; ++x) o[ch * plane + x] = s[x * c + ch];
  }
}

inline void nchw_to_nhwc(const float* src, Dims d, float* dst) {
  nchw_to_nhwc_rows(src, d, dst, 0, static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.h));
}

inline void nhwc_to_nchw(const float* src, Dims d, float* dst) {
  nhwc_to_nchw_rows(src, d, dst, 0, static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.h));
}

// Image rows [row_begin, row_end) of `src` (layout `from`) into `dst` in layout `to`.
inline void convert_layout_rows(const float* src, Layout from, Dims d, float* dst, Layout to, std::size_t row_begin,
                                std::size_t row_end) {
  if (from == to) {
    // The rows' share of the values: contiguous in either layout only as a whole,
    // so the copy splits the flat range in the same proportion.
    const std::size_t rows = static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.h);
    if (rows == 0) return;
    const std::size_t begin = d.count() * row_begin / rows, end = d.count() * row_end / rows;
    std::copy(src + begin, src + end, dst + begin);
  } else if (from == Layout::kNCHW) {
    nchw_to_nhwc_rows(src, d, dst, row_begin, row_end);
  } else {
    nhwc_to_nchw_rows(src, d, dst, row_begin, row_end);
  }
}

// Copies `src` (layout `from`) into `dst` in layout `to`.
inline void convert_layout(const float* src, Layout from, Dims d, float* dst, Layout to) {
  convert_layout_rows(src, from, d, dst, to, 0, static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.h));
}

}  // namespace mnv4
