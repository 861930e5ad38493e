#pragma once
// Round-to-nearest NVFP4 (docs/DESIGN.md §4) as a Method: the baseline every GPTQ module is compared with, and the
// `rtn` command. Uncalibrated: the layer loop runs it with no forward pass.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/method.hpp"
#include "pipeline/quantize.hpp"

namespace fp4gptq::pipeline {

class RtnMethod final : public Method {
 public:
  explicit RtnMethod(nvfp4::BlockScaleSearch search = nvfp4::BlockScaleSearch::None)
      : Method("rtn", false, {"weight_mse"}), search_(search) {}
  ModuleResult solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                     const std::vector<float>& w, float scale_2, const ModuleInput& in) const override;
  // No act-order, static block scales, no damping, not sequential, no lazy batches.
  MethodFields fields() const override {
    MethodFields f;
    f.algorithm = "rtn";
    return f;
  }

 private:
  nvfp4::BlockScaleSearch search_;
};

// A whole rtn run from a model directory to a committed output directory (rtn_into with the plan, the
// checkpoint writer and the commit around it).
struct RtnOptions {
  std::filesystem::path model_dir, out_dir;
  numeric::DType dtype = numeric::DType::F16;
  uint64_t max_shard_bytes = 0;  // 0: one main file
  bool overwrite = false;
  bool fuse_scales = true;  // q/k/v and gate/up share scale_2 (docs/DESIGN.md §4)
  bool quiet = false;
  bool allow_nonfinite = false;  // keep NaN/Inf of copied tensors (warned)
  std::vector<std::string> exclude;
  nvfp4::ScaleRule scale_rule;
};
QuantizeSummary run_rtn(const RtnOptions& options);

}  // namespace fp4gptq::pipeline
