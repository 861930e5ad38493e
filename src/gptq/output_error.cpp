#include "gptq/output_error.hpp"

#include <algorithm>
#include <numeric>

#include "nvfp4/quantizer.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::gptq {

namespace {

double sum_squares(const float* a, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * a[i];
  return s;
}

double relative(double num, double den) { return den > 0 ? std::max(0.0, num) / den : 0.0; }

}  // namespace

double quadratic_form_trace(const linalg::Context& ctx, const float* a, int64_t rows, int64_t cols, const float* h) {
  std::vector<float> ah(static_cast<size_t>(rows * cols));
  ctx.sgemm(false, false, rows, cols, cols, 1.0f, a, cols, h, cols, 0.0f, ah.data(), cols);
  double t = 0;
  for (size_t i = 0; i < ah.size(); ++i) t += static_cast<double>(ah[i]) * a[i];
  return t;
}

GptqResult rtn_result(const linalg::Context& ctx, const float* w, int64_t rows, int64_t cols, const float* h,
                      float scale_2, const std::string& name, const std::string& why, nvfp4::BlockScaleSearch search) {
  GptqResult r;
  r.q = nvfp4::quantize_rtn(w, rows, cols, scale_2, name, {search, nvfp4::ScaleRule{}.scale2_max});
  r.fallback = true;
  r.note = why;
  const double den = quadratic_form_trace(ctx, w, rows, cols, h);
  auto relative_error = [&](const std::vector<float>& dequant) {
    std::vector<float> dw(dequant.size());
    for (size_t i = 0; i < dw.size(); ++i) dw[i] = w[i] - dequant[i];
    return den > 0 ? quadratic_form_trace(ctx, dw.data(), rows, cols, h) / den : 0.0;
  };
  r.rel_err = relative_error(r.q.dequant);
  // The baseline stays the amax rule's round-to-nearest, as for the modules GPTQ solves.
  r.rtn_rel_err = search == nvfp4::BlockScaleSearch::None
                      ? r.rel_err
                      : relative_error(nvfp4::quantize_rtn(w, rows, cols, scale_2, name).dequant);
  r.error_rows = rows;
  return r;
}

void OutputErrors::take_forms(const linalg::Context& ctx, const float* r, const std::vector<uint8_t>& dead,
                              const std::vector<int64_t>& perm, std::vector<float>& stacked, std::vector<float>& row) {
  if (!enabled_) return;
  const int64_t n = cols_;
  // Rows taken, each with its weight in the totals: every row (exact), or the sample_rows/2 of largest c_r
  // (weight 1) and sample_rows/2 spread evenly over the others in order of c_r, each standing for its share of
  // their Σ c (weight Σ_rest c / Σ_sampled c).
  std::vector<int64_t> take;
  std::vector<double> weight;
  if (sample_rows_ > 1 && sample_rows_ < rows_) {
    // c_r = Σ_i (Hd + λI)_ii W_ri², with (R Rᵀ)_jj = Σ_k R_jk² (R upper) moved back to the original order.
    std::vector<double> diag(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      diag[static_cast<size_t>(perm[j])] = sum_squares(r + j * n + j, static_cast<size_t>(n - j));
    for (int64_t i = 0; i < n; ++i)
      if (dead[i]) diag[i] = 0;  // W counts as 0 there
    std::vector<double> c(static_cast<size_t>(rows_));
    for (int64_t rr = 0; rr < rows_; ++rr) {
      const float* w = w_ + rr * n;
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += diag[i] * (static_cast<double>(w[i]) * w[i]);
      c[rr] = s;
    }
    std::vector<int64_t> order(static_cast<size_t>(rows_));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return c[a] > c[b]; });
    const int64_t top = sample_rows_ / 2, rest = rows_ - top, spread = sample_rows_ - top;
    double rest_c = 0, spread_c = 0;
    for (int64_t k = top; k < rows_; ++k) rest_c += c[order[k]];
    for (int64_t k = 0; k < top; ++k) take.push_back(order[k]), weight.push_back(1.0);
    for (int64_t k = 0; k < spread; ++k) {
      take.push_back(order[top + (2 * k + 1) * rest / (2 * spread)]);
      spread_c += c[take.back()];
    }
    if (spread_c > 0)
      weight.resize(take.size(), rest_c / spread_c);
    else if (rest_c > 0)
      take.clear();  // the spread rows carry nothing of the rest's weight: every row
    else
      weight.resize(take.size(), 0.0);  // the rest is all zero: nothing to estimate
  }
  if (take.empty()) {
    take.resize(static_cast<size_t>(rows_));
    std::iota(take.begin(), take.end(), int64_t{0});
    weight.assign(take.size(), 1.0);
  }
  taken_ = static_cast<int64_t>(take.size());
  const size_t nw = static_cast<size_t>(taken_ * n);
  stacked.resize(2 * nw);
  row.resize(static_cast<size_t>(n));
  std::vector<uint8_t> codes(static_cast<size_t>(n)), scales(static_cast<size_t>(n / nvfp4::kBlockSize));
  w_sq_ = rtn_sq_ = dead_sq_ = 0;
  for (int64_t t = 0; t < taken_; ++t) {
    // Round-to-nearest of the original weight on the same scale_2: the baseline every module is compared with.
    const float* w = w_ + take[t] * n;
    nvfp4::quantize_row_rtn(w, n, scale_2_, codes.data(), scales.data(), row.data());
    double ws = 0, rs = 0, ds = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float d = w[i] - row[i], wm = dead[i] ? 0.0f : w[i];
      row[i] = d;
      ws += static_cast<double>(wm) * wm;
      rs += static_cast<double>(d) * d;
      if (dead[i]) ds += static_cast<double>(d) * d;
    }
    w_sq_ += weight[t] * ws, rtn_sq_ += weight[t] * rs, dead_sq_ += weight[t] * ds;
    for (int64_t j = 0; j < n; ++j) {
      stacked[t * n + j] = dead[perm[j]] ? 0.0f : w[perm[j]];
      stacked[nw + t * n + j] = row[perm[j]];
    }
  }
  ctx.trmm_right_upper(2 * taken_, n, r, n, stacked.data(), n);
  w_form_ = rtn_form_ = 0;
  for (int64_t t = 0; t < taken_; ++t) {
    w_form_ += weight[t] * sum_squares(stacked.data() + t * n, static_cast<size_t>(n));
    rtn_form_ += weight[t] * sum_squares(stacked.data() + nw + t * n, static_cast<size_t>(n));
  }
}

void OutputErrors::finish(double err_sq, double lambda, const std::vector<uint8_t>& dead, GptqResult& res) const {
  if (!enabled_) return;
  const int64_t n = cols_;
  double dw_sq = 0;
  for (int64_t r = 0; r < rows_; ++r)
    for (int64_t i = 0; i < n; ++i) {
      const double d = (dead[i] ? 0.0 : static_cast<double>(w_[r * n + i])) - res.q.dequant[r * n + i];
      dw_sq += d * d;
    }
  const double den = w_form_ - lambda * w_sq_;
  res.rel_err = relative(err_sq - lambda * dw_sq, den);
  res.rtn_rel_err = relative(rtn_form_ - lambda * rtn_sq_ - dead_sq_, den);
  res.error_rows = taken_;
}

}  // namespace fp4gptq::gptq
