#include "numeric/fp8_e4m3.hpp"

#include <cmath>

#include "numeric/bits.hpp"

namespace fp4gptq::numeric {

namespace {

// The OCP E4M3 value of a code, evaluated at compile time: subnormal (exponent 0) m/8 · 2^-6, normal
// (1 + m/8) · 2^(e-7), S.1111.111 NaN.
constexpr float decode(int code) {
  const int exp = (code >> 3) & 0xf, mant = code & 0x7;
  if (exp == 0xf && mant == 0x7) return __builtin_nanf("");
  float v = exp == 0 ? static_cast<float>(mant) / 8.0f : 1.0f + static_cast<float>(mant) / 8.0f;
  for (int e = exp == 0 ? 1 : exp; e < 7; ++e) v /= 2.0f;  // exact: powers of two
  for (int e = 7; e < exp; ++e) v *= 2.0f;
  return (code & 0x80) ? -v : v;
}

struct DecodeTable {
  float v[256];
};
constexpr DecodeTable make_table() {
  DecodeTable t{};
  for (int c = 0; c < 256; ++c) t.v[c] = decode(c);
  return t;
}
constexpr DecodeTable kDecode = make_table();

}  // namespace

float e4m3_to_f32(uint8_t code) { return kDecode.v[code]; }

uint8_t f32_to_e4m3(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (std::isnan(x)) return sign | 0x7f;
  const float a = std::fabs(x);
  if (a >= 0x1p-6f) {
    // Normal range: keep 3 of the 23 mantissa bits, rounding to nearest even on the (exponent|mantissa)
    // integer so that a carry moves into the exponent, then rebias 127 -> 7.
    uint32_t b = f32_bits(a);
    if (b >= 0x7f800000u) return sign | 0x7e;  // Inf saturates
    b += 0x7ffffu + ((b >> 20) & 1u);
    const uint32_t code = (b >> 20) - ((127u - 7u) << 3);
    return sign | static_cast<uint8_t>(code > 0x7e ? 0x7e : code);
  }
  // Subnormal range: the grid is 2^-9; a*512 is exact and nearbyint rounds half to even. A result of 8 is
  // the smallest normal (code 0x08), which the same integer encodes.
  return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
}

}  // namespace fp4gptq::numeric
