#pragma once
// GPTQ (docs/DESIGN.md §5) as a Method: each module solved with its input's Hessian by gptq::gptq_quantize, or
// rounded to nearest when the loop says why (a starved MoE expert).
#include "gptq/gptq_config.hpp"
#include "pipeline/method.hpp"

namespace fp4gptq::pipeline {

class GptqMethod final : public Method {
 public:
  GptqMethod(const gptq::GptqConfig& config, bool true_sequential)
      : Method("gptq", true, {"rel_err", "rtn_rel_err"}), cfg_(config), true_sequential_(true_sequential) {}
  ModuleResult solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                     const std::vector<float>& w, float scale_2, const ModuleInput& in) const override;
  // One factorisation of the shared Hessian for all of them (gptq::gptq_quantize_group).
  std::vector<ModuleResult> solve_group(const linalg::Context& ctx, gptq::Workspace& ws,
                                        const std::vector<const model::PlannedLinear*>& mods,
                                        const std::vector<std::vector<float>>& weights,
                                        const std::vector<float>& scale_2, const ModuleInput& in,
                                        std::vector<double>& seconds) const override;
  MethodFields fields() const override;

 private:
  gptq::GptqConfig cfg_;
  bool true_sequential_;
};

}  // namespace fp4gptq::pipeline
