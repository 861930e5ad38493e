#pragma once
#include <cstddef>
#include <cstdint>

namespace fp4gptq::numeric {

// Index of the first NaN or ±Inf among x[0..n), or n when all are finite (vectorized).
size_t first_non_finite(const float* x, size_t n);
// The same for n 16-bit floats given as bytes (F16: exponent mask 0x7c00; BF16: 0x7f80), without converting them.
size_t first_non_finite_16(const std::byte* x, size_t n, uint16_t exponent_mask);

}  // namespace fp4gptq::numeric
