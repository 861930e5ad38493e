#include "gptq/solver.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "fp4gptq/error.hpp"
#include "linalg/blas.hpp"
#include "linalg/parallel.hpp"
#include "numeric/finite.hpp"
#include "numeric/simd.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::gptq {

namespace {

using nvfp4::kBlockSize;

void validate(const float* w, int64_t rows, int64_t cols, const float* h, const GptqConfig& c, const std::string& name) {
  if (rows <= 0 || cols <= 0)
    throw Error("GPTQ: " + name + ": empty weight [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  if (cols % kBlockSize != 0)
    throw Error("GPTQ: " + name + " has " + std::to_string(cols) + " input columns; a multiple of 16 is required");
  if (c.block_size <= 0 || c.block_size % kBlockSize != 0)
    throw Error("GPTQ: " + name + ": block size " + std::to_string(c.block_size) + " must be a positive multiple of 16");
  if (!(c.damp_percent >= 0 && c.damp_percent <= c.damp_max && c.damp_step > 0))
    throw Error("GPTQ: " + name + ": damp_percent " + std::to_string(c.damp_percent) + " must be in [0, " +
                std::to_string(c.damp_max) + "]");
  if (c.scale_2 && !(std::isfinite(*c.scale_2) && *c.scale_2 >= 0))
    throw Error("GPTQ: " + name + ": supplied scale_2 must be finite and >= 0");
  const size_t nw = static_cast<size_t>(rows * cols), nh = static_cast<size_t>(cols * cols);
  if (const size_t i = numeric::first_non_finite(w, nw); i < nw)
    throw Error("GPTQ: " + name + ": non-finite weight at [" + std::to_string(i / cols) + ", " + std::to_string(i % cols) + "]");
  if (const size_t i = numeric::first_non_finite(h, nh); i < nh)
    throw Error("GPTQ: " + name + ": non-finite Hessian entry at [" + std::to_string(i / cols) + ", " +
                std::to_string(i % cols) + "]");
}

// Large buffers, kept per thread across calls: on VMs a fresh page costs ~2 µs to fault in, which for a
// 4096×4096 module would add a quarter of the solve time.
struct Workspace {
  std::vector<float> hd, u, wm, dw_rtn, big, err, eff;
  std::vector<uint8_t> ct, rtn_codes, rtn_scales;
};
Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

double sum_squares(const float* a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * a[i];
  return s;
}

// Quantizes one column (n rows, each with its own effective scale) and returns Σ err² where
// err = (w − q) / d is also written out for the error propagation.
FP4GPTQ_SIMD_CLONES float quantize_column(const float* w, const float* eff, int64_t n, float d, uint8_t* codes, float* q,
                                          float* err) {
  float loss = 0.0f;
  for (int64_t r = 0; r < n; ++r) {
    codes[r] = nvfp4::quantize_value(w[r], eff[r], &q[r]);
    const float e = (w[r] - q[r]) / d;
    err[r] = e;
    loss += e * e;
  }
  return loss;
}

// Upper Cholesky factor U of (Hd + λI)⁻¹ in `u` (lower triangle zeroed). With J the index reversal,
// Cholesky of J·A·J = L'L'ᵀ gives A = R Rᵀ with R = J L' J upper, so A⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹: one Cholesky
// and one triangular inverse (⅔n³) instead of AutoGPTQ's cholesky → cholesky_inverse → cholesky (4⁄3n³).
// Reversing both indices of a row-major square matrix is reversing its storage. `with_r` sees R (upper
// triangle of `u`) before it is inverted.
template <typename F>
bool inverse_cholesky_upper(const std::vector<float>& hd, int64_t n, double lambda, std::vector<float>& u, F&& with_r) {
  u.resize(hd.size());
  std::reverse_copy(hd.begin(), hd.end(), u.begin());
  for (int64_t i = 0; i < n; ++i) u[i * n + i] += static_cast<float>(lambda);  // the diagonal maps to itself
  if (linalg::cholesky(/*upper=*/false, u.data(), n, n) != 0) return false;
  std::reverse(u.begin(), u.end());  // R in the upper triangle
  for (int64_t i = 0; i < n; ++i) std::fill_n(&u[i * n], i, 0.0f);
  with_r(u);
  if (linalg::triangular_inverse(/*upper=*/true, u.data(), n, n) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {
    const float d = u[i * n + i];
    if (!(std::isfinite(d) && d > 0)) return false;
  }
  return numeric::first_non_finite(u.data(), u.size()) == u.size();
}

GptqResult rtn_fallback(const float* w, int64_t rows, int64_t cols, const float* h, float scale_2,
                        const std::string& name, const std::string& why) {
  GptqResult r;
  r.q = nvfp4::quantize_rtn(w, rows, cols, scale_2, name);
  r.g_idx.resize(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) r.g_idx[i] = static_cast<int32_t>(i / kBlockSize);
  r.fallback = true;
  r.note = why;
  std::vector<float> dw(r.q.dequant.size());
  for (size_t i = 0; i < dw.size(); ++i) dw[i] = w[i] - r.q.dequant[i];
  const double den = quadratic_form_trace(w, rows, cols, h);
  r.rel_err = r.rtn_rel_err = den > 0 ? quadratic_form_trace(dw.data(), rows, cols, h) / den : 0.0;
  return r;
}

// The column loop on Wᵀ (wt: [cols, rows], columns in processing order). Lazy batches of `bs` columns with the
// trailing update as one GEMM; inside a batch, sub-blocks of 16 (one NVFP4 block without act-order) with
// rank-1 updates inside and a small GEMM after. Writes codes and values (transposed) and returns Σ err².
double column_loop(float* wt, const std::vector<float>& u, int64_t rows, int64_t n, int64_t bs, bool static_scales,
                   const std::vector<int64_t>& perm, std::vector<uint8_t>& scales, float scale_2, uint8_t* ct, float* qt,
                   Workspace& ws) {
  const int64_t nb = n / kBlockSize;
  ws.err.resize(static_cast<size_t>(bs * rows));
  ws.eff.resize(static_cast<size_t>(rows));
  std::vector<double> err_sq(static_cast<size_t>(linalg::num_threads()), 0.0);
  for (int64_t i1 = 0; i1 < n; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, n);
    for (int64_t s1 = i1; s1 < i2; s1 += kBlockSize) {
      const int64_t s2 = std::min(s1 + kBlockSize, i2);
      // Rows are independent inside a sub-block: each thread takes a range of them.
      linalg::parallel_ranges(rows, 256, [&](int64_t r0, int64_t r1, int64_t t) {
        float* eff = ws.eff.data();
        if (!static_scales) {
          // Dynamic: the block's scales from its current, error-updated weights (exact: the updates of every
          // earlier column have reached columns s1..s2).
          for (int64_t r = r0; r < r1; ++r) {
            float amax = 0;
            for (int64_t j = s1; j < s2; ++j) amax = std::max(amax, std::fabs(wt[j * rows + r]));
            const uint8_t sc = nvfp4::block_scale_code(amax, scale_2);
            scales[r * nb + s1 / kBlockSize] = sc;
            eff[r] = nvfp4::effective_scale(sc, scale_2);
          }
        }
        for (int64_t i = s1; i < s2; ++i) {
          if (static_scales) {
            const int64_t g = perm[i] / kBlockSize;
            for (int64_t r = r0; r < r1; ++r) eff[r] = nvfp4::effective_scale(scales[r * nb + g], scale_2);
          }
          float* e = &ws.err[(i - i1) * rows];
          err_sq[t] += quantize_column(&wt[i * rows + r0], eff + r0, r1 - r0, u[i * n + i], ct + i * rows + r0,
                                       qt + i * rows + r0, e + r0);
          for (int64_t j = i + 1; j < s2; ++j) linalg::axpy(r1 - r0, -u[i * n + j], e + r0, &wt[j * rows + r0]);
        }
      });
      // W[:, s2:i2] -= Err[s1:s2] · U[s1:s2, s2:i2]   (in the transposed layout)
      linalg::sgemm(true, false, i2 - s2, rows, s2 - s1, -1.0f, &u[s1 * n + s2], n, &ws.err[(s1 - i1) * rows], rows,
                    1.0f, &wt[s2 * rows], rows);
    }
    // Lazy-batch trailing update: W[:, i2:] -= Err[i1:i2] · U[i1:i2, i2:]
    linalg::sgemm(true, false, n - i2, rows, i2 - i1, -1.0f, &u[i1 * n + i2], n, ws.err.data(), rows, 1.0f,
                  &wt[i2 * rows], rows);
  }
  return std::accumulate(err_sq.begin(), err_sq.end(), 0.0);
}

}  // namespace

double quadratic_form_trace(const float* a, int64_t rows, int64_t cols, const float* h) {
  std::vector<float> ah(static_cast<size_t>(rows * cols));
  linalg::sgemm(false, false, rows, cols, cols, 1.0f, a, cols, h, cols, 0.0f, ah.data(), cols);
  double t = 0;
  for (size_t i = 0; i < ah.size(); ++i) t += static_cast<double>(ah[i]) * a[i];
  return t;
}

GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const float* h, int64_t h_dim,
                         const GptqConfig& cfg, const std::string& name) {
  if (h_dim != cols)
    throw Error("GPTQ: " + name + ": weight has " + std::to_string(cols) + " input columns but the Hessian is [" +
                std::to_string(h_dim) + ", " + std::to_string(h_dim) + "]");
  validate(w, rows, cols, h, cfg, name);
  const int64_t n = cols, nb = cols / kBlockSize;
  const size_t nw = static_cast<size_t>(rows * cols);
  Workspace& ws = workspace();
  // scale_2 from the original weight (dead columns included), or the fused one supplied.
  const float scale_2 = cfg.scale_2 ? *cfg.scale_2 : nvfp4::global_scale(nvfp4::max_abs(w, nw));

  // Dead columns (H_ii = 0): H_ii = 1 and W[:, i] = 0.
  std::vector<uint8_t> dead(static_cast<size_t>(n), 0);
  int64_t n_dead = 0;
  for (int64_t i = 0; i < n; ++i) n_dead += dead[i] = h[i * n + i] == 0.0f;
  if (n_dead == n)
    return rtn_fallback(w, rows, cols, h, scale_2, name, "Hessian is zero (no calibration tokens): round-to-nearest");
  auto& wm = ws.wm;
  wm.assign(w, w + nw);
  if (n_dead)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i)
        if (dead[i]) wm[r * n + i] = 0.0f;

  // Act-order: columns by descending diag(H), stable, after the dead-column fix (as AutoGPTQ).
  auto diag = [&](int64_t i) { return dead[i] ? 1.0f : h[i * n + i]; };
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (cfg.desc_act) std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
  auto& hd = ws.hd;  // H with the dead fix, in processing order
  hd.resize(static_cast<size_t>(n * n));
  if (cfg.desc_act) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) hd[i * n + j] = h[perm[i] * n + perm[j]];
  } else {
    std::copy(h, h + n * n, hd.begin());
  }
  for (int64_t i = 0; i < n; ++i)
    if (dead[perm[i]]) hd[i * n + i] = 1.0f;
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += hd[i * n + i];
  mean_diag /= static_cast<double>(n);

  // Round-to-nearest of the original weight on the same scale_2: the baseline every module is compared with.
  auto& dw_rtn = ws.dw_rtn;
  dw_rtn.resize(nw);
  ws.rtn_codes.resize(static_cast<size_t>(n));
  ws.rtn_scales.resize(static_cast<size_t>(nb));
  for (int64_t r = 0; r < rows; ++r) {
    float* d = &dw_rtn[r * n];
    nvfp4::quantize_row_rtn(w + r * n, n, scale_2, ws.rtn_codes.data(), ws.rtn_scales.data(), d);
    for (int64_t i = 0; i < n; ++i) d[i] = w[r * n + i] - d[i];
  }

  // Output errors need tr(A H Aᵀ) for A = W (after the dead fix) and A = RTN's ΔW. With Hd + λI = R Rᵀ:
  // tr(A H Aᵀ) = ‖A R‖² − λ‖A‖² − ‖A[:, dead]‖² (Hd has 1 on dead diagonals; W is 0 there). Both come from
  // one triangular product of the stacked [W; ΔW_rtn] (columns in processing order), taken while R is at hand.
  double w_form = 0, rtn_form = 0;
  auto output_forms = [&](const std::vector<float>& r_factor) {
    if (!cfg.output_errors) return;
    ws.big.resize(2 * nw);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) {
        ws.big[r * n + j] = wm[r * n + perm[j]];
        ws.big[nw + r * n + j] = dw_rtn[r * n + perm[j]];
      }
    linalg::trmm_right_upper(2 * rows, n, r_factor.data(), n, ws.big.data(), n);
    w_form = sum_squares(ws.big.data(), nw);
    rtn_form = sum_squares(ws.big.data() + nw, nw);
  };

  GptqResult res;
  double damp = cfg.damp_percent;
  for (;;) {
    if (inverse_cholesky_upper(hd, n, damp * mean_diag, ws.u, output_forms)) break;
    ++res.retries;
    if (damp + cfg.damp_step > cfg.damp_max + 1e-9) {
      auto r = rtn_fallback(w, rows, cols, h, scale_2, name,
                            "Cholesky failed up to damp " + std::to_string(cfg.damp_max) + ": round-to-nearest");
      r.retries = res.retries;
      r.dead_columns = n_dead;
      return r;
    }
    damp += cfg.damp_step;
  }
  res.damp = damp;
  res.dead_columns = n_dead;
  if (res.retries) res.note = "Cholesky retried " + std::to_string(res.retries) + " time(s); damp " + std::to_string(damp);
  const double lambda = damp * mean_diag;

  // Static block scales (static mode, and always with desc_act) from the weight after dead columns are zeroed,
  // in the original column order; dynamic ones are filled in by the loop.
  const bool use_static = cfg.desc_act || cfg.block_scales == BlockScales::Static;
  std::vector<uint8_t> scales(static_cast<size_t>(rows * nb));
  if (use_static)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < nb; ++b)
        scales[r * nb + b] = nvfp4::block_scale_code(nvfp4::max_abs(&wm[r * n + b * kBlockSize], kBlockSize), scale_2);

  // Wᵀ (columns contiguous, processing order) and the transposed outputs share one buffer.
  ws.big.resize(2 * nw);
  ws.ct.resize(nw);
  float* wt = ws.big.data();
  float* qt = ws.big.data() + nw;
  linalg::transpose(wm.data(), rows, n, wt, perm.data());
  const double err_sq = column_loop(wt, ws.u, rows, n, cfg.block_size, use_static, perm, scales, scale_2, ws.ct.data(),
                                    qt, ws);

  res.q.rows = rows;
  res.q.cols = cols;
  res.q.scale_2 = scale_2;
  res.q.codes.resize(nw);
  res.q.dequant.resize(nw);
  linalg::transpose_back(ws.ct.data(), rows, n, res.q.codes.data(), perm.data());
  linalg::transpose_back(qt, rows, n, res.q.dequant.data(), perm.data());
  res.q.block_scales = std::move(scales);
  res.g_idx.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) res.g_idx[i] = static_cast<int32_t>(i / kBlockSize);
  res.loss = err_sq / 2;

  // GPTQ's own error needs no product: ΔW = E·U (E the scaled errors), so ΔW (Hd + λI) ΔWᵀ = E Eᵀ and
  // tr(ΔW H ΔWᵀ) = ‖E‖² − λ‖ΔW‖² (ΔW is 0 at dead columns).
  if (cfg.output_errors) {
    double dw_sq = 0, dead_sq = 0;
    for (size_t i = 0; i < nw; ++i) {
      const double d = static_cast<double>(wm[i]) - res.q.dequant[i];
      dw_sq += d * d;
    }
    if (n_dead)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i)
          if (dead[i]) dead_sq += static_cast<double>(dw_rtn[r * n + i]) * dw_rtn[r * n + i];
    const double den = w_form - lambda * sum_squares(wm.data(), nw);
    const double gptq_num = err_sq - lambda * dw_sq;
    const double rtn_num = rtn_form - lambda * sum_squares(dw_rtn.data(), nw) - dead_sq;
    res.rel_err = den > 0 ? std::max(0.0, gptq_num) / den : 0.0;
    res.rtn_rel_err = den > 0 ? std::max(0.0, rtn_num) / den : 0.0;
  }
  return res;
}

}  // namespace fp4gptq::gptq
