#include "pipeline/method.hpp"

#include <chrono>

namespace fp4gptq::pipeline {

std::vector<ModuleResult> Method::solve_group(const linalg::Context& ctx, gptq::Workspace& ws,
                                              const std::vector<const model::PlannedLinear*>& mods,
                                              const std::vector<std::vector<float>>& weights,
                                              const std::vector<float>& scale_2, const ModuleInput& in,
                                              std::vector<double>& seconds) const {
  std::vector<ModuleResult> out;
  for (size_t i = 0; i < mods.size(); ++i) {
    ctx.check_cancelled();
    const auto t = std::chrono::steady_clock::now();
    out.push_back(solve(ctx, ws, *mods[i], weights[i], scale_2[i], in));
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return out;
}

}  // namespace fp4gptq::pipeline
