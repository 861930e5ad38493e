#pragma once
// Position-wise and attention operations of the decoder forward pass, as transformers computes them, in FP32.
#include <cstdint>
#include <vector>

#include "linalg/context.hpp"
#include "model/config.hpp"

namespace fp4gptq::model {

// y[t] = x[t] / sqrt(mean(x[t]²) + eps) · w   for T rows of length n (RMSNorm; y may alias x).
void rms_norm(const float* x, int64_t rows, int64_t n, const float* w, double eps, float* y);

// out[t, i] = silu(gate[t, i]) · up[t, i]; silu(g) = g / (1 + e^-g) (SwiGLU).
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// RoPE cos/sin tables [positions, head_dim] (cos(θ)·[f, f] as transformers' cat(freqs, freqs)), with the
// default or llama3 inverse frequencies (rope_scaling "linear" divides them by the factor).
class RopeTable {
 public:
  RopeTable(const ModelConfig& c, int64_t max_positions);
  // Rotates x [rows, heads, head_dim] in place (NeoX rotate-half) for rows at positions pos0.. pos0+rows-1.
  void apply(float* x, int64_t rows, int64_t heads, int64_t pos0) const;
  int64_t max_positions() const { return max_pos_; }

 private:
  int64_t dim_, max_pos_;
  std::vector<float> cos_, sin_;
};

// Causal grouped-query attention of one sequence: q [L, nh, hd], k and v [L, nkv, hd] → out [L, nh·hd].
// Scores q·kᵀ/sqrt(hd) and the softmax in FP32 (matmuls through sgemm).
void causal_attention(const linalg::Context& ctx, const float* q, const float* k, const float* v, int64_t len,
                      int64_t heads, int64_t kv_heads, int64_t head_dim, float* out);

}  // namespace fp4gptq::model
