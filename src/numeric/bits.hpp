#pragma once
// Bit casts between float and its IEEE-754 binary32 pattern.
#include <bit>
#include <cstdint>

namespace fp4gptq::numeric {

inline uint32_t f32_bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float f32_from_bits(uint32_t b) { return std::bit_cast<float>(b); }

}  // namespace fp4gptq::numeric
