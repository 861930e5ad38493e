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
  return r;
}

void OutputErrors::take_forms(const linalg::Context& ctx, const float* r, const std::vector<uint8_t>& dead,
                              const std::vector<int64_t>& perm, std::vector<float>& stacked, std::vector<float>& row) {
  if (!enabled_) return;
  const int64_t n = cols_;
  const size_t nw = static_cast<size_t>(rows_ * n);
  stacked.resize(2 * nw);
  row.resize(static_cast<size_t>(n));
  std::vector<uint8_t> codes(static_cast<size_t>(n)), scales(static_cast<size_t>(n / nvfp4::kBlockSize));
  w_sq_ = rtn_sq_ = dead_sq_ = 0;
  for (int64_t rr = 0; rr < rows_; ++rr) {
    // Round-to-nearest of the original weight on the same scale_2: the baseline every module is compared with.
    const float* w = w_ + rr * n;
    nvfp4::quantize_row_rtn(w, n, scale_2_, codes.data(), scales.data(), row.data());
    for (int64_t i = 0; i < n; ++i) {
      const float d = w[i] - row[i], wm = dead[i] ? 0.0f : w[i];
      row[i] = d;
      w_sq_ += static_cast<double>(wm) * wm;
      rtn_sq_ += static_cast<double>(d) * d;
      if (dead[i]) dead_sq_ += static_cast<double>(d) * d;
    }
    for (int64_t j = 0; j < n; ++j) {
      stacked[rr * n + j] = dead[perm[j]] ? 0.0f : w[perm[j]];
      stacked[nw + rr * n + j] = row[perm[j]];
    }
  }
  ctx.trmm_right_upper(2 * rows_, n, r, n, stacked.data(), n);
  w_form_ = sum_squares(stacked.data(), nw);
  rtn_form_ = sum_squares(stacked.data() + nw, nw);
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
}

}  // namespace fp4gptq::gptq
