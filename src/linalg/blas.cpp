#include "linalg/blas.hpp"

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace fp4gptq::linalg {

namespace {
int g_threads = 0;
thread_local int tl_threads = 0;  // 1 inside a SingleThreaded scope
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void ssyrk_upper_ata(int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c, int64_t ldc) {
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), beta, c, static_cast<blasint>(ldc));
}

void dsyrk_upper_ata(int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta, double* c,
                     int64_t ldc) {
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), beta, c, static_cast<blasint>(ldc));
}

// A row-major triangle is the opposite column-major triangle of the same memory, so LAPACK is called in
// column-major order with uplo flipped: no transposed copies (LAPACKE's row-major path makes two).
int cholesky(bool upper, float* a, int64_t n, int64_t lda) {
  return LAPACKE_spotrf(LAPACK_COL_MAJOR, upper ? 'L' : 'U', static_cast<lapack_int>(n), a, static_cast<lapack_int>(lda));
}

int triangular_inverse(bool upper, float* a, int64_t n, int64_t lda) {
  return LAPACKE_strtri(LAPACK_COL_MAJOR, upper ? 'L' : 'U', 'N', static_cast<lapack_int>(n), a,
                        static_cast<lapack_int>(lda));
}

void trsm_right_upper(int64_t m, int64_t n, const float* u, int64_t ldu, float* b, int64_t ldb) {
  cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, static_cast<blasint>(m),
              static_cast<blasint>(n), 1.0f, u, static_cast<blasint>(ldu), b, static_cast<blasint>(ldb));
}

void axpy(int64_t n, float alpha, const float* x, float* y) {
  cblas_saxpy(static_cast<blasint>(n), alpha, x, 1, y, 1);
}

void trmm_right_upper(int64_t m, int64_t n, const float* r, int64_t ldr, float* b, int64_t ldb) {
  cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, static_cast<blasint>(m),
              static_cast<blasint>(n), 1.0f, r, static_cast<blasint>(ldr), b, static_cast<blasint>(ldb));
}

namespace {
constexpr int64_t kTile = 32;
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm) {
  for (int64_t j0 = 0; j0 < cols; j0 += kTile)
    for (int64_t i0 = 0; i0 < rows; i0 += kTile)
      for (int64_t j = j0; j < std::min(j0 + kTile, cols); ++j) {
        const int64_t sj = perm ? perm[j] : j;
        for (int64_t i = i0; i < std::min(i0 + kTile, rows); ++i) dst[j * rows + i] = src[i * cols + sj];
      }
}

template <typename T>
void transpose_back(const T* src, int64_t rows, int64_t cols, T* dst, const int64_t* perm) {
  for (int64_t j0 = 0; j0 < cols; j0 += kTile)
    for (int64_t i0 = 0; i0 < rows; i0 += kTile)
      for (int64_t j = j0; j < std::min(j0 + kTile, cols); ++j) {
        const int64_t dj = perm ? perm[j] : j;
        for (int64_t i = i0; i < std::min(i0 + kTile, rows); ++i) dst[i * cols + dj] = src[j * rows + i];
      }
}
template void transpose_back<float>(const float*, int64_t, int64_t, float*, const int64_t*);
template void transpose_back<uint8_t>(const uint8_t*, int64_t, int64_t, uint8_t*, const int64_t*);

template <typename T>
static void symmetrize(T* a, int64_t n, int64_t lda) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) a[i * lda + j] = a[j * lda + i];
}
void symmetrize_from_upper(float* a, int64_t n, int64_t lda) { symmetrize(a, n, lda); }
void symmetrize_from_upper(double* a, int64_t n, int64_t lda) { symmetrize(a, n, lda); }

void set_num_threads(int n) {
  g_threads = n > 0 ? n : static_cast<int>(std::thread::hardware_concurrency());
  openblas_set_num_threads(g_threads);
  omp_set_num_threads(g_threads);  // oneDNN's CPU runtime
}

int num_threads() {
  if (tl_threads > 0) return tl_threads;
  return g_threads > 0 ? g_threads : static_cast<int>(std::thread::hardware_concurrency());
}

SingleThreaded::SingleThreaded() : saved_omp_(omp_get_max_threads()), saved_override_(tl_threads) {
  tl_threads = 1;
  omp_set_num_threads(1);  // this thread's OpenMP ICV: oneDNN primitives it runs use one thread
}

SingleThreaded::~SingleThreaded() {
  tl_threads = saved_override_;
  omp_set_num_threads(saved_omp_);
}

void set_blas_threads(int n) { openblas_set_num_threads(n > 0 ? n : num_threads()); }

}  // namespace fp4gptq::linalg
