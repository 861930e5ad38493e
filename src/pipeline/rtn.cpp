#include "pipeline/rtn.hpp"

#include <cmath>

#include "pipeline/checkpoint_output.hpp"

namespace fp4gptq::pipeline {

ModuleResult RtnMethod::solve(const linalg::Context&, gptq::Workspace&, const model::PlannedLinear& m,
                              const std::vector<float>& w, float scale_2, const ModuleInput&) const {
  ModuleResult r;
  r.q = nvfp4::quantize_rtn(w.data(), m.out, m.in, scale_2, m.module, {search_, nvfp4::ScaleRule{}.scale2_max});
  double se = 0, max_err = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = static_cast<double>(w[i]) - r.q.dequant[i];
    se += d * d;
    max_err = std::max(max_err, std::abs(d));
  }
  r.stats = {{"weight_mse", se / static_cast<double>(w.size())},
             {"max_abs_err", max_err},
             {"scale_2", r.q.scale_2},
             {"time_s", 0.0}};
  return r;
}

QuantizeSummary run_rtn(const RtnOptions& r) {
  const io::ModelDir src(r.model_dir);
  const auto plan = model::plan_model(src, model::ModuleFilter(r.exclude));
  QuantizeOptions o;
  o.dtype = r.dtype;
  o.fuse_scales = r.fuse_scales;
  o.quiet = r.quiet;
  o.allow_nonfinite = r.allow_nonfinite;
  o.scale_rule = r.scale_rule;
  io::CheckpointWriter out(r.out_dir, r.overwrite, make_checkpoint_plan(src, plan, r.dtype, r.max_shard_bytes, false));
  const auto s = rtn_into(out, src, plan, o);
  out.commit();
  return s;
}

}  // namespace fp4gptq::pipeline
