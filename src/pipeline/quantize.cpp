#include "pipeline/quantize.hpp"

#include "pipeline/checkpoint_output.hpp"
#include "pipeline/gptq_method.hpp"
#include "pipeline/layer_loop.hpp"
#include "pipeline/resume_journal.hpp"
#include "pipeline/rtn.hpp"

namespace fp4gptq::pipeline {

QuantizeSummary quantize_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                              const calib::CalibrationSet& calib, const QuantizeOptions& o,
                              const linalg::Context& ctx) {
  const GptqMethod method(o.gptq, o.true_sequential);
  PseudoQuantizedCheckpoint format(out, src, o.dtype, /*with_input_amax=*/true, o.allow_nonfinite);
  ResumeJournal journal(out, plan, run_fingerprint(src, plan, calib, o, ctx, out.layout_checksum()),
                        o.offload_dir.empty() ? out.staging_path() : o.offload_dir);
  return LayerLoop(ctx, method, format, src, plan, o, &calib, &journal).run();
}

QuantizeSummary rtn_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                         const QuantizeOptions& o, const linalg::Context& ctx) {
  out.keep_staging_on_failure(false);  // nothing to resume: rtn keeps no journal
  const RtnMethod method;
  PseudoQuantizedCheckpoint format(out, src, o.dtype, /*with_input_amax=*/false, o.allow_nonfinite);
  return LayerLoop(ctx, method, format, src, plan, o, nullptr).run();
}

}  // namespace fp4gptq::pipeline
