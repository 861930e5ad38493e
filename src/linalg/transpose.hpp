#pragma once
// A cache-blocked (optionally column-permuted) transpose of a row-major matrix.
#include <cstdint>

namespace fp4gptq::linalg {

// dst[j, i] = src[i, perm ? perm[j] : j] for src [rows, cols]; dst is [cols, rows].
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm = nullptr);

}  // namespace fp4gptq::linalg
