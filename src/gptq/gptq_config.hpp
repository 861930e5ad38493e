#pragma once
// Options of the GPTQ-NVFP4 solver (docs/DESIGN.md §5).
#include <cstdint>
#include <optional>

#include "gptq/hessian.hpp"
#include "nvfp4/scale_search.hpp"

namespace fp4gptq::gptq {

enum class BlockScales {
  Dynamic,  // a block's scale from its current error-updated weights when the loop reaches it (default)
  Static,   // all block scales first, from the weight after dead columns are zeroed
};

struct GptqConfig {
  int64_t block_size = 128;    // lazy-batch width (a multiple of 16)
  double damp_percent = 0.01;  // λ = damp_percent · mean(diag H)
  BlockScales block_scales = BlockScales::Dynamic;
  bool desc_act = false;         // act-order: columns by descending diag(H), with static block scales
  std::optional<float> scale_2;  // global scale supplied from outside (fused q/k/v, gate/up); else from W
  // Block-scale search (dynamic scales: by the in-block GPTQ loss; static: by squared error) and scale_2's K.
  nvfp4::ScaleRule scale_rule;
  HessianDType hessian_dtype = HessianDType::F32;  // accumulation precision (used by the accumulator)
  bool output_errors = true;                       // compute rel_err and rtn_rel_err (output_error.hpp)
  // Rows whose forms estimate tr(W H Wᵀ) and RTN's (docs/DESIGN.md §5); 0 or ≥ out: every row, exact.
  int64_t output_error_rows = 256;
  double damp_step = 0.01;  // added to damp_percent after a failed Cholesky
  double damp_max = 1.0;    // beyond it, round-to-nearest instead
};

}  // namespace fp4gptq::gptq
