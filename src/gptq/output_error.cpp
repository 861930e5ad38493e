#include "gptq/output_error.hpp"

#include <algorithm>

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
                      float scale_2, const std::string& name, const std::string& why,
                      nvfp4::BlockScaleSearch search) {
  GptqResult r;
  r.q = nvfp4::quantize_rtn(w, rows, cols, scale_2, name, {search, nvfp4::ScaleRule{}.scale2_max});
  r.fallback = true;
  r.note = why;
  std::vector<float> dw(r.q.dequant.size());
  for (size_t i = 0; i < dw.size(); ++i) dw[i] = w[i] - r.q.dequant[i];
  const double den = quadratic_form_trace(ctx, w, rows, cols, h);
  r.rel_err = r.rtn_rel_err = den > 0 ? quadratic_form_trace(ctx, dw.data(), rows, cols, h) / den : 0.0;
  return r;
}

OutputErrors::OutputErrors(bool enabled, const float* w, const float* wm, int64_t rows, int64_t cols, float scale_2,
                           const std::vector<uint8_t>& dead, const std::vector<int64_t>& perm,
                           std::vector<float>& dw_rtn)
    : enabled_(enabled), wm_(wm), rows_(rows), cols_(cols), dead_(dead), perm_(perm), dw_rtn_(dw_rtn) {
  if (!enabled_) return;
  any_dead_ = std::find(dead.begin(), dead.end(), 1) != dead.end();
  // Round-to-nearest of the original weight on the same scale_2: the baseline every module is compared with.
  dw_rtn_.resize(static_cast<size_t>(rows * cols));
  std::vector<uint8_t> codes(static_cast<size_t>(cols)), scales(static_cast<size_t>(cols / nvfp4::kBlockSize));
  for (int64_t r = 0; r < rows; ++r) {
    float* d = &dw_rtn_[r * cols];
    nvfp4::quantize_row_rtn(w + r * cols, cols, scale_2, codes.data(), scales.data(), d);
    for (int64_t i = 0; i < cols; ++i) d[i] = w[r * cols + i] - d[i];
  }
}

void OutputErrors::take_forms(const linalg::Context& ctx, const float* r, std::vector<float>& stacked) {
  if (!enabled_) return;
  const int64_t n = cols_;
  const size_t nw = static_cast<size_t>(rows_ * n);
  stacked.resize(2 * nw);
  for (int64_t row = 0; row < rows_; ++row)
    for (int64_t j = 0; j < n; ++j) {
      stacked[row * n + j] = wm_[row * n + perm_[j]];
      stacked[nw + row * n + j] = dw_rtn_[row * n + perm_[j]];
    }
  ctx.trmm_right_upper(2 * rows_, n, r, n, stacked.data(), n);
  w_form_ = sum_squares(stacked.data(), nw);
  rtn_form_ = sum_squares(stacked.data() + nw, nw);
}

void OutputErrors::finish(double err_sq, double lambda, GptqResult& res) const {
  if (!enabled_) return;
  const int64_t n = cols_;
  const size_t nw = static_cast<size_t>(rows_ * n);
  double dw_sq = 0, dead_sq = 0;
  for (size_t i = 0; i < nw; ++i) {
    const double d = static_cast<double>(wm_[i]) - res.q.dequant[i];
    dw_sq += d * d;
  }
  if (any_dead_)
    for (int64_t r = 0; r < rows_; ++r)
      for (int64_t i = 0; i < n; ++i)
        if (dead_[i]) dead_sq += static_cast<double>(dw_rtn_[r * n + i]) * dw_rtn_[r * n + i];
  const double den = w_form_ - lambda * sum_squares(wm_, nw);
  res.rel_err = relative(err_sq - lambda * dw_sq, den);
  res.rtn_rel_err = relative(rtn_form_ - lambda * sum_squares(dw_rtn_.data(), nw) - dead_sq, den);
}

}  // namespace fp4gptq::gptq
