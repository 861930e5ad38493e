#pragma once
// A cache-blocked (optionally column-permuted) transpose of a row-major matrix, and the symmetric fill.
#include <cstdint>

namespace fp4gptq::linalg {

// dst[j, i] = src[i, perm ? perm[j] : j] for src [rows, cols]; dst is [cols, rows].
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm = nullptr);

// a[j, i] = a[i, j] for i < j: the strict upper triangle of the row-major [n, n] a copied to the lower one.
void mirror_upper(float* a, int64_t n);

}  // namespace fp4gptq::linalg
