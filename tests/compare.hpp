#pragma once
// Golden comparisons with the tolerance rule of ../shared/golden/README.md:
// max |ours - golden| <= tol * max |golden|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "mnv4/core/tensor.hpp"
#include "mnv4/io/safetensors.hpp"

namespace mnv4::test {

inline constexpr double kBlockTolerance = 1e-4;  // single blocks
inline constexpr double kModelTolerance = 2e-4;  // whole-model logits and stage features

inline Tensor read_tensor(const io::SafetensorsFile& file, const std::string& key) {
  const io::TensorEntry& e = file.at(key);
  return Tensor(e.shape, file.to_float(e));
}

// max |a - b| / max |b|; the figure the closing notes quote.
inline double relative_error(const Tensor& ours, const Tensor& golden) {
  double max_diff = 0.0, max_ref = 0.0;
  for (int64_t i = 0; i < golden.numel(); ++i) {
    max_diff = std::max(max_diff, std::abs(static_cast<double>(ours.data()[i]) - golden.data()[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(golden.data()[i])));
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

inline ::testing::AssertionResult matches_golden(const Tensor& ours, const Tensor& golden, double tolerance,
                                                 const std::string& what) {
  if (ours.shape() != golden.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_string(ours.shape()) << " vs golden "
                                         << shape_string(golden.shape());
  for (float v : ours.values())
    if (!std::isfinite(v)) return ::testing::AssertionFailure() << what << ": non-finite output";
  const double rel = relative_error(ours, golden);
  ::testing::Test::RecordProperty(what + ".max_rel_err", std::to_string(rel));
  std::printf("[ golden   ] %-48s max|diff|/max|ref| = %.3e (tolerance %.0e)\n", what.c_str(), rel, tolerance);
  if (rel > tolerance)
    return ::testing::AssertionFailure() << what << ": relative error " << rel << " exceeds " << tolerance;
  return ::testing::AssertionSuccess();
}

// Indices of the k largest values of row `row` of a [N, classes] tensor, largest first.
inline std::vector<int> top_k(const Tensor& logits, int row, int k) {
  const int classes = static_cast<int>(logits.dim(1));
  const float* p = logits.data() + static_cast<std::ptrdiff_t>(row) * classes;
  std::vector<int> idx(static_cast<std::size_t>(classes));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return p[a] > p[b]; });
  idx.resize(static_cast<std::size_t>(k));
  return idx;
}

}  // namespace mnv4::test
