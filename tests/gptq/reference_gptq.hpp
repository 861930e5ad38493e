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
// after dead columns are zeroed; dynamic ones from the current weights when the loop reaches a block.
inline ReferenceGptq reference_gptq(const std::vector<float>& w0, int64_t rows, int64_t n, const std::vector<float>& h0,
                                    bool static_scales, bool desc_act, double damp = 0.01) {
  float amax = 0;
  for (float v : w0) amax = std::max(amax, std::fabs(v));
  const float s2 = amax / (numeric::kE2M1Max * numeric::kE4M3Max);
  std::vector<double> w(w0.begin(), w0.end()), h(h0.begin(), h0.end());
  for (int64_t i = 0; i < n; ++i)
    if (h[i * n + i] == 0) {  // dead column
      h[i * n + i] = 1;
      for (int64_t r = 0; r < rows; ++r) w[r * n + i] = 0;
    }
  const std::vector<double> wm = w;
  ReferenceGptq out{std::vector<uint8_t>(rows * n), std::vector<uint8_t>(rows * n / 16), std::vector<float>(rows * n)};
  auto set_scale = [&](int64_t r, int64_t col) {  // the block of original column `col`, from w's current values
    float bmax = 0;
    for (int64_t k = col / 16 * 16; k < col / 16 * 16 + 16; ++k) bmax = std::max(bmax, std::fabs(float(w[r * n + k])));
    out.scales[r * n / 16 + col / 16] = bmax == 0 ? numeric::kE4M3One : numeric::f32_to_e4m3(bmax / (6.0f * s2));
  };
  if (static_scales || desc_act)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < n; b += 16) set_scale(r, b);
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (desc_act)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[a * n + a] > h[b * n + b]; });
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += h[i * n + i] / n;
  std::vector<double> hp(n * n);  // H + λI in processing order
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) hp[i * n + j] = h[perm[i] * n + perm[j]] + (i == j ? damp * mean : 0.0);
  const auto u = reference_inverse_upper_factor(hp, n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = perm[i];
    for (int64_t r = 0; r < rows; ++r) {
      if (!static_scales && !desc_act && c % 16 == 0) set_scale(r, c);
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
  return out;
}

}  // namespace fp4gptq::test
