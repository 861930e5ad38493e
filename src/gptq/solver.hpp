#pragma once
// GPTQ (Frantar et al. 2022, AutoGPTQ's fasterquant) with the NVFP4 quantizer, exactly as DESIGN §5: dead
// columns, damping with automatic retry and RTN fallback, Hinv = upper Cholesky factor of H⁻¹, lazy column
// blocks with the trailing update as one GEMM, dynamic or static block scales, act-order (desc_act).
#include <cstdint>
#include <string>
#include <vector>

#include "gptq/gptq_config.hpp"
#include "nvfp4/quantizer.hpp"

namespace fp4gptq::gptq {

struct GptqResult {
  nvfp4::QuantizedMatrix q;    // codes, FP8 block scales, scale_2 and dequantized W, original column order
  std::vector<int32_t> g_idx;  // i / 16 for every input column (also with desc_act)
  double loss = 0;             // AutoGPTQ's Σ (w − q)² / d² / 2
  double rel_err = 0;          // tr(ΔW H ΔWᵀ) / tr(W H Wᵀ)
  double rtn_rel_err = 0;      // the same for round-to-nearest on the same H and scale_2
  double damp = 0;             // damp_percent that succeeded (0 on fallback)
  int retries = 0;             // failed Cholesky attempts
  bool fallback = false;       // RTN was used instead of GPTQ
  int64_t dead_columns = 0;    // columns with H_ii = 0
  std::string note;            // what happened (retries, fallback), empty when nothing did
};

// Quantizes w [rows, cols] with the Hessian h [h_dim, h_dim] (full symmetric, FP32). `name` names the module
// in errors: h_dim != cols, cols % 16 != 0, non-finite values in w or h, and invalid options are rejected.
GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const float* h, int64_t h_dim,
                         const GptqConfig& config, const std::string& name);

// tr(A H Aᵀ) for A [rows, cols] and H [cols, cols] by a GEMM (the reference definition; used by tests and
// for the fallback path).
double quadratic_form_trace(const float* a, int64_t rows, int64_t cols, const float* h);

}  // namespace fp4gptq::gptq
