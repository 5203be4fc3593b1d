#pragma once
// Conversions between NCHW and NHWC, used only at the model's edges and where
// consecutive blocks run on backends with different layouts.
#include "mnv4/config.hpp"
#include <cstddef>

#include "mnv4/core/dims.hpp"
#include "mnv4/core/layout.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE {

namespace detail {
// C known at compile time (an RGB input): one pass writing each pixel whole,
// where C strided passes would each touch every output line.
template <int C>
void nchw_to_nhwc_fixed(const float* s, std::size_t plane, float* o) {
  for (std::size_t i = 0; i < plane; ++i)
    for (int c = 0; c < C; ++c) o[i * C + static_cast<std::size_t>(c)] = s[static_cast<std::size_t>(c) * plane + i];
}
}  // namespace detail

inline void nchw_to_nhwc(const float* src, Dims d, float* dst) {
  const std::size_t plane = d.plane();
  for (int n = 0; n < d.n; ++n) {
    const float* s = src + static_cast<std::size_t>(n) * d.c * plane;
    float* o = dst + static_cast<std::size_t>(n) * d.c * plane;
    if (d.c == 3) {
      detail::nchw_to_nhwc_fixed<3>(s, plane, o);
      continue;
    }
    for (int c = 0; c < d.c; ++c)
      for (std::size_t i = 0; i < plane; ++i) o[i * d.c + c] = s[c * plane + i];
  }
}

inline void nhwc_to_nchw(const float* src, Dims d, float* dst) {
  const std::size_t plane = d.plane();
  for (int n = 0; n < d.n; ++n) {
    const float* s = src + static_cast<std::size_t>(n) * d.c * plane;
    float* o = dst + static_cast<std::size_t>(n) * d.c * plane;
    for (std::size_t i = 0; i < plane; ++i)
      for (int c = 0; c < d.c; ++c) o[c * plane + i] = s[i * d.c + c];
  }
}

// Copies `src` (layout `from`) into `dst` in layout `to`.
inline void convert_layout(const float* src, Layout from, Dims d, float* dst, Layout to) {
  if (from == to) {
    for (std::size_t i = 0; i < d.count(); ++i) dst[i] = src[i];
  } else if (from == Layout::kNCHW) {
    nchw_to_nhwc(src, d, dst);
  } else {
    nhwc_to_nchw(src, d, dst);
  }
}

}  // namespace mnv4
