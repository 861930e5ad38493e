#include "pipeline/gptq_method.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>

#include "fp4gptq/error.hpp"

namespace fp4gptq::pipeline {

namespace {

// A module's report row, log line and flags from its GPTQ (or fallback) result.
ModuleResult module_result(const model::PlannedLinear& m, gptq::GptqResult r, const ModuleInput& in, double flops) {
  ModuleResult out;
  out.flops = flops;
  out.stats = {{"loss", r.loss},
               {"rel_err", r.rel_err},
               {"rtn_rel_err", r.rtn_rel_err},
               {"error_rows", r.error_rows},
               {"damp", r.damp},
               {"tokens", in.tokens},
               {"fallback", r.fallback},
               {"retries", r.retries},
               {"dead_columns", r.dead_columns},
               {"input_amax", in.input_amax},
               {"scale_2", r.q.scale_2},
               {"time_s", 0.0}};
  if (m.fused())
    out.stats["stored_in"] = fmt::format("{}[{}, {}:{}]", m.tensor, m.expert, m.part * m.out, (m.part + 1) * m.out);
  if (!r.note.empty()) out.stats["note"] = r.note;
  out.fallback = r.fallback;
  out.log = fmt::format("{} rel_err {:.5f} (rtn {:.5f}) loss {:.4g} damp {:.2f} tokens {}{}", m.module, r.rel_err,
                        r.rtn_rel_err, r.loss, r.damp, in.tokens, r.fallback ? " FALLBACK" : "");
  out.warning = r.fallback || r.retries;
  out.note = r.note;
  out.q = std::move(r.q);
  return out;
}

}  // namespace

ModuleResult GptqMethod::solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                               const std::vector<float>& w, float scale_2, const ModuleInput& in) const {
  if (!in.hessian) throw Error("GPTQ: " + m.module + ": no Hessian (the method needs calibration)");
  const float* h = in.hessian->data();
  if (!in.rtn_reason.empty())  // a starved expert: round-to-nearest, with GPTQ's report fields
    return module_result(
        m, gptq::rtn_result(ctx, w.data(), m.out, m.in, h, scale_2, m.module, in.rtn_reason, cfg_.scale_rule.search),
        in, 0);
  auto cfg = cfg_;
  cfg.scale_2 = scale_2;
  const double n = static_cast<double>(m.in);
  return module_result(m, gptq::gptq_quantize(ctx, ws, w.data(), m.out, m.in, h, m.in, cfg, m.module), in,
                       static_cast<double>(m.out) * n * n + 4.0 / 3.0 * n * n * n);
}

std::vector<ModuleResult> GptqMethod::solve_group(const linalg::Context& ctx, gptq::Workspace& ws,
                                                  const std::vector<const model::PlannedLinear*>& mods,
                                                  const std::vector<std::vector<float>>& weights,
                                                  const std::vector<float>& scale_2, const ModuleInput& in,
                                                  std::vector<double>& seconds) const {
  // Nothing to share without a Hessian or when the modules are rounded to nearest: one solve() each.
  if (!in.hessian || !in.rtn_reason.empty()) return Method::solve_group(ctx, ws, mods, weights, scale_2, in, seconds);
  const float* h = in.hessian->data();
  std::vector<ModuleResult> out;
  // The modules of one input share H: one factorisation (4/3·in³ in the FLOP accounting, shared by rows).
  std::vector<gptq::GroupModule> group;
  int64_t rows = 0;
  for (size_t i = 0; i < mods.size(); ++i) {
    auto cfg = cfg_;
    cfg.scale_2 = scale_2[i];
    group.push_back({weights[i].data(), mods[i]->out, cfg, mods[i]->module});
    rows += mods[i]->out;
  }
  const int64_t in_dim = mods.front()->in;
  auto results = gptq::gptq_quantize_group(ctx, ws, group, in_dim, h, &seconds);
  const double n = static_cast<double>(in_dim);
  for (size_t i = 0; i < mods.size(); ++i) {
    const double share = static_cast<double>(mods[i]->out) / static_cast<double>(rows);
    out.push_back(module_result(*mods[i], std::move(results[i]), in,
                                static_cast<double>(mods[i]->out) * n * n + share * 4.0 / 3.0 * n * n * n));
  }
  return out;
}

MethodFields GptqMethod::fields() const {
  MethodFields f;
  f.algorithm = "gptq";
  f.desc_act = cfg_.desc_act;
  f.static_groups = cfg_.desc_act || cfg_.block_scales == gptq::BlockScales::Static;
  f.true_sequential = true_sequential_;
  f.damp_percent = cfg_.damp_percent;
  f.block_scales = f.static_groups ? "static" : "dynamic";
  f.block_size = cfg_.block_size;
  return f;
}

}  // namespace fp4gptq::pipeline
