// The public API (include/fp4gptq/fp4gptq.hpp) over the pipeline.
#include "fp4gptq/fp4gptq.hpp"

#include "calib/calibration.hpp"
#include "io/checkpoint_writer.hpp"
#include "linalg/blas.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/quantize.hpp"

namespace fp4gptq {

namespace {

pipeline::QuantizeOptions options_of(const QuantizeConfig& c) {
  if (c.method != Method::NVFP4 || c.bits != 4 || c.group_size != 16)
    throw Error("QuantizeConfig: only NVFP4 (bits 4, group_size 16) is supported, got bits " + std::to_string(c.bits) +
                ", group_size " + std::to_string(c.group_size));
  pipeline::QuantizeOptions o;
  o.gptq.block_size = c.block_size;
  o.gptq.damp_percent = c.damp_percent;
  o.gptq.desc_act = c.desc_act;
  o.gptq.block_scales = c.static_groups ? gptq::BlockScales::Static : gptq::BlockScales::Dynamic;
  if (c.hessian_dtype == "f32" || c.hessian_dtype == "float32")
    o.gptq.hessian_dtype = gptq::HessianDType::F32;
  else if (c.hessian_dtype == "f64" || c.hessian_dtype == "float64")
    o.gptq.hessian_dtype = gptq::HessianDType::F64;
  else
    throw Error("--hessian-dtype: '" + c.hessian_dtype + "' (f32 or f64 expected)");
  if (c.act_dtype == "bfloat16" || c.act_dtype == "bf16")
    o.act_dtype = numeric::DType::BF16;
  else if (c.act_dtype == "float32" || c.act_dtype == "f32")
    o.act_dtype = numeric::DType::F32;
  else
    throw Error("--act-dtype: '" + c.act_dtype + "' (bfloat16 or float32 expected)");
  if (c.compute == "bf16" || c.compute == "bfloat16")
    o.compute = model::Compute::BF16;
  else if (c.compute == "f32" || c.compute == "float32")
    o.compute = model::Compute::F32;
  else
    throw Error("--compute: '" + c.compute + "' (bf16 or f32 expected)");
  o.dtype = pipeline::parse_output_dtype(c.dtype);
  o.true_sequential = c.true_sequential;
  o.fuse_scales = c.fuse_scales;
  o.quiet = c.quiet;
  o.moe_min_tokens = c.moe_min_tokens;
  o.max_act_bytes = c.max_act_memory.empty() ? 0 : io::parse_size(c.max_act_memory, "--max-act-memory");
  o.offload_dir = c.offload_dir;
  o.moe_calibrate_all = c.moe_calibrate_all;
  return o;
}

}  // namespace

struct CausalLM::Impl {
  QuantizeConfig config;
  pipeline::QuantizeOptions options;
  io::ModelDir src;
  model::ModelPlan plan;
  std::unique_ptr<io::CheckpointWriter> out;
  Impl(const std::filesystem::path& dir, QuantizeConfig c)
      : config(std::move(c)), options(options_of(config)), src(dir),
        plan(model::plan_model(src, model::ModuleFilter(config.exclude))) {}
};

std::vector<Example> load_examples(const std::filesystem::path& jsonl, int64_t vocab_size, int64_t nsamples,
                                   int64_t seqlen, std::optional<uint64_t> seed) {
  return calib::load_calibration(jsonl, vocab_size, {nsamples, seqlen, seed}).samples;
}

CausalLM::CausalLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CausalLM::CausalLM(CausalLM&&) noexcept = default;
CausalLM& CausalLM::operator=(CausalLM&&) noexcept = default;
CausalLM::~CausalLM() = default;

CausalLM CausalLM::from_pretrained(const std::filesystem::path& model_dir, QuantizeConfig config) {
  return CausalLM(std::make_unique<Impl>(model_dir, std::move(config)));
}

int64_t CausalLM::vocab_size() const { return impl_->plan.config.vocab_size; }

QuantizeReport CausalLM::quantize(const std::vector<Example>& examples) {
  auto& m = *impl_;
  if (examples.empty()) throw Error("quantize: no calibration examples");
  calib::CalibrationSet set;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].empty()) throw Error("quantize: calibration example " + std::to_string(i) + " is empty");
    for (const int32_t id : examples[i])
      if (id < 0 || id >= vocab_size())
        throw Error("quantize: calibration example " + std::to_string(i) + " has token id " + std::to_string(id) +
                    " outside the vocabulary [0, " + std::to_string(vocab_size()) + ")");
    set.samples.push_back(examples[i]);
    set.lines.push_back(static_cast<int64_t>(i) + 1);
  }
  linalg::set_num_threads(m.config.threads);
  const uint64_t shard = m.config.max_shard_size.empty() ? 0 : io::parse_size(m.config.max_shard_size);
  m.out = std::make_unique<io::CheckpointWriter>(
      io::StagedDir::scratch(m.config.work_dir),
      pipeline::make_checkpoint_plan(m.src, m.plan, m.options.dtype, shard, /*with_input_amax=*/true));
  const auto s = pipeline::quantize_into(*m.out, m.src, m.plan, set, m.options);
  return {s.modules, s.fallbacks, s.skipped, s.samples, s.tokens, s.mean_rel_err, s.mean_rtn_rel_err, s.seconds, s.peak_rss};
}

void CausalLM::save_quantized(const std::filesystem::path& out_dir, bool overwrite) {
  if (!impl_->out) throw Error("save_quantized: call quantize() first");
  impl_->out->commit_to(out_dir, overwrite);
  impl_->out.reset();
}

}  // namespace fp4gptq
