#pragma once
// Thin wrappers over OpenBLAS / LAPACKE (row-major). Heavy math goes through these, never hand loops.
#include <cstdint>

namespace fp4gptq::linalg {

// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major; op(X) = Xᵀ when the flag is set.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Upper triangle of C[n, n] = alpha · AᵀA + beta · C for A [k, n] row-major (a symmetric rank-k update).
void ssyrk_upper_ata(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c, int64_t ldc);
void dsyrk_upper_ata(int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta, double* c,
                     int64_t ldc);

// In-place Cholesky factorization (LAPACK potrf): lower L with A = L Lᵀ, or upper U with A = UᵀU. Only that
// triangle is read and written. Returns LAPACK's info: 0 on success, k > 0 when the leading minor k is not
// positive definite.
int cholesky(bool upper, float* a, int64_t n, int64_t lda);
// In-place inverse of a triangular matrix (LAPACK trtri). Returns LAPACK's info.
int triangular_inverse(bool upper, float* a, int64_t n, int64_t lda);

// B[m, n] := B · R for an upper-triangular R[n, n] (BLAS trmm).
void trmm_right_upper(int64_t m, int64_t n, const float* r, int64_t ldr, float* b, int64_t ldb);

// B[m, n] := B · U⁻¹ for an upper-triangular U[n, n] (BLAS trsm: solves X·U = B).
void trsm_right_upper(int64_t m, int64_t n, const float* u, int64_t ldu, float* b, int64_t ldb);

// y += alpha · x (BLAS axpy).
void axpy(int64_t n, float alpha, const float* x, float* y);

// dst[j, i] = src[i, perm ? perm[j] : j] for src [rows, cols] row-major: a cache-blocked (optionally
// column-permuted) transpose; dst is [cols, rows].
void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm = nullptr);
// The inverse: dst[i, perm ? perm[j] : j] = src[j, i] for src [cols, rows]; dst is [rows, cols].
template <typename T>
void transpose_back(const T* src, int64_t rows, int64_t cols, T* dst, const int64_t* perm = nullptr);

// Copies the upper triangle of a square row-major matrix onto the lower one.
void symmetrize_from_upper(float* a, int64_t n, int64_t lda);
void symmetrize_from_upper(double* a, int64_t n, int64_t lda);

// Threads used by OpenBLAS, oneDNN (OpenMP) and our own parallel loops; 0 = all cores.
void set_num_threads(int n);
// The calling thread's count: set_num_threads's, or 1 inside a SingleThreaded scope.
int num_threads();

// Within its lifetime, the constructing thread runs oneDNN (its OpenMP team) and parallel_ranges on itself
// alone. OpenBLAS's thread count is process-wide: parallel_tasks sets it to 1 around such threads.
class SingleThreaded {
 public:
  SingleThreaded();
  ~SingleThreaded();
  SingleThreaded(const SingleThreaded&) = delete;
  SingleThreaded& operator=(const SingleThreaded&) = delete;

 private:
  int saved_omp_;
  int saved_override_;
};

// OpenBLAS threads for the whole process (parallel_tasks: 1 while its workers run, then set_num_threads's).
void set_blas_threads(int n);

}  // namespace fp4gptq::linalg
