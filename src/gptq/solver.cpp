// GPTQ as the method reads (docs/DESIGN.md §5): gptq_quantize below is its four steps, the helpers follow it. The
// column loop's fast layout is in column_loop.cpp, the output errors in output_error.cpp.
#include "gptq/solver.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fp4gptq/error.hpp"
#include "gptq/column_loop.hpp"
#include "linalg/transpose.hpp"
#include "numeric/finite.hpp"
#include "nvfp4/scale_rules.hpp"
#include "nvfp4/scale_search.hpp"

namespace fp4gptq::gptq {

namespace {

using nvfp4::kBlockSize;

// Step 1, what the solve works on; prepare() also leaves W with dead columns zeroed in ws.wm and H with the
// dead fix in processing order in ws.hd (unless every column is dead).
struct Prepared {
  float scale_2 = 0;          // from the original W (dead columns included), or the fused one supplied
  std::vector<uint8_t> dead;  // columns with H_ii = 0
  int64_t n_dead = 0;
  std::vector<int64_t> perm;  // processing order: identity, or by descending diag(H) with act-order
  double mean_diag = 0;       // of H after the dead fix: damping is relative to it
};
// Step 2: Hinv in ws.u, or ok = false when no damp up to damp_max gives a positive definite H + λI.
struct Factor {
  bool ok = false;
  double damp = 0;  // the damp_percent that worked
  int retries = 0;  // failed attempts
};

void validate(const float* w, int64_t rows, int64_t cols, const float* h, int64_t h_dim, const GptqConfig& c,
              const std::string& name);
Prepared prepare(const float* w, int64_t rows, int64_t n, const float* h, const GptqConfig& cfg, Workspace& ws);
Factor inverse_factor(const linalg::Context& ctx, Workspace& ws, int64_t n, double mean_diag, const GptqConfig& cfg,
                      OutputErrors& out);
std::vector<uint8_t> static_block_scales(const std::vector<float>& wm, int64_t rows, int64_t n, float scale_2,
                                         nvfp4::BlockScaleSearch search);
double quantize_columns(const linalg::Context& ctx, Workspace& ws, int64_t rows, int64_t n, int64_t block_size,
                        const Prepared& p, bool static_scales, nvfp4::BlockScaleSearch search,
                        std::vector<uint8_t>& scales);
nvfp4::QuantizedMatrix unpermute(const Workspace& ws, int64_t rows, int64_t n, const Prepared& p,
                                 std::vector<uint8_t> scales);

}  // namespace

GptqResult gptq_quantize(const linalg::Context& ctx, Workspace& ws, const float* w, int64_t rows, int64_t cols,
                         const float* h, int64_t h_dim, const GptqConfig& cfg, const std::string& name) {
  validate(w, rows, cols, h, h_dim, cfg, name);
  // 1. Prepare: scale_2, dead columns (H_ii = 1, W[:, i] = 0), the processing order, H in that order.
  const Prepared p = prepare(w, rows, cols, h, cfg, ws);
  if (p.n_dead == cols)
    return rtn_result(ctx, w, rows, cols, h, p.scale_2, name,
                      "Hessian is zero (no calibration tokens): round-to-nearest", cfg.scale_rule.search);
  OutputErrors out(cfg.output_errors, w, ws.wm.data(), rows, cols, p.scale_2, p.dead, p.perm, ws.dw_rtn);

  // 2. Hinv = upper Cholesky factor of (H + λI)⁻¹ with λ = damp · mean(diag H), damp raised while that fails.
  const Factor f = inverse_factor(ctx, ws, cols, p.mean_diag, cfg, out);
  if (!f.ok) {
    auto r = rtn_result(ctx, w, rows, cols, h, p.scale_2, name,
                        "Cholesky failed up to damp " + std::to_string(cfg.damp_max) + ": round-to-nearest",
                        cfg.scale_rule.search);
    r.retries = f.retries;
    r.dead_columns = p.n_dead;
    return r;
  }

  // 3. The column loop in processing order: quantize a column, spread its scaled error over the later ones.
  // Static block scales (static mode, and always with act-order) come first, in the original column order.
  const bool static_scales = cfg.desc_act || cfg.block_scales == BlockScales::Static;
  const auto search = cfg.scale_rule.search;
  std::vector<uint8_t> scales = static_scales ? static_block_scales(ws.wm, rows, cols, p.scale_2, search)
                                              : std::vector<uint8_t>(static_cast<size_t>(rows * (cols / kBlockSize)));
  const double err_sq = quantize_columns(ctx, ws, rows, cols, cfg.block_size, p, static_scales, search, scales);

  // 4. Un-permute: codes and values back to [rows, cols] in the original column order.
  GptqResult res;
  res.q = unpermute(ws, rows, cols, p, std::move(scales));
  res.loss = err_sq / 2;
  res.damp = f.damp;
  res.retries = f.retries;
  res.dead_columns = p.n_dead;
  if (f.retries)
    res.note = "Cholesky retried " + std::to_string(f.retries) + " time(s); damp " + std::to_string(f.damp);
  out.finish(err_sq, f.damp * p.mean_diag, res);
  return res;
}

namespace {

void validate(const float* w, int64_t rows, int64_t cols, const float* h, int64_t h_dim, const GptqConfig& c,
              const std::string& name) {
  if (h_dim != cols)
    throw Error("GPTQ: " + name + ": weight has " + std::to_string(cols) + " input columns but the Hessian is [" +
                std::to_string(h_dim) + ", " + std::to_string(h_dim) + "]");
  if (rows <= 0 || cols <= 0)
    throw Error("GPTQ: " + name + ": empty weight [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  if (cols % kBlockSize != 0)
    throw Error("GPTQ: " + name + " has " + std::to_string(cols) + " input columns; a multiple of 16 is required");
  if (c.block_size <= 0 || c.block_size % kBlockSize != 0)
    throw Error("GPTQ: " + name + ": block size " + std::to_string(c.block_size) +
                " must be a positive multiple of 16");
  if (!(c.damp_percent >= 0 && c.damp_percent <= c.damp_max && c.damp_step > 0))
    throw Error("GPTQ: " + name + ": damp_percent " + std::to_string(c.damp_percent) + " must be in [0, " +
                std::to_string(c.damp_max) + "]");
  if (c.scale_2 && !(std::isfinite(*c.scale_2) && *c.scale_2 >= 0))
    throw Error("GPTQ: " + name + ": supplied scale_2 must be finite and >= 0");
  const size_t nw = static_cast<size_t>(rows * cols), nh = static_cast<size_t>(cols * cols);
  if (const size_t i = numeric::first_non_finite(w, nw); i < nw)
    throw Error("GPTQ: " + name + ": non-finite weight at [" + std::to_string(i / cols) + ", " +
                std::to_string(i % cols) + "]");
  if (const size_t i = numeric::first_non_finite(h, nh); i < nh)
    throw Error("GPTQ: " + name + ": non-finite Hessian entry at [" + std::to_string(i / cols) + ", " +
                std::to_string(i % cols) + "]");
}

// H with the dead fix, in processing order, into hd; returns the mean of its diagonal.
double ordered_hessian(const float* h, int64_t n, const Prepared& p, bool permute, std::vector<float>& hd) {
  hd.resize(static_cast<size_t>(n * n));
  if (permute) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) hd[i * n + j] = h[p.perm[i] * n + p.perm[j]];
  } else {
    std::copy(h, h + n * n, hd.begin());
  }
  for (int64_t i = 0; i < n; ++i)
    if (p.dead[p.perm[i]]) hd[i * n + i] = 1.0f;
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += hd[i * n + i];
  return mean_diag / static_cast<double>(n);
}

Prepared prepare(const float* w, int64_t rows, int64_t n, const float* h, const GptqConfig& cfg, Workspace& ws) {
  Prepared p;
  const size_t nw = static_cast<size_t>(rows * n);
  p.scale_2 = cfg.scale_2 ? *cfg.scale_2 : nvfp4::global_scale(nvfp4::max_abs(w, nw), cfg.scale_rule.scale2_max);
  p.dead.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) p.n_dead += p.dead[i] = h[i * n + i] == 0.0f;
  if (p.n_dead == n) return p;
  ws.wm.assign(w, w + nw);
  if (p.n_dead)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i)
        if (p.dead[i]) ws.wm[r * n + i] = 0.0f;
  // Act-order: columns by descending diag(H), stable, after the dead-column fix (as AutoGPTQ).
  auto diag = [&](int64_t i) { return p.dead[i] ? 1.0f : h[i * n + i]; };
  p.perm.resize(static_cast<size_t>(n));
  std::iota(p.perm.begin(), p.perm.end(), 0);
  if (cfg.desc_act)
    std::stable_sort(p.perm.begin(), p.perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
  p.mean_diag = ordered_hessian(h, n, p, cfg.desc_act, ws.hd);
  return p;
}

// Upper Cholesky factor U of (Hd + λI)⁻¹ in `u` (lower triangle zeroed). With J the index reversal,
// Cholesky of J·A·J = L'L'ᵀ gives A = R Rᵀ with R = J L' J upper, so A⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹: one Cholesky
// and one triangular inverse (⅔n³) instead of AutoGPTQ's cholesky → cholesky_inverse → cholesky (4⁄3n³).
// Reversing both indices of a row-major square matrix is reversing its storage. `out` sees R (upper
// triangle of `u`) before it is inverted.
bool inverse_cholesky_upper(const linalg::Context& ctx, const std::vector<float>& hd, int64_t n, double lambda,
                            std::vector<float>& u, OutputErrors& out, std::vector<float>& scratch) {
  u.resize(hd.size());
  std::reverse_copy(hd.begin(), hd.end(), u.begin());
  for (int64_t i = 0; i < n; ++i) u[i * n + i] += static_cast<float>(lambda);  // the diagonal maps to itself
  if (ctx.cholesky(/*upper=*/false, u.data(), n, n) != 0) return false;
  std::reverse(u.begin(), u.end());  // R in the upper triangle
  for (int64_t i = 0; i < n; ++i) std::fill_n(&u[i * n], i, 0.0f);
  out.take_forms(ctx, u.data(), scratch);
  if (ctx.triangular_inverse(/*upper=*/true, u.data(), n, n) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {
    const float d = u[i * n + i];
    if (!(std::isfinite(d) && d > 0)) return false;
  }
  return numeric::first_non_finite(u.data(), u.size()) == u.size();
}

Factor inverse_factor(const linalg::Context& ctx, Workspace& ws, int64_t n, double mean_diag, const GptqConfig& cfg,
                      OutputErrors& out) {
  Factor f;
  f.damp = cfg.damp_percent;
  for (;;) {
    if (inverse_cholesky_upper(ctx, ws.hd, n, f.damp * mean_diag, ws.u, out, ws.big)) {
      f.ok = true;
      return f;
    }
    ++f.retries;
    if (f.damp + cfg.damp_step > cfg.damp_max + 1e-9) return f;
    f.damp += cfg.damp_step;
  }
}

// Every block's scale from wm (W after dead columns are zeroed), in the original column order; searched by
// the squared error of round-to-nearest.
std::vector<uint8_t> static_block_scales(const std::vector<float>& wm, int64_t rows, int64_t n, float scale_2,
                                         nvfp4::BlockScaleSearch search) {
  const int64_t nb = n / kBlockSize;
  std::vector<uint8_t> scales(static_cast<size_t>(rows * nb));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      const float* x = &wm[r * n + b * kBlockSize];
      const float amax = nvfp4::max_abs(x, kBlockSize);
      scales[r * nb + b] = search == nvfp4::BlockScaleSearch::Mse ? nvfp4::mse_block_scale(x, amax, scale_2)
                                                                   : nvfp4::block_scale_code(amax, scale_2);
    }
  return scales;
}

// Step 3 in its fast layout (column_loop.hpp): Wᵀ in processing order and the transposed values share ws.big.
double quantize_columns(const linalg::Context& ctx, Workspace& ws, int64_t rows, int64_t n, int64_t block_size,
                        const Prepared& p, bool static_scales, nvfp4::BlockScaleSearch search,
                        std::vector<uint8_t>& scales) {
  const size_t nw = static_cast<size_t>(rows * n);
  ws.big.resize(2 * nw);
  ws.ct.resize(nw);
  linalg::transpose(ws.wm.data(), rows, n, ws.big.data(), p.perm.data());
  const ColumnLoop loop{ws.big.data(),     ws.u.data(),   rows,          n,         block_size,
                        p.perm.data(),     static_scales, scales.data(), p.scale_2, ws.ct.data(),
                        ws.big.data() + nw, search == nvfp4::BlockScaleSearch::Mse};
  return run_column_loop(ctx, loop, ws.err, ws.eff);
}

nvfp4::QuantizedMatrix unpermute(const Workspace& ws, int64_t rows, int64_t n, const Prepared& p,
                                 std::vector<uint8_t> scales) {
  const size_t nw = static_cast<size_t>(rows * n);
  nvfp4::QuantizedMatrix q;
  q.rows = rows;
  q.cols = n;
  q.scale_2 = p.scale_2;
  q.codes.resize(nw);
  q.dequant.resize(nw);
  linalg::transpose_back(ws.ct.data(), rows, n, q.codes.data(), p.perm.data());
  linalg::transpose_back(ws.big.data() + nw, rows, n, q.dequant.data(), p.perm.data());
  q.block_scales = std::move(scales);
  return q;
}

}  // namespace

}  // namespace fp4gptq::gptq
