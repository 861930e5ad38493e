#pragma once
// oneDNN bf16 matmul with FP32 accumulation (AMX or AVX512-BF16 where the CPU has them; oneDNN dispatches at
// run time). Primitives are cached per shape.
#include <cstdint>
#include <memory>

namespace fp4gptq::linalg {

// C[m, n] (FP32) = op(A) · op(B) (+ C when accumulate), A and B bf16 (raw uint16 bit patterns), row-major.
// trans_a: A is stored [k, m] (XᵀX Gram matrices); trans_b: B is stored [n, k] (x·Wᵀ with W [out, in]).
void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, const uint16_t* b,
               float* c, bool accumulate);

}  // namespace fp4gptq::linalg
