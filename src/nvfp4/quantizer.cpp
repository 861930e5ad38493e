#include "nvfp4/quantizer.hpp"

#include <algorithm>
#include <cmath>

#include "fp4gptq/error.hpp"
#include "numeric/finite.hpp"
#include "numeric/simd.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::nvfp4 {

FP4GPTQ_SIMD_CLONES float max_abs(const float* x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    m = a > m ? a : m;  // maxps; inputs are finite
  }
  return m;
}

std::vector<int32_t> g_idx(int64_t cols) {
  std::vector<int32_t> g(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) g[i] = static_cast<int32_t>(block_index(i));
  return g;
}

FP4GPTQ_SIMD_CLONES void quantize_row_rtn(const float* w, int64_t n, float scale_2, uint8_t* codes, uint8_t* scales,
                                          float* dequant, BlockScaleSearch search) {
  for (int64_t b = 0; b < n / kBlockSize; ++b) {
    const float* x = w + b * kBlockSize;
    float amax = 0.0f;
    for (int i = 0; i < kBlockSize; ++i) {
      const float a = std::fabs(x[i]);
      amax = a > amax ? a : amax;
    }
    const uint8_t sc =
        search == BlockScaleSearch::Mse ? mse_block_scale(x, amax, scale_2) : block_scale_code(amax, scale_2);
    scales[b] = sc;
    const float eff = effective_scale(sc, scale_2);
    if (amax == 0.0f || eff == 0.0f) {  // all-zero block, or its scale underflowed: codes 0, values +0
      std::fill_n(codes + b * kBlockSize, kBlockSize, uint8_t{0});
      std::fill_n(dequant + b * kBlockSize, kBlockSize, 0.0f);
      continue;
    }
    for (int i = 0; i < kBlockSize; ++i)
      codes[b * kBlockSize + i] = quantize_value(x[i], eff, &dequant[b * kBlockSize + i]);
  }
}

QuantizedMatrix quantize_rtn(const float* w, int64_t rows, int64_t cols, std::optional<float> scale_2,
                             const std::string& name, const ScaleRule& rule) {
  if (rows < 0 || cols <= 0 || cols % kBlockSize != 0)
    throw Error("NVFP4: " + name + " has " + std::to_string(cols) +
                " input columns; a positive multiple of 16 is required");
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  if (const size_t i = numeric::first_non_finite(w, n); i < n)
    throw Error("NVFP4: " + name + " has a non-finite value at [" + std::to_string(i / cols) + ", " +
                std::to_string(i % cols) + "]");
  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.scale_2 = scale_2 ? *scale_2 : global_scale(max_abs(w, n), rule.scale2_max);
  if (!std::isfinite(q.scale_2) || q.scale_2 < 0.0f)
    throw Error("NVFP4: " + name + ": scale_2 must be finite and >= 0, got " + std::to_string(q.scale_2));
  q.codes.resize(n);
  q.block_scales.resize(n / kBlockSize);
  q.dequant.resize(n);
  for (int64_t r = 0; r < rows; ++r)
    quantize_row_rtn(w + r * cols, cols, q.scale_2, &q.codes[r * cols], &q.block_scales[r * (cols / kBlockSize)],
                     &q.dequant[r * cols], rule.search);
  return q;
}

void fill_dequant(QuantizedMatrix& q) {
  const size_t n = q.codes.size();
  q.dequant.resize(n);
  for (size_t b = 0; b < n / kBlockSize; ++b) {
    const float eff = effective_scale(q.block_scales[b], q.scale_2);
    for (size_t k = b * kBlockSize; k < (b + 1) * kBlockSize; ++k)
      q.dequant[k] = numeric::e2m1_decode(q.codes[k]) * eff;
  }
}

}  // namespace fp4gptq::nvfp4
