#pragma once
// NVFP4 round-to-nearest quantization of an FP32 [rows, cols] weight (docs/DESIGN.md §4).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nvfp4/scale_search.hpp"

namespace fp4gptq::nvfp4 {

struct QuantizedMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> codes;         // [rows, cols], E2M1 code, bit 3 = sign
  std::vector<uint8_t> block_scales;  // [rows, cols/16], FP8 E4M3 bytes
  float scale_2 = 0.0f;               // FP32 global scale
  std::vector<float> dequant;         // [rows, cols], e2m1 · fp8(scale) · scale_2 in FP32
};

// Quantizes w with round-to-nearest. scale_2 defaults to global_scale(max|w|, rule.scale2_max); pass it to
// share one global scale across modules (fused q/k/v, gate/up). `name` names the tensor in errors: cols % 16
// != 0 and non-finite values are rejected. rule.search picks each block's scale (scale_search.hpp).
QuantizedMatrix quantize_rtn(const float* w, int64_t rows, int64_t cols, std::optional<float> scale_2 = std::nullopt,
                             const std::string& name = "weight", const ScaleRule& rule = {});

// Quantizes one row segment of `n` (a multiple of 16) values with fixed scale_2: writes codes, scale bytes
// (n/16) and dequantized values. The building block of quantize_rtn, shared with GPTQ's static scales.
void quantize_row_rtn(const float* w, int64_t n, float scale_2, uint8_t* codes, uint8_t* scales, float* dequant,
                      BlockScaleSearch search = BlockScaleSearch::None);

// q.dequant from q's codes, block scales and scale_2: e2m1 · fp8(scale) · scale_2 in FP32, the very products the
// quantizers form (so equal bit for bit to the dequant they return). For sending a quantized matrix without it.
void fill_dequant(QuantizedMatrix& q);

}  // namespace fp4gptq::nvfp4
