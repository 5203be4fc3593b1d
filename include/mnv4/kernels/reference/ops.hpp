#pragma once
// Scalar reference operators on NCHW float tensors: the test oracle.
// Written for obvious correctness, not speed: each follows the PyTorch definition
// directly and accumulates in double.
#include "mnv4/config.hpp"
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "mnv4/core/dims.hpp"
#include "mnv4/spec/blocks.hpp"

namespace mnv4::inline MNV4_ISA_NAMESPACE::kernels::reference {

// Grouped 2-D convolution, no bias, timm's symmetric padding.
// weight: [out_c, in.c / groups, k, k]. Returns the output dims.
inline Dims conv2d(const float* in, Dims d, const float* weight, int out_c, int k, int stride, int groups,
                   float* out) {
  const int pad = conv_pad(k, stride);
  const Dims o{d.n, out_c, conv_out(d.h, k, stride), conv_out(d.w, k, stride)};
  const int in_per_group = d.c / groups;
  const int out_per_group = out_c / groups;
  for (int n = 0; n < d.n; ++n)
    for (int oc = 0; oc < out_c; ++oc) {
      const int g = oc / out_per_group;
      for (int oy = 0; oy < o.h; ++oy)
        for (int ox = 0; ox < o.w; ++ox) {
          double acc = 0.0;
          for (int ic = 0; ic < in_per_group; ++ic) {
            const int c = g * in_per_group + ic;
            for (int ky = 0; ky < k; ++ky) {
              const int iy = oy * stride - pad + ky;
              if (iy < 0 || iy >= d.h) continue;
              for (int kx = 0; kx < k; ++kx) {
                const int ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= d.w) continue;
                const float x = in[((static_cast<std::size_t>(n) * d.c + c) * d.h + iy) * d.w + ix];
                const float wv = weight[((static_cast<std::size_t>(oc) * in_per_group + ic) * k + ky) * k + kx];
                acc += static_cast<double>(x) * wv;
              }
            }
          }
          out[((static_cast<std::size_t>(n) * out_c + oc) * o.h + oy) * o.w + ox] = static_cast<float>(acc);
        }
    }
  return o;
}

// Eval-mode BatchNorm in place: (x - mean) / sqrt(var + eps) * gamma + beta.
inline void batch_norm(float* x, Dims d, const float* gamma, const float* beta, const float* mean, const float* var,
                       float eps) {
  for (int n = 0; n < d.n; ++n)
    for (int c = 0; c < d.c; ++c) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
      float* p = x + (static_cast<std::size_t>(n) * d.c + c) * d.plane();
      for (std::size_t i = 0; i < d.plane(); ++i)
        p[i] = static_cast<float>((p[i] - static_cast<double>(mean[c])) * inv * gamma[c] + beta[c]);
    }
}

inline float activate(float x, Act act) {
  switch (act) {
    case Act::kRelu: return x > 0.0f ? x : 0.0f;
    case Act::kGelu: {  // exact GELU: x * Phi(x)
      const double v = x;
      return static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
    }
    case Act::kNone: break;
  }
  return x;
}

inline void activate(float* x, std::size_t count, Act act) {
  if (act == Act::kNone) return;
  for (std::size_t i = 0; i < count; ++i) x[i] = activate(x[i], act);
}

// x[n, c, :, :] *= gamma[c] (layer scale).
inline void scale_channels(float* x, Dims d, const float* gamma) {
  for (int n = 0; n < d.n; ++n)
    for (int c = 0; c < d.c; ++c) {
      float* p = x + (static_cast<std::size_t>(n) * d.c + c) * d.plane();
      for (std::size_t i = 0; i < d.plane(); ++i) p[i] *= gamma[c];
    }
}

inline void add(float* x, const float* y, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) x[i] += y[i];
}

// Multi-query attention for one batch of images, NCHW in and out:
//   q [N, heads*key_dim, L], k [N, key_dim, P], v [N, value_dim, P] -> o [N, heads*value_dim, L]
//   o[h*value_dim + j, l] = sum_p softmax_p(scale * q[h, :, l] . k[:, p]) v[j, p]
inline void multi_query_attention(const float* q, const float* k, const float* v, int n, int heads, int key_dim,
                                  int value_dim, std::size_t l_count, std::size_t p_count, float* o) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(key_dim));
  std::vector<double> logits(p_count);
  for (int b = 0; b < n; ++b) {
    const float* qb = q + static_cast<std::size_t>(b) * heads * key_dim * l_count;
    const float* kb = k + static_cast<std::size_t>(b) * key_dim * p_count;
    const float* vb = v + static_cast<std::size_t>(b) * value_dim * p_count;
    float* ob = o + static_cast<std::size_t>(b) * heads * value_dim * l_count;
    for (int h = 0; h < heads; ++h)
      for (std::size_t l = 0; l < l_count; ++l) {
        double max_logit = -INFINITY;
        for (std::size_t p = 0; p < p_count; ++p) {
          double dot = 0.0;
          for (int d = 0; d < key_dim; ++d)
            dot += static_cast<double>(qb[(static_cast<std::size_t>(h) * key_dim + d) * l_count + l]) *
                   kb[static_cast<std::size_t>(d) * p_count + p];
          logits[p] = dot * scale;
          max_logit = std::max(max_logit, logits[p]);
        }
        double sum = 0.0;
        for (std::size_t p = 0; p < p_count; ++p) sum += (logits[p] = std::exp(logits[p] - max_logit));
        for (int j = 0; j < value_dim; ++j) {
          double acc = 0.0;
          for (std::size_t p = 0; p < p_count; ++p) acc += logits[p] * vb[static_cast<std::size_t>(j) * p_count + p];
          ob[(static_cast<std::size_t>(h) * value_dim + j) * l_count + l] = static_cast<float>(acc / sum);
        }
      }
  }
}

// [N, C, H, W] -> [N, C] mean over H×W.
inline void global_avg_pool(const float* in, Dims d, float* out) {
  for (int n = 0; n < d.n; ++n)
    for (int c = 0; c < d.c; ++c) {
      const float* p = in + (static_cast<std::size_t>(n) * d.c + c) * d.plane();
      double acc = 0.0;
      for (std::size_t i = 0; i < d.plane(); ++i) acc += p[i];
      out[static_cast<std::size_t>(n) * d.c + c] = static_cast<float>(acc / static_cast<double>(d.plane()));
    }
}

// y[n, o] = bias[o] + sum_i w[o, i] x[n, i]; bias may be null.
inline void linear(const float* x, int n, int in_f, const float* w, const float* bias, int out_f, float* y) {
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < out_f; ++o) {
      double acc = bias != nullptr ? bias[o] : 0.0;
      for (int i = 0; i < in_f; ++i)
        acc += static_cast<double>(w[static_cast<std::size_t>(o) * in_f + i]) * x[static_cast<std::size_t>(b) * in_f + i];
      y[static_cast<std::size_t>(b) * out_f + o] = static_cast<float>(acc);
    }
}

}  // namespace mnv4::kernels::reference
