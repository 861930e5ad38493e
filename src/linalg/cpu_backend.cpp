// The CPU backend: OpenBLAS / LAPACKE for FP32 and oneDNN for bf16 matmuls.
#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "dnnl.hpp"
#include "linalg/backend.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::linalg {

namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

// OpenBLAS keeps one thread count for the whole process; each call sets it to its context's count when it
// differs (results never depend on it, only speed). oneDNN runs on the calling thread's OpenMP team, whose
// size is a per-thread setting.
void blas_threads(int n) {
  if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}
void omp_threads(int n) {
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

blasint bi(int64_t v) { return static_cast<blasint>(v); }
CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

dnnl::engine& engine() {
  static dnnl::engine e{dnnl::engine::kind::cpu, 0};
  return e;
}

using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool>;

struct Matmul {
  dnnl::matmul prim;
  dnnl::memory::desc scratchpad;
};

// oneDNN 2.x API: matmul::desc + primitive_desc(desc, attr, engine). The scratchpad is the caller's (user
// mode): oneDNN's own is shared by every thread of the process, and expert workers run matmuls side by side.
Matmul make_matmul(const Key& key) {
  const auto [m, n, k, ars, acs, brs, bcs, ldc, accumulate] = key;
  const dnnl::memory::desc a_md(dims{m, k}, dt::bf16, dims{ars, acs});
  const dnnl::memory::desc b_md(dims{k, n}, dt::bf16, dims{brs, bcs});
  const dnnl::memory::desc c_md(dims{m, n}, dt::f32, dims{ldc, 1});
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine());
  return {dnnl::matmul(pd), pd.scratchpad_desc()};
}

// oneDNN 2.x has bf16 matmuls only from AVX-512 on; elsewhere (AVX2) they are computed in FP32 from the exact
// bf16 values (same products, FP32 accumulation as oneDNN's).
bool onednn_has_bf16() {
  static const bool ok = [] {
    try {
      make_matmul(Key{16, 16, 16, 16, 1, 16, 1, 16, false});
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return ok;
}

// The bf16 elements a strided view spans, as FP32 with the same strides.
std::vector<float> widen(Bf16View v, int64_t rows, int64_t cols) {
  std::vector<float> f(static_cast<size_t>((rows - 1) * v.row_stride + (cols - 1) * v.col_stride + 1));
  numeric::bf16_to_f32(v.data, f.data(), f.size());
  return f;
}

// A view as sgemm's (transposed?, leading dimension): row-major when col_stride is 1, else transposed.
std::pair<bool, int64_t> blas_layout(Bf16View v) {
  return v.col_stride == 1 ? std::pair{false, v.row_stride} : std::pair{true, v.col_stride};
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  void sgemm(int threads, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
             int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) const override {
    if (m == 0 || n == 0) return;
    blas_threads(threads);
    cblas_sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), bi(m), bi(n), bi(k), alpha, a, bi(lda), b, bi(ldb), beta, c,
                bi(ldc));
  }

  void bf16_gemm(int threads, int64_t m, int64_t n, int64_t k, Bf16View a, Bf16View b, float* c, int64_t ldc,
                 bool accumulate) const override {
    if (m == 0 || n == 0) return;
    if (!onednn_has_bf16()) {
      const auto af = widen(a, m, k), bf = widen(b, k, n);
      const auto [ta, lda] = blas_layout(a);
      const auto [tb, ldb] = blas_layout(b);
      sgemm(threads, ta, tb, m, n, k, 1.0f, af.data(), lda, bf.data(), ldb, accumulate ? 1.0f : 0.0f, c, ldc);
      return;
    }
    static std::mutex mu;
    static std::map<Key, Matmul> cache;
    const Key key{m, n, k, a.row_stride, a.col_stride, b.row_stride, b.col_stride, ldc, accumulate};
    Matmul mm;
    {
      const std::lock_guard<std::mutex> lock(mu);
      auto it = cache.find(key);
      if (it == cache.end()) it = cache.emplace(key, make_matmul(key)).first;
      mm = it->second;
    }
    omp_threads(threads);
    auto& e = engine();
    thread_local dnnl::stream stream{engine()};  // one stream and one scratchpad per calling thread
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < mm.scratchpad.get_size()) scratch.resize(mm.scratchpad.get_size());
    const dnnl::memory a_mem({dims{m, k}, dt::bf16, dims{a.row_stride, a.col_stride}}, e,
                             const_cast<uint16_t*>(a.data));
    const dnnl::memory b_mem({dims{k, n}, dt::bf16, dims{b.row_stride, b.col_stride}}, e,
                             const_cast<uint16_t*>(b.data));
    const dnnl::memory c_mem({dims{m, n}, dt::f32, dims{ldc, 1}}, e, c);
    const dnnl::memory s_mem(mm.scratchpad, e, scratch.data());
    mm.prim.execute(
        stream,
        {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}, {DNNL_ARG_SCRATCHPAD, s_mem}});
    stream.wait();
  }

  void syrk_upper_ata(int threads, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c,
                      int64_t ldc) const override {
    blas_threads(threads);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, bi(n), bi(k), alpha, a, bi(lda), beta, c, bi(ldc));
  }

  void syrk_upper_ata(int threads, int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta,
                      double* c, int64_t ldc) const override {
    blas_threads(threads);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, bi(n), bi(k), alpha, a, bi(lda), beta, c, bi(ldc));
  }

  // A row-major triangle is the opposite column-major triangle of the same memory, so LAPACK is called in
  // column-major order with uplo flipped: no transposed copies (LAPACKE's row-major path makes two).
  int cholesky(int threads, bool upper, float* a, int64_t n, int64_t lda) const override {
    blas_threads(threads);
    return LAPACKE_spotrf(LAPACK_COL_MAJOR, upper ? 'L' : 'U', static_cast<lapack_int>(n), a,
                          static_cast<lapack_int>(lda));
  }

  int triangular_inverse(int threads, bool upper, float* a, int64_t n, int64_t lda) const override {
    blas_threads(threads);
    return LAPACKE_strtri(LAPACK_COL_MAJOR, upper ? 'L' : 'U', 'N', static_cast<lapack_int>(n), a,
                          static_cast<lapack_int>(lda));
  }

  void trmm_right_upper(int threads, int64_t m, int64_t n, const float* r, int64_t ldr, float* b,
                        int64_t ldb) const override {
    blas_threads(threads);
    cblas_strmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, bi(m), bi(n), 1.0f, r, bi(ldr), b,
                bi(ldb));
  }

  void axpy(int64_t n, float alpha, const float* x, float* y) const override { cblas_saxpy(bi(n), alpha, x, 1, y, 1); }
};

}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace fp4gptq::linalg
