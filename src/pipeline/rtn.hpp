#pragma once
// Round-to-nearest NVFP4 (DESIGN §4) as a Method: the baseline every GPTQ module is compared with, and the
// `rtn` command. Uncalibrated: the layer loop runs it with no forward pass.
#include "pipeline/method.hpp"

namespace fp4gptq::pipeline {

class RtnMethod final : public Method {
 public:
  const char* name() const override { return "rtn"; }
  bool calibrated() const override { return false; }
  ModuleResult solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                     const std::vector<float>& w, float scale_2, const ModuleInput& in) const override;
  std::vector<std::string> summary_means() const override { return {"weight_mse"}; }
  MethodFields fields() const override;
};

}  // namespace fp4gptq::pipeline
