#pragma once
// A plain GPTQ-NVFP4 in double precision, one column at a time, as AutoGPTQ's gptq.py fasterquant (DESIGN §5):
// written for reading, independently of src/gptq (no BLAS, no lazy batches, no transposes). Only the FP32
// quantization of one value follows DESIGN §4 from the numeric primitives, since codes must match bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"

namespace fp4gptq::test {

struct ReferenceGptq {
  std::vector<uint8_t> codes, scales;  // [rows, cols], [rows, cols/16]
  std::vector<float> values;           // e2m1 · fp8(scale) · scale_2
  float scale_2 = 0;
  double rel_err = 0;                  // tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), ΔW = W (dead columns zeroed) − values
};

// Upper Cholesky factor U (UᵀU = A⁻¹) of the inverse of a positive definite A [n, n].
inline std::vector<double> reference_inverse_upper_factor(std::vector<double> a, int64_t n) {
  auto cholesky = [n](std::vector<double>& m) {  // in place: lower L with L Lᵀ = m, upper triangle zeroed
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = j > i ? 0.0 : m[i * n + j];
        for (int64_t k = 0; k < j && j <= i; ++k) s -= m[i * n + k] * m[j * n + k];
        m[i * n + j] = j > i ? 0.0 : i == j ? std::sqrt(s) : s / m[j * n + j];
      }
  };
  cholesky(a);
  std::vector<double> li(n * n, 0.0), inv(n * n, 0.0);  // L⁻¹, then A⁻¹ = L⁻ᵀ L⁻¹
  for (int64_t i = 0; i < n; ++i) {
    li[i * n + i] = 1.0 / a[i * n + i];
    for (int64_t j = 0; j < i; ++j) {
      double s = 0;
      for (int64_t k = j; k < i; ++k) s += a[i * n + k] * li[k * n + j];
      li[i * n + j] = -s / a[i * n + i];
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = std::max(i, j); k < n; ++k) inv[i * n + j] += li[k * n + i] * li[k * n + j];
  cholesky(inv);  // inv = L2 L2ᵀ, so U = L2ᵀ
  std::vector<double> u(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) u[i * n + j] = inv[j * n + i];
  return u;
}

// GPTQ of w [rows, cols] with h [cols, cols]. Static block scales (also with desc_act) come from the weight
// after dead columns are zeroed; dynamic ones from the current weights when the loop reaches a block. With
// `mse` (DESIGN §4b) each block's scale is the FP8 code within [0.75, 1.25]× of the amax rule's with the
// smallest error: for static scales Σ (w − q)², for dynamic ones the in-block GPTQ loss Σ e², e the errors
// scaled by U's diagonal with each propagated to the block's later columns. scale2_max is K of amax / (6·K).
inline ReferenceGptq reference_gptq(const std::vector<float>& w0, int64_t rows, int64_t n, const std::vector<float>& h0,
                                    bool static_scales, bool desc_act, double damp = 0.01, bool mse = false,
                                    float scale2_max = 448.0f) {
  float amax = 0;
  for (float v : w0) amax = std::max(amax, std::fabs(v));
  const float s2 = amax / (numeric::kE2M1Max * scale2_max);
  std::vector<double> w(w0.begin(), w0.end()), h(h0.begin(), h0.end());
  for (int64_t i = 0; i < n; ++i)
    if (h[i * n + i] == 0) {  // dead column
      h[i * n + i] = 1;
      for (int64_t r = 0; r < rows; ++r) w[r * n + i] = 0;
    }
  const std::vector<double> wm = w;
  ReferenceGptq out{std::vector<uint8_t>(rows * n), std::vector<uint8_t>(rows * n / 16), std::vector<float>(rows * n)};
  auto quant = [](double x, float eff) {  // e2m1 · eff of one value, in FP32 as DESIGN §4
    return eff == 0 ? 0.0 : double(numeric::e2m1_decode(numeric::e2m1_encode(float(x) / eff)) * eff);
  };
  std::vector<double> u;  // Hinv, processing order (set before the loop)
  // The error of block [c0, c0 + 16) of row r with FP8 code `code`: squared error (static) or the in-block
  // GPTQ loss (dynamic, processing order = original order).
  auto block_error = [&](int64_t r, int64_t c0, uint8_t code, bool gptq_loss) {
    const float eff = numeric::e4m3_to_f32(code) * s2;
    std::vector<double> x(w.begin() + r * n + c0, w.begin() + r * n + c0 + 16);
    double e = 0;
    for (int64_t i = 0; i < 16; ++i) {
      const double d = x[i] - quant(x[i], eff);
      if (!gptq_loss) {
        e += d * d;
        continue;
      }
      const double ei = d / u[(c0 + i) * n + c0 + i];
      e += ei * ei;
      for (int64_t j = i + 1; j < 16; ++j) x[j] -= ei * u[(c0 + i) * n + c0 + j];
    }
    return e;
  };
  auto set_scale = [&](int64_t r, int64_t col, bool gptq_loss) {  // the block of original column `col`, from w now
    const int64_t c0 = col / 16 * 16;
    float bmax = 0;
    for (int64_t k = c0; k < c0 + 16; ++k) bmax = std::max(bmax, std::fabs(float(w[r * n + k])));
    const uint8_t rule = bmax == 0 ? numeric::kE4M3One : numeric::f32_to_e4m3(bmax / (6.0f * s2));
    uint8_t best = rule;
    if (mse && bmax != 0) {
      const float v0 = numeric::e4m3_to_f32(rule);
      double best_err = block_error(r, c0, rule, gptq_loss);
      for (int c = 1; c < 0x7F; ++c) {  // every finite positive code in the window, ascending; ties keep the first
        const float v = numeric::e4m3_to_f32(uint8_t(c));
        if (c == rule || v < 0.75f * v0 || v > 1.25f * v0) continue;
        const double e = block_error(r, c0, uint8_t(c), gptq_loss);
        if (e < best_err) best = uint8_t(c), best_err = e;
      }
    }
    out.scales[r * n / 16 + col / 16] = best;
  };
  if (static_scales || desc_act)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < n; b += 16) set_scale(r, b, false);
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (desc_act)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[a * n + a] > h[b * n + b]; });
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += h[i * n + i] / n;
  std::vector<double> hp(n * n);  // H + λI in processing order
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) hp[i * n + j] = h[perm[i] * n + perm[j]] + (i == j ? damp * mean : 0.0);
  u = reference_inverse_upper_factor(hp, n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = perm[i];
    for (int64_t r = 0; r < rows; ++r) {
      if (!static_scales && !desc_act && c % 16 == 0) set_scale(r, c, true);
      const float eff = numeric::e4m3_to_f32(out.scales[r * n / 16 + c / 16]) * s2;
      const uint8_t code = eff == 0 ? 0 : numeric::e2m1_encode(float(w[r * n + c]) / eff);
      out.codes[r * n + c] = code;
      out.values[r * n + c] = eff == 0 ? 0.0f : numeric::e2m1_decode(code) * eff;
      const double err = (w[r * n + c] - out.values[r * n + c]) / u[i * n + i];
      for (int64_t j = i + 1; j < n; ++j) w[r * n + perm[j]] -= err * u[i * n + j];
    }
  }
  double num = 0, den = 0;  // on the original H
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        num += (wm[r * n + i] - out.values[r * n + i]) * h0[i * n + j] * (wm[r * n + j] - out.values[r * n + j]);
        den += wm[r * n + i] * h0[i * n + j] * wm[r * n + j];
      }
  out.rel_err = num / den;
  out.scale_2 = s2;
  return out;
}

}  // namespace fp4gptq::test
