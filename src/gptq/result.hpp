#pragma once
// What quantizing one module with GPTQ (or its round-to-nearest fallback) gives.
#include <cstdint>
#include <string>

#include "nvfp4/quantizer.hpp"

namespace fp4gptq::gptq {

struct GptqResult {
  nvfp4::QuantizedMatrix q;  // codes, FP8 block scales, scale_2 and dequantized W, original column order
  double loss = 0;           // AutoGPTQ's Σ (w − q)² / d² / 2
  double rel_err = 0;        // tr(ΔW H ΔWᵀ) / tr(W H Wᵀ)
  double rtn_rel_err = 0;    // the same for round-to-nearest on the same H and scale_2
  int64_t error_rows = 0;    // rows behind tr(W H Wᵀ) and RTN's form (all rows: both exact; fewer: estimates)
  double damp = 0;           // damp_percent that succeeded (0 on fallback)
  int retries = 0;           // failed Cholesky attempts
  bool fallback = false;     // RTN was used instead of GPTQ
  int64_t dead_columns = 0;  // columns with H_ii = 0
  std::string note;          // what happened (retries, fallback), empty when nothing did
};

}  // namespace fp4gptq::gptq
