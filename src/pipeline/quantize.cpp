#include "pipeline/quantize.hpp"

#include "fp4gptq/error.hpp"

#include "pipeline/checkpoint_output.hpp"
#include "pipeline/gptq_method.hpp"
#include "pipeline/layer_loop.hpp"
#include "pipeline/resume_journal.hpp"
#include "pipeline/rtn.hpp"

namespace fp4gptq::pipeline {

namespace {

std::unique_ptr<OutputFormat> output_format(io::CheckpointWriter& out, const io::ModelDir& src,
                                            const model::ModelPlan& plan, const QuantizeOptions& o, bool calibrated) {
  if (o.packed) return make_packed_checkpoint(out, src, plan, *o.packed);
  return std::make_unique<PseudoQuantizedCheckpoint>(out, src, o.dtype, calibrated, o.allow_nonfinite);
}

// A non-root rank's output: the stored rounding, which its next layers must see as the root's do; nothing
// is written.
class RankOutput final : public OutputFormat {
 public:
  explicit RankOutput(DType stored) : stored_(stored) {}
  void as_stored(const model::PlannedLinear& m, std::vector<float>& v) const override {
    round_to_dtype(m.tensor, stored_, v);
  }
  void write_module(const model::PlannedLinear&, const nvfp4::QuantizedMatrix&, float) override {}
  void write_rest(const std::vector<std::string>&) override {}
  void finish(const MethodFields&, const nlohmann::ordered_json&) override {}

 private:
  DType stored_;
};

GptqMethod gptq_method(const QuantizeOptions& o) {
  auto gptq = o.gptq;
  gptq.scale_rule = o.scale_rule;
  return GptqMethod(gptq, o.true_sequential);
}

}  // namespace

io::CheckpointPlan output_plan(const io::ModelDir& src, const model::ModelPlan& plan, const QuantizeOptions& o,
                               uint64_t max_shard_bytes, bool calibrated) {
  if (o.packed) return make_packed_plan(src, plan, *o.packed, max_shard_bytes);
  return make_checkpoint_plan(src, plan, o.dtype, max_shard_bytes, calibrated);
}

QuantizeSummary quantize_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                              const calib::CalibrationSet& calib, const QuantizeOptions& o, const linalg::Context& ctx,
                              const dist::Communicator& comm) {
  const auto method = gptq_method(o);
  const auto format = output_format(out, src, plan, o, /*calibrated=*/true);
  ResumeJournal journal(out, plan, run_fingerprint(src, plan, calib, o, ctx, out.layout_checksum(), comm.size()),
                        o.offload_dir.empty() ? out.staging_path() : o.offload_dir, comm);
  const bool resumable = journal.usable();             // collective
  if (!resumable) out.keep_staging_on_failure(false);  // nothing to resume from
  return LayerLoop(ctx, method, *format, src, plan, o, &calib, resumable ? &journal : nullptr, comm).run();
}

QuantizeSummary quantize_rank(const io::ModelDir& src, const model::ModelPlan& plan, const calib::CalibrationSet& calib,
                              const QuantizeOptions& o, const linalg::Context& ctx, const dist::Communicator& comm) {
  const auto method = gptq_method(o);
  RankOutput format(o.packed ? o.packed->stored_dtype : o.dtype);
  ResumeJournal journal(o.offload_dir, comm);
  const bool resumable = journal.usable();  // collective
  return LayerLoop(ctx, method, format, src, plan, o, &calib, resumable ? &journal : nullptr, comm).run();
}

QuantizeSummary rtn_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                         const QuantizeOptions& o, const linalg::Context& ctx) {
  out.keep_staging_on_failure(false);  // nothing to resume: rtn keeps no journal
  const RtnMethod method(o.scale_rule.search);
  if (o.packed) check_packed_options(o.packed->packing, o.fuse_scales, o.packed->w4a4, /*calibrated=*/false);
  const auto format = output_format(out, src, plan, o, /*calibrated=*/false);
  return LayerLoop(ctx, method, *format, src, plan, o, nullptr).run();
}

}  // namespace fp4gptq::pipeline
