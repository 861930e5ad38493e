#pragma once
// FP4 E2M1: magnitudes {0, 0.5, 1, 1.5, 2, 3, 4, 6}, sign in bit 3 of the 4-bit code.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fp4gptq::numeric {

inline constexpr float kE2M1Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
constexpr float kE2M1Max = kE2M1Values[7];

// Index (0..7) of the E2M1 magnitude nearest to a = |v|, ties to the even index (docs/DESIGN.md §4): a <= 0.25 -> 0,
// < 0.75 -> 0.5, <= 1.25 -> 1, < 1.75 -> 1.5, <= 2.5 -> 2, < 3.5 -> 3, <= 5 -> 4, else 6. The one place the
// rounding bounds are written; a sum of comparisons, branch-free so loops over it vectorize.
constexpr int e2m1_magnitude_index(float a) {
  return (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) + (a > 5.0f);
}

// kE2M1Values[k] by arithmetic rather than a table lookup (which would not vectorize): twice the magnitude is
// k up to 4, then 6, 8, 12.
constexpr float e2m1_magnitude(int k) { return 0.5f * static_cast<float>(k + std::max(k - 4, 0) + 2 * (k == 7)); }

static_assert([] {
  for (int k = 0; k < 8; ++k)
    if (e2m1_magnitude(k) != kE2M1Values[k] || e2m1_magnitude_index(kE2M1Values[k]) != k) return false;
  return e2m1_magnitude(7) == kE2M1Max;
}());

// The 4-bit code of magnitude index k (0..7) with the sign in bit 3.
constexpr uint8_t e2m1_code(int k, bool negative) { return static_cast<uint8_t>(k | (negative ? 8 : 0)); }

// Rounds v to the nearest E2M1 code (e2m1_magnitude_index of |v|). A negative v keeps its sign bit even when
// it rounds to 0 (code 8).
inline uint8_t e2m1_encode(float v) { return e2m1_code(e2m1_magnitude_index(std::fabs(v)), std::signbit(v)); }

// Value of a code; code 8 (negative zero) decodes to +0.
inline float e2m1_decode(uint8_t code) {
  const float m = kE2M1Values[code & 7];
  return (code & 8) ? -m + 0.0f : m;
}

}  // namespace fp4gptq::numeric
