#pragma once
// What a computation runs on, passed in explicitly (as gemma.cpp's ThreadingContext) rather than kept as
// process-wide state: how many threads it may use and which compute backend does its math. Two Contexts in
// one process do not interfere (the results never depend on the thread count of a BLAS call); a
// parallel_tasks worker runs with a one-thread copy.
#include <cstdint>
#include <functional>
#include <memory>

#include "fp4gptq/error.hpp"
#include "linalg/backend.hpp"

namespace fp4gptq::linalg {

class Context {
 public:
  // threads 0: every core of the machine.
  explicit Context(int threads = 0, const Backend& backend = cpu_backend());

  int threads() const { return threads_; }
  const Backend& backend() const { return *backend_; }
  Context with_threads(int n) const {
    Context c(n, *backend_);
    c.cancel_ = cancel_;
    return c;
  }

  // Cancellation: `cancelled` (e.g. reading a flag a signal handler sets) is polled by long work at points a
  // few seconds apart at most, from any of the run's threads; once it returns true, check_cancelled() throws
  // fp4gptq::Cancelled. Copies of the context (with_threads) share the hook.
  void set_cancel_hook(std::function<bool()> cancelled) {
    cancel_ = cancelled ? std::make_shared<const std::function<bool()>>(std::move(cancelled)) : nullptr;
  }
  void check_cancelled() const {
    if (cancel_ && (*cancel_)()) throw Cancelled();
  }

  // The backend's operations (backend.hpp) with this context's thread count.
  void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
             const float* b, int64_t ldb, float beta, float* c, int64_t ldc) const {
    backend_->sgemm(threads_, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void bf16_gemm(int64_t m, int64_t n, int64_t k, Bf16View a, Bf16View b, float* c, int64_t ldc,
                 bool accumulate) const {
    backend_->bf16_gemm(threads_, m, n, k, a, b, c, ldc, accumulate);
  }
  // Row-major convenience: trans_a: A is stored [k, m] (XᵀX Gram matrices); trans_b: B is stored [n, k]
  // (x·Wᵀ with W [out, in]).
  void bf16_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const uint16_t* a, const uint16_t* b,
                 float* c, bool accumulate) const {
    const Bf16View av = trans_a ? Bf16View{a, 1, m} : Bf16View{a, k, 1};
    const Bf16View bv = trans_b ? Bf16View{b, 1, k} : Bf16View{b, n, 1};
    bf16_gemm(m, n, k, av, bv, c, n, accumulate);
  }
  template <typename T>
  void syrk_upper_ata(int64_t n, int64_t k, T alpha, const T* a, int64_t lda, T beta, T* c, int64_t ldc) const {
    backend_->syrk_upper_ata(threads_, n, k, alpha, a, lda, beta, c, ldc);
  }
  int cholesky(bool upper, float* a, int64_t n, int64_t lda) const {
    return backend_->cholesky(threads_, upper, a, n, lda);
  }
  int triangular_inverse(bool upper, float* a, int64_t n, int64_t lda) const {
    return backend_->triangular_inverse(threads_, upper, a, n, lda);
  }
  void trmm_right_upper(int64_t m, int64_t n, const float* r, int64_t ldr, float* b, int64_t ldb) const {
    backend_->trmm_right_upper(threads_, m, n, r, ldr, b, ldb);
  }
  void axpy(int64_t n, float alpha, const float* x, float* y) const { backend_->axpy(n, alpha, x, y); }

 private:
  int threads_;
  const Backend* backend_;
  std::shared_ptr<const std::function<bool()>> cancel_;
};

}  // namespace fp4gptq::linalg
