#pragma once
// NVFP4 scale rules (docs/DESIGN.md §4), bit-compatible with TensorRT Model Optimizer: every operation in FP32, in
// exactly this order, since other orders change ~3e-4 of the codes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"

namespace fp4gptq::nvfp4 {

constexpr int kBlockSize = 16;
constexpr float kGlobalScaleDivisor = numeric::kE2M1Max * numeric::kE4M3Max;  // 6 · 448 = 2688

// The block an input column belongs to, its g_idx: blocks follow the original column order, also with
// act-order, so the layout stays hardware-compatible.
constexpr int64_t block_index(int64_t column) { return column / kBlockSize; }
// g_idx of a module with `cols` input columns: block_index(i) for every column i.
std::vector<int32_t> g_idx(int64_t cols);

// scale_2 = amax / (6·K) (amax of the original weight, or of the group sharing one input): K = 448 is
// ModelOpt's amax / 2688 (6·448 is exact in FP32, so the division is the same); smaller K (--scale2-max) lets
// the block scales grow past the amax rule.
inline float global_scale(float amax, float scale2_max = numeric::kE4M3Max) {
  return amax / (numeric::kE2M1Max * scale2_max);
}

// FP8 E4M3 byte of a block scale: s = block_amax / (6·scale_2), 6·scale_2 computed first. An all-zero
// block stores 1.0, as ModelOpt does.
inline uint8_t block_scale_code(float block_amax, float scale_2) {
  if (block_amax == 0.0f) return numeric::kE4M3One;
  const float denom = numeric::kE2M1Max * scale_2;
  return numeric::f32_to_e4m3(block_amax / denom);
}

// fp8(s) · scale_2: the factor between E2M1 codes and weight values.
inline float effective_scale(uint8_t scale_code, float scale_2) { return numeric::e4m3_to_f32(scale_code) * scale_2; }

// Quantizes one value with the block's effective scale. Returns the code; *value gets e2m1 · eff in FP32
// (+0 for zeros, also for code 8). eff == 0 (scale underflow) gives code 0 and +0. Branch-free (selects
// only) so loops over it vectorize. The code equals e2m1_encode(v); taking the magnitude from that byte
// instead of from k makes quantize_row_rtn ~20% slower with GCC 12.
inline uint8_t quantize_value(float x, float eff, float* value) {
  const bool underflow = eff == 0.0f;
  const float v = x / (underflow ? 1.0f : eff);  // a true division (docs/DESIGN.md §4)
  const int k = numeric::e2m1_magnitude_index(std::fabs(v));
  *value = underflow ? 0.0f : std::copysign(numeric::e2m1_magnitude(k), v) * eff + 0.0f;  // + 0 turns -0 into +0
  return underflow ? 0 : numeric::e2m1_code(k, std::signbit(v));
}

// max |x[i]| over n values.
float max_abs(const float* x, size_t n);

}  // namespace fp4gptq::nvfp4
