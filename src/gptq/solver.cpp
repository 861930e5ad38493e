// GPTQ as the method reads (docs/DESIGN.md §5): gptq_quantize below is its three steps, the helpers follow it. The
// column loop's fast layout is in column_loop.cpp, the output errors in output_error.cpp.
#include "gptq/solver.hpp"

#include <algorithm>
#include <chrono>
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

// Steps 1–2, what depends on H alone (shared by the modules of one input): the dead columns, the processing
// order, H with the dead fix in that order (ws.hd), then Hinv (ws.u), or ok = false when no damp up to
// damp_max gives a positive definite H + λI.
struct Factor {
  std::vector<uint8_t> dead;  // columns with H_ii = 0
  int64_t n_dead = 0;
  std::vector<int64_t> perm;  // processing order: identity, or by descending diag(H) with act-order
  double mean_diag = 0;       // of H after the dead fix: damping is relative to it
  bool ok = false;
  double damp = 0;  // the damp_percent that worked
  int retries = 0;  // failed attempts
};

void validate(const float* w, int64_t rows, int64_t cols, const GptqConfig& c, const std::string& name);
void validate_hessian(const float* h, int64_t n, const std::string& name);
Factor factor(const linalg::Context& ctx, Workspace& ws, const float* h, int64_t n, const GptqConfig& cfg,
              std::vector<OutputErrors>& out);
GptqResult quantize_module(const linalg::Context& ctx, Workspace& ws, const GroupModule& m, int64_t cols,
                           const float* h, const Factor& f, float scale_2, const OutputErrors& out);
float module_scale_2(const GroupModule& m, int64_t cols) {
  return m.config.scale_2 ? *m.config.scale_2
                          : nvfp4::global_scale(nvfp4::max_abs(m.w, static_cast<size_t>(m.rows * cols)),
                                                m.config.scale_rule.scale2_max);
}
std::vector<uint8_t> static_block_scales(const std::vector<float>& wm, int64_t rows, int64_t n, float scale_2,
                                         nvfp4::BlockScaleSearch search);
double quantize_columns(const linalg::Context& ctx, Workspace& ws, int64_t block_size, const Factor& f,
                        bool static_scales, nvfp4::BlockScaleSearch search, nvfp4::QuantizedMatrix& q);

}  // namespace

GptqResult gptq_quantize(const linalg::Context& ctx, Workspace& ws, const float* w, int64_t rows, int64_t cols,
                         const float* h, int64_t h_dim, const GptqConfig& cfg, const std::string& name) {
  if (h_dim != cols)
    throw Error("GPTQ: " + name + ": weight has " + std::to_string(cols) + " input columns but the Hessian is [" +
                std::to_string(h_dim) + ", " + std::to_string(h_dim) + "]");
  return std::move(gptq_quantize_group(ctx, ws, {GroupModule{w, rows, cfg, name}}, cols, h).front());
}

std::vector<GptqResult> gptq_quantize_group(const linalg::Context& ctx, Workspace& ws,
                                            const std::vector<GroupModule>& modules, int64_t cols, const float* h,
                                            std::vector<double>* seconds) {
  if (modules.empty()) return {};
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const GptqConfig& cfg = modules.front().config;
  std::vector<OutputErrors> out;
  std::vector<float> scale_2;
  int64_t total_rows = 0;
  for (const auto& m : modules) {
    validate(m.w, m.rows, cols, m.config, m.name);
    if (m.config.desc_act != cfg.desc_act || m.config.damp_percent != cfg.damp_percent ||
        m.config.output_errors != cfg.output_errors || m.config.output_error_rows != cfg.output_error_rows ||
        m.config.damp_step != cfg.damp_step || m.config.damp_max != cfg.damp_max)
      throw Error("GPTQ: " + m.name + ": the modules of one input must share act-order, damping and output errors");
    scale_2.push_back(module_scale_2(m, cols));
    out.emplace_back(cfg.output_errors, m.w, m.rows, cols, scale_2.back(), cfg.output_error_rows);
    total_rows += m.rows;
  }
  validate_hessian(h, cols, modules.front().name);
  // 1–2. Dead columns (H_ii = 1, W[:, i] = 0), the processing order, and Hinv = upper Cholesky factor of
  // (H + λI)⁻¹ with λ = damp · mean(diag H), damp raised while that fails: once for every module of the input.
  const Factor f = factor(ctx, ws, h, cols, cfg, out);
  const double factor_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<GptqResult> results;
  for (size_t i = 0; i < modules.size(); ++i) {
    ctx.check_cancelled();
    const auto t = Clock::now();
    results.push_back(quantize_module(ctx, ws, modules[i], cols, h, f, scale_2[i], out[i]));
    if (seconds)
      seconds->push_back(std::chrono::duration<double>(Clock::now() - t).count() +
                         factor_s * static_cast<double>(modules[i].rows) / static_cast<double>(total_rows));
  }
  return results;
}

namespace {

// Steps 3–4 for one module on the shared factor.
GptqResult quantize_module(const linalg::Context& ctx, Workspace& ws, const GroupModule& m, int64_t cols,
                           const float* h, const Factor& f, float scale_2, const OutputErrors& out) {
  const auto& cfg = m.config;
  const int64_t rows = m.rows;
  if (f.n_dead == cols)
    return rtn_result(ctx, m.w, rows, cols, h, scale_2, m.name,
                      "Hessian is zero (no calibration tokens): round-to-nearest", cfg.scale_rule.search);
  if (!f.ok) {
    auto r = rtn_result(ctx, m.w, rows, cols, h, scale_2, m.name,
                        "Cholesky failed up to damp " + std::to_string(cfg.damp_max) + ": round-to-nearest",
                        cfg.scale_rule.search);
    r.retries = f.retries;
    r.dead_columns = f.n_dead;
    return r;
  }
  // W with dead columns zeroed (after scale_2 was taken from the original weight).
  const size_t nw = static_cast<size_t>(rows * cols);
  ws.wm.assign(m.w, m.w + nw);
  if (f.n_dead)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i)
        if (f.dead[i]) ws.wm[r * cols + i] = 0.0f;

  // 3. The column loop in processing order: quantize a column, spread its scaled error over the later ones.
  // Static block scales (static mode, and always with act-order) come first, in the original column order.
  // Codes and values land in the original column order (the un-permutation is part of the loop).
  const bool static_scales = cfg.desc_act || cfg.block_scales == BlockScales::Static;
  const auto search = cfg.scale_rule.search;
  GptqResult res;
  res.q.rows = rows;
  res.q.cols = cols;
  res.q.scale_2 = scale_2;
  res.q.codes.resize(nw);
  res.q.dequant.resize(nw);
  res.q.block_scales = static_scales ? static_block_scales(ws.wm, rows, cols, scale_2, search)
                                     : std::vector<uint8_t>(static_cast<size_t>(rows * (cols / kBlockSize)));
  const double err_sq = quantize_columns(ctx, ws, cfg.block_size, f, static_scales, search, res.q);

  res.loss = err_sq / 2;
  res.damp = f.damp;
  res.retries = f.retries;
  res.dead_columns = f.n_dead;
  if (f.retries)
    res.note = "Cholesky retried " + std::to_string(f.retries) + " time(s); damp " + std::to_string(f.damp);
  out.finish(err_sq, f.damp * f.mean_diag, f.dead, res);
  return res;
}

void validate(const float* w, int64_t rows, int64_t cols, const GptqConfig& c, const std::string& name) {
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
  const size_t nw = static_cast<size_t>(rows * cols);
  if (const size_t i = numeric::first_non_finite(w, nw); i < nw)
    throw Error("GPTQ: " + name + ": non-finite weight at [" + std::to_string(i / cols) + ", " +
                std::to_string(i % cols) + "]");
}

// Once per input: the Hessian its modules share.
void validate_hessian(const float* h, int64_t n, const std::string& name) {
  const size_t nh = static_cast<size_t>(n * n);
  if (const size_t i = numeric::first_non_finite(h, nh); i < nh)
    throw Error("GPTQ: " + name + ": non-finite Hessian entry at [" + std::to_string(i / n) + ", " +
                std::to_string(i % n) + "]");
}

// H with the dead fix, in processing order, into hd; returns the mean of its diagonal.
double ordered_hessian(const float* h, int64_t n, const Factor& f, bool permute, std::vector<float>& hd) {
  hd.resize(static_cast<size_t>(n * n));
  if (permute) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) hd[i * n + j] = h[f.perm[i] * n + f.perm[j]];
  } else {
    std::copy(h, h + n * n, hd.begin());
  }
  for (int64_t i = 0; i < n; ++i)
    if (f.dead[f.perm[i]]) hd[i * n + i] = 1.0f;
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += hd[i * n + i];
  return mean_diag / static_cast<double>(n);
}

// Upper Cholesky factor U of (Hd + λI)⁻¹ in `u` (lower triangle zeroed). With J the index reversal,
// Cholesky of J·A·J = L'L'ᵀ gives A = R Rᵀ with R = J L' J upper, so A⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹: one Cholesky
// and one triangular inverse (⅔n³) instead of AutoGPTQ's cholesky → cholesky_inverse → cholesky (4⁄3n³).
// Reversing both indices of a row-major square matrix is reversing its storage. Every module's output
// errors see R (upper triangle of `u`) before it is inverted.
bool inverse_cholesky_upper(const linalg::Context& ctx, Workspace& ws, int64_t n, double lambda, const Factor& f,
                            std::vector<OutputErrors>& out) {
  auto& u = ws.u;
  u.resize(ws.hd.size());
  std::reverse_copy(ws.hd.begin(), ws.hd.end(), u.begin());
  for (int64_t i = 0; i < n; ++i) u[i * n + i] += static_cast<float>(lambda);  // the diagonal maps to itself
  if (ctx.cholesky(/*upper=*/false, u.data(), n, n) != 0) return false;
  std::reverse(u.begin(), u.end());  // R in the upper triangle
  for (int64_t i = 0; i < n; ++i) std::fill_n(&u[i * n], i, 0.0f);
  for (auto& o : out) o.take_forms(ctx, u.data(), f.dead, f.perm, ws.big, ws.row);
  if (ctx.triangular_inverse(/*upper=*/true, u.data(), n, n) != 0) return false;
  for (int64_t i = 0; i < n; ++i) {
    const float d = u[i * n + i];
    if (!(std::isfinite(d) && d > 0)) return false;
  }
  return numeric::first_non_finite(u.data(), u.size()) == u.size();
}

Factor factor(const linalg::Context& ctx, Workspace& ws, const float* h, int64_t n, const GptqConfig& cfg,
              std::vector<OutputErrors>& out) {
  Factor f;
  f.dead.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) f.n_dead += f.dead[i] = h[i * n + i] == 0.0f;
  if (f.n_dead == n) return f;
  // Act-order: columns by descending diag(H), stable, after the dead-column fix (as AutoGPTQ).
  auto diag = [&](int64_t i) { return f.dead[i] ? 1.0f : h[i * n + i]; };
  f.perm.resize(static_cast<size_t>(n));
  std::iota(f.perm.begin(), f.perm.end(), 0);
  if (cfg.desc_act)
    std::stable_sort(f.perm.begin(), f.perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
  f.mean_diag = ordered_hessian(h, n, f, cfg.desc_act, ws.hd);
  f.damp = cfg.damp_percent;
  for (;;) {
    if (inverse_cholesky_upper(ctx, ws, n, f.damp * f.mean_diag, f, out)) {
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

// Step 3 in its fast layout (column_loop.hpp): Wᵀ in processing order in ws.big.
double quantize_columns(const linalg::Context& ctx, Workspace& ws, int64_t block_size, const Factor& f,
                        bool static_scales, nvfp4::BlockScaleSearch search, nvfp4::QuantizedMatrix& q) {
  const int64_t rows = q.rows, n = q.cols;
  ws.big.resize(static_cast<size_t>(rows * n));
  linalg::transpose(ws.wm.data(), rows, n, ws.big.data(), f.perm.data());
  const ColumnLoop loop{ws.big.data(),
                        ws.u.data(),
                        rows,
                        n,
                        block_size,
                        f.perm.data(),
                        static_scales,
                        q.block_scales.data(),
                        q.scale_2,
                        q.codes.data(),
                        q.dequant.data(),
                        search == nvfp4::BlockScaleSearch::Mse};
  return run_column_loop(ctx, loop, ws.loop);
}

}  // namespace

}  // namespace fp4gptq::gptq
