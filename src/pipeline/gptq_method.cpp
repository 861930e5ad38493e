#include "pipeline/gptq_method.hpp"

#include <fmt/core.h>

#include <cmath>

#include "fp4gptq/error.hpp"

namespace fp4gptq::pipeline {

ModuleResult GptqMethod::solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                               const std::vector<float>& w, float scale_2, const ModuleInput& in) const {
  if (!in.hessian) throw Error("GPTQ: " + m.module + ": no Hessian (the method needs calibration)");
  const float* h = in.hessian->data();
  gptq::GptqResult r;
  ModuleResult out;
  if (in.rtn_reason.empty()) {
    auto cfg = cfg_;
    cfg.scale_2 = scale_2;
    r = gptq::gptq_quantize(ctx, ws, w.data(), m.out, m.in, h, m.in, cfg, m.module);
    out.flops = static_cast<double>(m.out) * m.in * m.in + 4.0 / 3.0 * std::pow(static_cast<double>(m.in), 3);
  } else {
    r = gptq::rtn_result(ctx, w.data(), m.out, m.in, h, scale_2, m.module, in.rtn_reason);
  }
  out.stats = {{"loss", r.loss},
               {"rel_err", r.rel_err},
               {"rtn_rel_err", r.rtn_rel_err},
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
