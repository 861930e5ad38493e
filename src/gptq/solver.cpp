#include "gptq/solver.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "fp4gptq/error.hpp"
#include "linalg/blas.hpp"
#include "numeric/finite.hpp"
#include "numeric/simd.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::gptq {

namespace {

using nvfp4::kBlockSize;

void validate(const float* w, int64_t rows, int64_t cols, const float* h, const GptqConfig& c, const std::string& name) {
  if (rows <= 0 || cols <= 0) throw Error("GPTQ: " + name + ": empty weight [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
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

// Static block-scale bytes [rows, cols/16] of w.
std::vector<uint8_t> static_scales(const std::vector<float>& w, int64_t rows, int64_t cols, float scale_2) {
  std::vector<uint8_t> s(static_cast<size_t>(rows * cols / kBlockSize));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < cols / kBlockSize; ++b)
      s[r * (cols / kBlockSize) + b] =
          nvfp4::block_scale_code(nvfp4::max_abs(&w[r * cols + b * kBlockSize], kBlockSize), scale_2);
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
// Reversing both indices of a row-major square matrix is reversing its storage.
bool inverse_cholesky_upper(const std::vector<float>& hd, int64_t n, double lambda, std::vector<float>& u) {
  u = hd;
  for (int64_t i = 0; i < n; ++i) u[i * n + i] += static_cast<float>(lambda);
  std::reverse(u.begin(), u.end());
  if (linalg::cholesky(/*upper=*/false, u.data(), n, n) != 0) return false;
  std::reverse(u.begin(), u.end());  // R in the upper triangle
  if (linalg::triangular_inverse(/*upper=*/true, u.data(), n, n) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {
    std::fill_n(&u[i * n], i, 0.0f);
    const float d = u[i * n + i];
    if (!(std::isfinite(d) && d > 0)) return false;
  }
  return numeric::first_non_finite(u.data(), u.size()) == u.size();
}

// Σ over rows of ‖a_r R‖² for A [rows, n] using U = R⁻¹ (trsm), i.e. tr(A (Hd + λI) Aᵀ), in row chunks.
double damped_form(const float* a, int64_t rows, int64_t n, const std::vector<float>& u) {
  constexpr int64_t kChunk = 1024;
  std::vector<float> x;
  double total = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
    const int64_t m = std::min(kChunk, rows - r0);
    x.assign(a + r0 * n, a + (r0 + m) * n);
    linalg::trsm_right_upper(m, n, u.data(), n, x.data(), n);
    for (float v : x) total += static_cast<double>(v) * v;
  }
  return total;
}

double sum_squares(const float* a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * a[i];
  return s;
}

// Columns permuted: out[r, j] = a[r, perm[j]].
std::vector<float> permute_columns(const float* a, int64_t rows, int64_t cols, const std::vector<int64_t>& perm) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) out[r * cols + j] = a[r * cols + perm[j]];
  return out;
}

GptqResult rtn_result(const float* w, int64_t rows, int64_t cols, float scale_2, const std::string& name) {
  GptqResult r;
  r.q = nvfp4::quantize_rtn(w, rows, cols, scale_2, name);
  r.g_idx.resize(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) r.g_idx[i] = static_cast<int32_t>(i / kBlockSize);
  return r;
}

}  // namespace

double quadratic_form_trace(const float* a, int64_t rows, int64_t cols, const float* h) {
  std::vector<float> ah(static_cast<size_t>(rows * cols));
  linalg::sgemm(false, false, rows, cols, cols, 1.0f, a, cols, h, cols, 0.0f, ah.data(), cols);
  double t = 0;
  for (size_t i = 0; i < ah.size(); ++i) t += static_cast<double>(ah[i]) * a[i];
  return t;
}

GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const float* h, const GptqConfig& cfg,
                         const std::string& name) {
  validate(w, rows, cols, h, cfg, name);
  const int64_t n = cols, nb = cols / kBlockSize;
  const size_t nw = static_cast<size_t>(rows * cols);
  // scale_2 from the original weight (dead columns included), or the fused one supplied.
  const float scale_2 = cfg.scale_2 ? *cfg.scale_2 : nvfp4::global_scale(nvfp4::max_abs(w, nw));

  // Dead columns (H_ii = 0): H_ii = 1 and W[:, i] = 0.
  std::vector<float> hd(h, h + n * n);
  std::vector<float> wm(w, w + nw);
  std::vector<uint8_t> dead(static_cast<size_t>(n), 0);
  int64_t n_dead = 0;
  for (int64_t i = 0; i < n; ++i)
    if (hd[i * n + i] == 0.0f) {
      dead[i] = 1;
      ++n_dead;
      hd[i * n + i] = 1.0f;
      for (int64_t r = 0; r < rows; ++r) wm[r * n + i] = 0.0f;
    }

  // Round-to-nearest of the original weight on the same scale_2: the baseline every module is compared with.
  const auto rtn = nvfp4::quantize_rtn(w, rows, cols, scale_2, name);
  if (n_dead == n) {  // the module saw no calibration token
    GptqResult r = rtn_result(w, rows, cols, scale_2, name);
    r.fallback = true;
    r.dead_columns = n_dead;
    r.note = "Hessian is zero (no calibration tokens): round-to-nearest";
    return r;
  }

  // Act-order: columns by descending diag(H), stable, after the dead-column fix (as AutoGPTQ).
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (cfg.desc_act)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return hd[a * n + a] > hd[b * n + b]; });
  const bool permuted = cfg.desc_act;
  if (permuted) {
    std::vector<float> p(hd.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) p[i * n + j] = hd[perm[i] * n + perm[j]];
    hd.swap(p);
  }

  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += hd[i * n + i];
  mean_diag /= static_cast<double>(n);

  GptqResult res;
  res.dead_columns = n_dead;
  std::vector<float> u;
  double damp = cfg.damp_percent;
  bool factored = false;
  for (;;) {
    if (inverse_cholesky_upper(hd, n, damp * mean_diag, u)) {
      factored = true;
      break;
    }
    ++res.retries;
    if (damp + cfg.damp_step > cfg.damp_max + 1e-9) break;
    damp += cfg.damp_step;
  }
  if (!factored) {
    GptqResult r = rtn_result(w, rows, cols, scale_2, name);
    r.fallback = true;
    r.retries = res.retries;
    r.dead_columns = n_dead;
    r.note = "Cholesky failed up to damp " + std::to_string(cfg.damp_max) + ": round-to-nearest";
    std::vector<float> dw(nw);
    for (size_t i = 0; i < nw; ++i) dw[i] = w[i] - rtn.dequant[i];
    const double den = quadratic_form_trace(w, rows, cols, h);
    r.rtn_rel_err = r.rel_err = den > 0 ? quadratic_form_trace(dw.data(), rows, cols, h) / den : 0.0;
    return r;
  }
  res.damp = damp;
  if (res.retries) res.note = "Cholesky retried " + std::to_string(res.retries) + " time(s); damp " + std::to_string(damp);
  const double lambda = damp * mean_diag;

  // Static block scales (static mode, and always with desc_act) from the weight after dead columns are zeroed,
  // in the original column order.
  const bool use_static = cfg.desc_act || cfg.block_scales == BlockScales::Static;
  std::vector<uint8_t> scales = use_static ? static_scales(wm, rows, cols, scale_2)
                                           : std::vector<uint8_t>(static_cast<size_t>(rows * nb));

  // Work on Wᵀ (columns contiguous) in processing order.
  std::vector<float> wt(nw), qt(nw), eff(static_cast<size_t>(rows));
  std::vector<uint8_t> ct(nw);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j) wt[j * rows + r] = wm[r * n + perm[j]];

  const int64_t bs = cfg.block_size;
  std::vector<float> err(static_cast<size_t>(bs * rows));  // scaled errors of the current lazy block
  double err_sq = 0;
  for (int64_t i1 = 0; i1 < n; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, n);
    // Sub-blocks of 16 (one NVFP4 block without act-order): rank-1 updates inside, a small GEMM after.
    for (int64_t s1 = i1; s1 < i2; s1 += kBlockSize) {
      const int64_t s2 = std::min(s1 + kBlockSize, i2);
      if (!use_static) {
        // Dynamic: the block's scales from its current, error-updated weights (exact: all earlier columns'
        // updates have reached columns s1..s2).
        for (int64_t r = 0; r < rows; ++r) {
          float amax = 0;
          for (int64_t j = s1; j < s2; ++j) amax = std::max(amax, std::fabs(wt[j * rows + r]));
          const uint8_t sc = nvfp4::block_scale_code(amax, scale_2);
          scales[r * nb + s1 / kBlockSize] = sc;
          eff[r] = nvfp4::effective_scale(sc, scale_2);
        }
      }
      for (int64_t i = s1; i < s2; ++i) {
        if (use_static) {
          const int64_t g = perm[i] / kBlockSize;
          for (int64_t r = 0; r < rows; ++r) eff[r] = nvfp4::effective_scale(scales[r * nb + g], scale_2);
        }
        const float d = u[i * n + i];
        float* e = &err[(i - i1) * rows];
        err_sq += quantize_column(&wt[i * rows], eff.data(), rows, d, &ct[i * rows], &qt[i * rows], e);
        for (int64_t j = i + 1; j < s2; ++j) linalg::axpy(rows, -u[i * n + j], e, &wt[j * rows]);
      }
      // W[:, s2:i2] -= Err[s1:s2] · U[s1:s2, s2:i2]   (in the transposed layout)
      linalg::sgemm(true, false, i2 - s2, rows, s2 - s1, -1.0f, &u[s1 * n + s2], n, &err[(s1 - i1) * rows], rows,
                    1.0f, &wt[s2 * rows], rows);
    }
    // Lazy-batch trailing update: W[:, i2:] -= Err[i1:i2] · U[i1:i2, i2:]
    linalg::sgemm(true, false, n - i2, rows, i2 - i1, -1.0f, &u[i1 * n + i2], n, err.data(), rows, 1.0f,
                  &wt[i2 * rows], rows);
  }

  res.q.rows = rows;
  res.q.cols = cols;
  res.q.scale_2 = scale_2;
  res.q.codes.resize(nw);
  res.q.dequant.resize(nw);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t r = 0; r < rows; ++r) {
      res.q.codes[r * n + perm[j]] = ct[j * rows + r];
      res.q.dequant[r * n + perm[j]] = qt[j * rows + r];
    }
  res.q.block_scales = std::move(scales);
  res.g_idx.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) res.g_idx[i] = static_cast<int32_t>(i / kBlockSize);
  res.loss = err_sq / 2;

  // Output errors on the original H (zero rows/columns at dead columns, no damping). With ΔW = E·U (E the
  // scaled errors), ΔW (Hd + λI) ΔWᵀ = E Eᵀ, so tr(ΔW H ΔWᵀ) = ‖E‖² − λ‖ΔW‖² (ΔW is 0 at dead columns).
  // For any other A: tr(A H Aᵀ) = ‖A U⁻¹‖² − λ‖A‖² − ‖A[:, dead]‖² (Hd has 1 on dead diagonals).
  std::vector<float> dw(nw);
  for (size_t i = 0; i < nw; ++i) dw[i] = wm[i] - res.q.dequant[i];
  const double gptq_num = err_sq - lambda * sum_squares(dw.data(), nw);
  for (size_t i = 0; i < nw; ++i) dw[i] = w[i] - rtn.dequant[i];
  double dead_sq = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      if (dead[i]) dead_sq += static_cast<double>(dw[r * n + i]) * dw[r * n + i];
  const auto wm_p = permuted ? permute_columns(wm.data(), rows, cols, perm) : wm;
  const auto dw_p = permuted ? permute_columns(dw.data(), rows, cols, perm) : dw;
  const double den = damped_form(wm_p.data(), rows, n, u) - lambda * sum_squares(wm.data(), nw);
  const double rtn_num = damped_form(dw_p.data(), rows, n, u) - lambda * sum_squares(dw.data(), nw) - dead_sq;
  res.rel_err = den > 0 ? std::max(0.0, gptq_num) / den : 0.0;
  res.rtn_rel_err = den > 0 ? std::max(0.0, rtn_num) / den : 0.0;
  return res;
}

}  // namespace fp4gptq::gptq
