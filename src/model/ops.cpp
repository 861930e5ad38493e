#include "model/ops.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "fp4gptq/error.hpp"
#include "numeric/fast_exp.hpp"
#include "numeric/simd.hpp"

namespace fp4gptq::model {

FP4GPTQ_SIMD_CLONES void rms_norm(const float* x, int64_t rows, int64_t n, const float* w, double eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * n;
    float ss = 0.0f;
    for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + static_cast<float>(eps));
    float* yr = y + t * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * inv);
  }
}

FP4GPTQ_SIMD_CLONES void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + numeric::fast_exp(-gate[i])) * up[i];
}

namespace {

// In-place softmax of row[0..n), zeros in row[n..len) (the causal mask).
FP4GPTQ_SIMD_CLONES void masked_softmax(float* row, int64_t n, int64_t len) {
  float mx = row[0];
  for (int64_t j = 1; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
  for (int64_t j = 0; j < n; ++j) row[j] = numeric::fast_exp(row[j] - mx);
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += row[j];
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) row[j] *= inv;
  for (int64_t j = n; j < len; ++j) row[j] = 0.0f;
}

}  // namespace

RopeTable::RopeTable(const ModelConfig& c, int64_t max_positions) : dim_(c.head_dim), max_pos_(max_positions) {
  const int64_t half = dim_ / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = 1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(dim_));
  if (c.rope_scaling) {
    const auto& s = *c.rope_scaling;
    if (s.rope_type == "llama3") {
      // Llama 3.1: long wavelengths divided by the factor, short ones kept, a smooth ramp between.
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor, high_wavelen = old_len / s.high_freq_factor;
      for (auto& f : inv_freq) {
        const double wavelen = 2.0 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
          f /= s.factor;
        } else if (wavelen >= high_wavelen) {
          const double smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          f = (1.0 - smooth) * f / s.factor + smooth * f;
        }
      }
    } else if (s.rope_type == "linear") {
      for (auto& f : inv_freq) f /= s.factor;
    } else {
      throw Error("config.json: rope_scaling type '" + s.rope_type + "' is not supported (default, linear, llama3)");
    }
  }
  cos_.resize(static_cast<size_t>(max_pos_ * dim_));
  sin_.resize(cos_.size());
  for (int64_t p = 0; p < max_pos_; ++p)
    for (int64_t i = 0; i < half; ++i) {
      // transformers: freqs = pos · inv_freq in FP32, then cos/sin in FP32
      const float ang = static_cast<float>(p) * static_cast<float>(inv_freq[i]);
      const float cv = std::cos(ang), sv = std::sin(ang);
      cos_[p * dim_ + i] = cos_[p * dim_ + i + half] = cv;
      sin_[p * dim_ + i] = sin_[p * dim_ + i + half] = sv;
    }
}

void RopeTable::apply(float* x, int64_t rows, int64_t heads, int64_t pos0) const {
  if (pos0 + rows > max_pos_)
    throw Error("RoPE: position " + std::to_string(pos0 + rows - 1) + " beyond the table of " +
                std::to_string(max_pos_));
  const int64_t half = dim_ / 2;
  for (int64_t t = 0; t < rows; ++t) {
    const float* c = &cos_[(pos0 + t) * dim_];
    const float* s = &sin_[(pos0 + t) * dim_];
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * dim_;
      // x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1]
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i + half] + a * s[i + half];
      }
    }
  }
}

void causal_attention(const linalg::Context& ctx, const float* q, const float* k, const float* v, int64_t len,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, float* out) {
  // Query blocks of 128 rows see only the keys up to their last row, so the masked half of the score
  // matrix is (mostly) never computed.
  constexpr int64_t kBlock = 128;
  const int64_t group = heads / kv_heads, ldq = heads * head_dim, ldk = kv_heads * head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  thread_local std::vector<float> scores;
  scores.resize(static_cast<size_t>(std::min(kBlock, len) * len));
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t g = h / group;
    for (int64_t r0 = 0; r0 < len; r0 += kBlock) {
      const int64_t r1 = std::min(r0 + kBlock, len), m = r1 - r0;
      // scores[m, r1] = q[r0:r1, h] · k[0:r1, g]ᵀ · scale
      ctx.sgemm(false, true, m, r1, head_dim, scale, q + r0 * ldq + h * head_dim, ldq, k + g * head_dim, ldk, 0.0f,
                scores.data(), r1);
      for (int64_t i = 0; i < m; ++i) masked_softmax(&scores[i * r1], r0 + i + 1, r1);  // causal: keys 0..r0+i
      ctx.sgemm(false, false, m, head_dim, r1, 1.0f, scores.data(), r1, v + g * head_dim, ldk, 0.0f,
                out + r0 * ldq + h * head_dim, ldq);
    }
  }
}

}  // namespace fp4gptq::model
