#pragma once
// Options of the GPTQ-NVFP4 solver; each maps 1:1 to a CLI flag of `fp4gptq quantize`.
#include <cstdint>
#include <optional>

#include "gptq/hessian.hpp"

namespace fp4gptq::gptq {

enum class BlockScales {
  Dynamic,  // a block's scale from its current error-updated weights when the loop reaches it (default)
  Static,   // all block scales first, from the weight after dead columns are zeroed
};

struct GptqConfig {
  int64_t block_size = 128;     // --block-size: lazy-batch width (a multiple of 16)
  double damp_percent = 0.01;   // --damp: λ = damp · mean(diag H)
  BlockScales block_scales = BlockScales::Dynamic;  // --block-scales
  bool desc_act = false;        // --desc-act: columns by descending diag(H); static block scales
  std::optional<float> scale_2;  // fused global scale supplied from outside (q/k/v, gate/up); else from W
  HessianDType hessian_dtype = HessianDType::F32;  // --hessian-dtype (used by the accumulator)
  bool output_errors = true;    // compute rel_err and rtn_rel_err (two extra out·in² products)
  double damp_step = 0.01;      // added to damp after a failed Cholesky
  double damp_max = 1.0;        // after that, RTN fallback
};

}  // namespace fp4gptq::gptq
