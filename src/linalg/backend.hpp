#pragma once
// The compute backend: the narrow interface through which the forward ops, the Hessian accumulation and the
// GPTQ solve reach a math library. The CPU backend (OpenBLAS / LAPACKE / oneDNN) is the one implementation;
// a GPU backend is a second subclass, and nothing above linalg/ changes. Every matrix is row-major. Each call
// gets the thread count of the Context it runs in (a backend may use fewer, never more).
#include <cstdint>

namespace fp4gptq::linalg {

// A strided view of a bf16 matrix (raw uint16 bit patterns): element (i, j) at data[i·row_stride + j·col_stride].
struct Bf16View {
  const uint16_t* data;
  int64_t row_stride, col_stride;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // C[m, n] = alpha · op(A) · op(B) + beta · C; op(X) = Xᵀ when the flag is set.
  virtual void sgemm(int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                     int64_t ldc) const = 0;
  // C[m, n] (FP32, row stride ldc) = A[m, k] · B[k, n] in bf16 with FP32 accumulation (+ C when accumulate).
  virtual void bf16_gemm(int threads, int64_t m, int64_t n, int64_t k, Bf16View a, Bf16View b, float* c, int64_t ldc,
                         bool accumulate) const = 0;
  // Upper triangle of C[n, n] = alpha · AᵀA + beta · C for A [k, n] (a symmetric rank-k update).
  virtual void syrk_upper_ata(int threads, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta,
                              float* c, int64_t ldc) const = 0;
  virtual void syrk_upper_ata(int threads, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                              double beta, double* c, int64_t ldc) const = 0;
  // In-place Cholesky factorization: lower L with A = L Lᵀ, or upper U with A = UᵀU; only that triangle is read
  // and written. Returns 0 on success, k > 0 when the leading minor k is not positive definite (LAPACK's info).
  virtual int cholesky(int threads, bool upper, float* a, int64_t n, int64_t lda) const = 0;
  // In-place inverse of a triangular matrix; returns LAPACK's info.
  virtual int triangular_inverse(int threads, bool upper, float* a, int64_t n, int64_t lda) const = 0;
  // B[m, n] := B · R for an upper-triangular R[n, n].
  virtual void trmm_right_upper(int threads, int64_t m, int64_t n, const float* r, int64_t ldr, float* b,
                                int64_t ldb) const = 0;
  // y += alpha · x over n values, on the calling thread.
  virtual void axpy(int64_t n, float alpha, const float* x, float* y) const = 0;
};

// OpenBLAS / LAPACKE for FP32, oneDNN for bf16 (AMX or AVX512-BF16 where the CPU has them, chosen by oneDNN at
// run time). Stateless apart from oneDNN's primitive cache; each calling thread has its own oneDNN stream and
// scratchpad, so several threads (and several Contexts) may call it at once.
const Backend& cpu_backend();

}  // namespace fp4gptq::linalg
