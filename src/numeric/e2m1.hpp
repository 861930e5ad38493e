#pragma once
// FP4 E2M1: magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}, sign in bit 3 of the 4-bit code.
#include <cmath>
#include <cstdint>

namespace fp4gptq::numeric {

inline constexpr float kE2M1Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
constexpr float kE2M1Max = 6.0f;

// Rounds v to the nearest E2M1 value, ties to the even code (DESIGN §4): |v| <= 0.25 -> 0, < 0.75 -> 0.5,
// <= 1.25 -> 1, < 1.75 -> 1.5, <= 2.5 -> 2, < 3.5 -> 3, <= 5 -> 4, else 6. Branch-free so loops vectorize.
// A negative v keeps its sign bit even when it rounds to 0 (code 8).
inline uint8_t e2m1_encode(float v) {
  const float a = std::fabs(v);
  const int mag = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
  return static_cast<uint8_t>(mag | (std::signbit(v) ? 8 : 0));
}

// Value of a code; code 8 (negative zero) decodes to +0.
inline float e2m1_decode(uint8_t code) {
  const float m = kE2M1Values[code & 7];
  return (code & 8) ? -m + 0.0f : m;
}

}  // namespace fp4gptq::numeric
