#pragma once
// OCP FP8 E4M3 ("E4M3FN"): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; S.1111.111 is NaN;
// largest finite 448 = 1.75·2^8; subnormals m/8 · 2^-6.
#include <cstdint>

namespace fp4gptq::numeric {

constexpr float kE4M3Max = 448.0f;
constexpr uint8_t kE4M3One = 0x38;  // 1.0

float e4m3_to_f32(uint8_t code);
// Round-to-nearest-even; |x| > 448 (and ±Inf) saturate to ±448; NaN -> 0x7F (sign kept).
uint8_t f32_to_e4m3(float x);

}  // namespace fp4gptq::numeric
