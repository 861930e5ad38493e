#pragma once
// oneDNN bf16 matmul with FP32 accumulation (AMX or AVX512-BF16 where the CPU has them; oneDNN dispatches at
// run time). Primitives are cached per shape and layout.
#include <cstdint>

namespace fp4gptq::linalg {

// A strided view of a bf16 matrix (raw uint16 bit patterns): element (i, j) at data[i·row_stride + j·col_stride].
struct Bf16View {
  const uint16_t* data;
  int64_t row_stride, col_stride;
};

// C[m, n] (FP32, row stride ldc) = A[m, k] · B[k, n] (+ C when accumulate).
void bf16_gemm(int64_t m, int64_t n, int64_t k, Bf16View a, Bf16View b, float* c, int64_t ldc, bool accumulate);

// Row-major convenience: trans_a: A is stored [k, m] (XᵀX Gram matrices); trans_b: B is stored [n, k]
// (x·Wᵀ with W [out, in]).
void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, const uint16_t* b,
               float* c, bool accumulate);

}  // namespace fp4gptq::linalg
