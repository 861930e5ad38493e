#pragma once
// NVFP4 scale rules (DESIGN §4), bit-compatible with TensorRT Model Optimizer: every operation in FP32, in
// exactly this order, since other orders change ~3e-4 of the codes.
#include <cstddef>
#include <cstdint>

#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"

namespace fp4gptq::nvfp4 {

constexpr int kBlockSize = 16;
constexpr float kGlobalScaleDivisor = 6.0f * 448.0f;  // E2M1 max · E4M3 max = 2688

// scale_2 = amax / 2688 (amax of the original weight, or of the group sharing one input).
inline float global_scale(float amax) { return amax / kGlobalScaleDivisor; }

// FP8 E4M3 byte of a block scale: s = block_amax / (6·scale_2), 6·scale_2 computed first. An all-zero
// block stores 1.0, as ModelOpt does.
inline uint8_t block_scale_code(float block_amax, float scale_2) {
  if (block_amax == 0.0f) return numeric::kE4M3One;
  const float denom = 6.0f * scale_2;
  return numeric::f32_to_e4m3(block_amax / denom);
}

// fp8(s) · scale_2: the factor between E2M1 codes and weight values.
inline float effective_scale(uint8_t scale_code, float scale_2) { return numeric::e4m3_to_f32(scale_code) * scale_2; }

// Magnitude of the E2M1 value nearest to |v| (ties to even), as a sum of exact steps so it vectorizes.
inline float e2m1_round_magnitude(float a) {
  return 0.5f * ((a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f)) + 1.0f * ((a > 2.5f) + (a >= 3.5f)) +
         2.0f * (a > 5.0f);
}

// Quantizes one value with the block's effective scale. Returns the code; *value gets e2m1 · eff in FP32
// (+0 for zeros, also for code 8). eff == 0 (scale underflow) gives code 0 and +0. Branch-free (selects
// only) so loops over it vectorize.
inline uint8_t quantize_value(float x, float eff, float* value) {
  const bool underflow = eff == 0.0f;
  const float v = x / (underflow ? 1.0f : eff);  // a true division (DESIGN §4)
  const float a = std::fabs(v);
  const bool neg = std::signbit(v);
  const float m = e2m1_round_magnitude(a);
  *value = underflow ? 0.0f : (neg ? -m : m) * eff + 0.0f;  // + 0 turns -0 into +0
  const int mag = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
  return underflow ? 0 : static_cast<uint8_t>(mag | (neg ? 8 : 0));
}

// max |x[i]| over n values.
float max_abs(const float* x, size_t n);

}  // namespace fp4gptq::nvfp4
