#pragma once
#include <cstddef>

namespace fp4gptq::numeric {

// Index of the first NaN or ±Inf among x[0..n), or n when all are finite (vectorized).
size_t first_non_finite(const float* x, size_t n);

}  // namespace fp4gptq::numeric
