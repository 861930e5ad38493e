#pragma once
// exp(x) for FP32 in a branch-free form that vectorizes (Cephes' expf: range reduction by ln 2 in two parts,
// a degree-5 polynomial for e^r on |r| <= ln2/2, and the power of two set in the exponent bits). Relative
// error below 2e-7 on [-87, 88]; arguments are clamped to that range (results 0 or +huge beyond it, no Inf).
#include <cmath>
#include <cstdint>

#include "numeric/bits.hpp"

namespace fp4gptq::numeric {

inline float fast_exp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  // n = round(x / ln 2): adding and subtracting 1.5·2^23 rounds to an integer without a branch or libcall.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  return p * f32_from_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
}

}  // namespace fp4gptq::numeric
