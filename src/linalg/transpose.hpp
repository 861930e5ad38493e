#pragma once
// Cache-blocked (optionally column-permuted) transposes of row-major matrices.
#include <cstdint>

namespace fp4gptq::linalg {

// dst[j, i] = src[i, perm ? perm[j] : j] for src [rows, cols]; dst is [cols, rows].
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm = nullptr);
// The inverse: dst[i, perm ? perm[j] : j] = src[j, i] for src [cols, rows]; dst is [rows, cols].
template <typename T>
void transpose_back(const T* src, int64_t rows, int64_t cols, T* dst, const int64_t* perm = nullptr);

}  // namespace fp4gptq::linalg
