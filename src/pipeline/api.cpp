// The public API (include/fp4gptq/fp4gptq.hpp) over the pipeline.
#include "fp4gptq/fp4gptq.hpp"

#include <nlohmann/json.hpp>
#include <cstdlib>
#include <optional>

#include "calib/calibration.hpp"
#include "calib/text_calibration.hpp"
#include "dist/communicator.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/mapped_file.hpp"
#include "model/config.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/eval_divergence.hpp"
#include "pipeline/eval_ppl.hpp"
#include "pipeline/export.hpp"
#include "pipeline/quantize.hpp"
#include "pipeline/resume_journal.hpp"

namespace fp4gptq {

namespace {

std::string name_of(DType t) {  // the long spelling ("bfloat16", not "bf16")
  std::string best = "?";
  for (const auto& [name, v] : dtype_names())
    if (v == t && (best == "?" || name.size() > best.size())) best = name;
  return best;
}

// The internal dtype of a public one, which must be one of `allowed`; `field` names the config field.
numeric::DType internal(DType t, std::initializer_list<DType> allowed, const char* field) {
  if (std::find(allowed.begin(), allowed.end(), t) == allowed.end()) {
    std::string ok;
    for (const auto a : allowed) ok += (ok.empty() ? "" : " or ") + name_of(a);
    throw Error(std::string("QuantizeConfig.") + field + ": " + name_of(t) + " is not allowed (" + ok + " expected)");
  }
  switch (t) {
    case DType::Float16:
      return numeric::DType::F16;
    case DType::BFloat16:
      return numeric::DType::BF16;
    case DType::Float32:
      return numeric::DType::F32;
    case DType::Float64:
      return numeric::DType::F64;
  }
  return numeric::DType::F32;
}

model::Compute internal(Compute c) { return c == Compute::F32 ? model::Compute::F32 : model::Compute::BF16; }

pipeline::QuantizeOptions options_of(const QuantizeConfig& c) {
  if (c.method != Method::NVFP4 || c.bits != 4 || c.group_size != 16)
    throw Error("QuantizeConfig: only NVFP4 (bits 4, group_size 16) is supported, got bits " + std::to_string(c.bits) +
                ", group_size " + std::to_string(c.group_size));
  pipeline::QuantizeOptions o;
  o.gptq.block_size = c.block_size;
  o.gptq.damp_percent = c.damp_percent;
  o.gptq.desc_act = c.desc_act;
  o.gptq.block_scales = c.static_groups ? gptq::BlockScales::Static : gptq::BlockScales::Dynamic;
  o.gptq.hessian_dtype =
      internal(c.hessian_dtype, {DType::Float32, DType::Float64}, "hessian_dtype") == numeric::DType::F64
          ? gptq::HessianDType::F64
          : gptq::HessianDType::F32;
  o.act_dtype = internal(c.act_dtype, {DType::BFloat16, DType::Float32}, "act_dtype");
  o.compute = internal(c.compute);
  o.dtype = internal(c.dtype, {DType::Float16, DType::BFloat16}, "dtype");
  o.true_sequential = c.true_sequential;
  o.fuse_scales = c.fuse_scales;
  if (!(c.scale2_max >= 1 && c.scale2_max <= 448))
    throw Error("QuantizeConfig.scale2_max: must be in [1, 448] (448: the amax rule), got " +
                std::to_string(c.scale2_max));
  o.scale_rule.scale2_max = static_cast<float>(c.scale2_max);
  o.scale_rule.search =
      c.block_scale_search == BlockScaleSearch::Mse ? nvfp4::BlockScaleSearch::Mse : nvfp4::BlockScaleSearch::None;
  o.quiet = c.quiet;
  o.allow_nonfinite = c.allow_nonfinite;
  if (c.checkpoint_every < 0)
    throw Error("QuantizeConfig.checkpoint_every: must be >= 0, got " + std::to_string(c.checkpoint_every));
  o.checkpoint_every = c.checkpoint_every;
  o.moe_min_tokens = c.moe_min_tokens;
  o.shard_tokens = c.shard_tokens;
  o.max_act_bytes = c.max_act_bytes;
  o.offload_dir = c.offload_dir;
  o.moe_calibrate_all = c.moe_calibrate_all;
  if (c.format != Format::Pseudo) {
    pipeline::PackedOptions p;
    p.packing = c.format == Format::ModelOpt ? pipeline::Packing::ModelOpt : pipeline::Packing::CompressedTensors;
    p.w4a4 = c.activations == Activations::NVFP4;
    p.stored_dtype = o.dtype;
    if (!c.keep_input_dtype) p.rest_dtype = o.dtype;
    p.allow_nonfinite = c.allow_nonfinite;
    pipeline::check_packed_options(p.packing, c.fuse_scales, p.w4a4, c.algorithm == Algorithm::GPTQ);
    o.packed = p;
  } else if (c.activations != Activations::None) {
    throw Error("QuantizeConfig.activations: nvfp4 input scales are written by the packed formats only "
                "(compressed-tensors, modelopt); the pseudo checkpoint keeps input_amax in its scales file");
  }
  if (c.block_size <= 0 || c.block_size % 16 != 0)
    throw Error("QuantizeConfig.block_size: must be a positive multiple of 16, got " + std::to_string(c.block_size));
  if (!(c.damp_percent >= 0 && c.damp_percent <= o.gptq.damp_max))
    throw Error("QuantizeConfig.damp_percent: must be in [0, 1], got " + std::to_string(c.damp_percent));
  if (c.threads < 0) throw Error("QuantizeConfig.threads: must be >= 0 (0: all cores), got " + std::to_string(c.threads));
  if (c.shard_tokens < 1)
    throw Error("QuantizeConfig.shard_tokens: must be >= 1, got " + std::to_string(c.shard_tokens));
  if (c.moe_min_tokens < -1)
    throw Error("QuantizeConfig.moe_min_tokens: must be >= 0, or -1 for the default, got " +
                std::to_string(c.moe_min_tokens));
  const auto& base = c.model_file_base_name;
  if (base.empty() || base.size() > 200 || base.find_first_of(std::string("/\0", 2)) != std::string::npos ||
      base.front() == '.')
    throw Error("QuantizeConfig.model_file_base_name: \"" + base +
                "\" must be a plain file name (no '/', not starting with '.', at most 200 characters)");
  return o;
}

calib::CalibrationSet calibration_of(const std::vector<Example>& examples, int64_t vocab) {
  if (examples.empty()) throw Error("quantize: no calibration examples");
  calib::CalibrationSet set;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].empty()) throw Error("quantize: calibration example " + std::to_string(i) + " is empty");
    for (const int32_t id : examples[i])
      if (id < 0 || id >= vocab)
        throw Error("quantize: calibration example " + std::to_string(i) + " has token id " + std::to_string(id) +
                    " outside the vocabulary [0, " + std::to_string(vocab) + ")");
    set.samples.push_back(examples[i]);
    set.lines.push_back(static_cast<int64_t>(i) + 1);
  }
  return set;
}

QuantizeReport report_of(const pipeline::QuantizeSummary& s) {
  return {s.modules,      s.fallbacks,        s.skipped,         s.samples, s.tokens,          s.mean_rel_err,
          s.mean_rtn_rel_err, s.mean_weight_mse, s.seconds, s.peak_rss, s.report.dump(2)};
}

}  // namespace

struct CausalLM::Impl {
  QuantizeConfig config;
  pipeline::QuantizeOptions options;
  linalg::Context ctx;
  io::ModelDir src;
  model::ModelPlan plan;
  std::unique_ptr<io::CheckpointWriter> out;
  bool rank_done = false;  // quantize() ran as a non-root MPI rank: nothing to save here
  Impl(const std::filesystem::path& dir, QuantizeConfig c)
      : config(std::move(c)),
        options(options_of(config)),
        ctx(config.threads),
        src(dir),
        plan(model::plan_model(src, model::ModuleFilter(config.exclude))) {
    for (const auto* m : plan.quantized())
      if (m->packed)
        throw Error(dir.string() + ": " + m->module + " is stored packed (" + pipeline::packing_name(*m->packed) +
                    "): this checkpoint is already NVFP4; quantize the original model");
    if (options.packed) pipeline::check_packable(plan, options.fuse_scales, options.packed->packing);
    ctx.set_cancel_hook(config.cancelled);
  }
};

std::vector<Example> load_examples(const std::filesystem::path& jsonl, int64_t vocab_size, int64_t nsamples,
                                   int64_t seqlen, std::optional<uint64_t> seed) {
  return calib::load_calibration(jsonl, vocab_size, {nsamples, seqlen, seed}).samples;
}

uint64_t parse_size(const std::string& text, const std::string& what) { return io::parse_size(text, what); }

void check_config(const QuantizeConfig& config) { options_of(config); }

ProcessRank process_rank() { return {dist::world().rank(), dist::world().size()}; }
void abort_job(int status) {
  dist::world().abort(status);
  std::_Exit(status);  // (abort does not return)
}

void check_output_dir(const std::filesystem::path& out_dir, bool overwrite,
                      const std::vector<std::filesystem::path>& inputs) {
  io::check_output_dir(out_dir, overwrite, inputs);
}

std::filesystem::path staging_dir_for(const std::filesystem::path& out_dir) { return io::staging_path_for(out_dir); }

CausalLM::CausalLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CausalLM::CausalLM(CausalLM&&) noexcept = default;
CausalLM& CausalLM::operator=(CausalLM&&) noexcept = default;
CausalLM::~CausalLM() = default;

CausalLM CausalLM::from_pretrained(const std::filesystem::path& model_dir, QuantizeConfig config) {
  return CausalLM(std::make_unique<Impl>(model_dir, std::move(config)));
}

int64_t CausalLM::vocab_size() const { return impl_->plan.config.vocab_size; }

QuantizeReport CausalLM::quantize(const std::vector<Example>& examples, const CalibrationSummary* calibration) {
  auto& m = *impl_;
  const bool gptq = m.config.algorithm == Algorithm::GPTQ;
  auto set = gptq ? calibration_of(examples, vocab_size()) : calib::CalibrationSet{};
  if (const auto* s = calibration ? calibration : m.config.calibration_summary ? &*m.config.calibration_summary : nullptr) {
    set.provenance = {{"file", s->file}, {"format", s->format}, {"documents", s->documents}};
    if (!s->mode.empty()) set.provenance["mode"] = s->mode;
    set.provenance["too_short"] = s->too_short;
  }
  m.out.reset();  // a second quantize() starts over
  m.rank_done = false;
  const auto& comm = dist::world();
  if (comm.size() > 1) {  // data-parallel (docs/DESIGN.md §13)
    if (!gptq) throw Error("quantize: round-to-nearest needs no calibration and runs on one process, not " +
                           std::to_string(comm.size()) + " MPI ranks");
    if (!comm.is_root()) {  // the root writes; this rank does its shards' work
      const auto s = pipeline::quantize_rank(m.src, m.plan, set, m.options, m.ctx, comm);
      m.rank_done = true;
      return report_of(s);
    }
  }
  auto staging = m.config.staging_dir.empty() ? io::StagedDir::scratch(m.config.work_dir)
                                              : io::StagedDir::at(m.config.staging_dir, m.config.resume);
  auto plan = pipeline::output_plan(m.src, m.plan, m.options, m.config.max_shard_bytes, /*calibrated=*/gptq);
  if (!m.options.packed || m.config.model_file_base_name != io::kModelFileBase)
    plan.file_base = m.config.model_file_base_name;  // packed: model.safetensors unless named
  if (gptq && staging.resumed())  // before any file is opened, so a refused resume changes nothing
    pipeline::check_resume_fingerprint(
        staging.path(),
        pipeline::run_fingerprint(m.src, m.plan, set, m.options, m.ctx, io::layout_checksum(plan), comm.size()));
  m.out = std::make_unique<io::CheckpointWriter>(std::move(staging), plan);
  pipeline::QuantizeSummary s;
  try {
    s = gptq ? pipeline::quantize_into(*m.out, m.src, m.plan, set, m.options, m.ctx, comm)
             : pipeline::rtn_into(*m.out, m.src, m.plan, m.options, m.ctx);
  } catch (...) {
    m.out.reset();  // a failed or cancelled run leaves nothing to save (its staging goes, unless kept to resume)
    throw;
  }
  return report_of(s);
}

void CausalLM::save_quantized(const std::filesystem::path& out_dir, bool overwrite) {
  if (impl_->rank_done) return;  // a non-root MPI rank: the root saves
  if (!impl_->out) throw Error("save_quantized: call quantize() first");
  impl_->out->commit_to(out_dir, overwrite, {impl_->src.dir()});
  impl_->out.reset();
}

ExportReport export_checkpoint(const std::filesystem::path& from, const std::filesystem::path& out_dir,
                               const ExportConfig& c) {
  if (c.format == Format::Pseudo)
    throw Error("ExportConfig.format: pseudo is what is exported from; compressed-tensors or modelopt expected");
  pipeline::ExportOptions o;
  o.from = from;
  o.out_dir = out_dir;
  o.model_dir = c.model_dir;
  o.packed.packing = c.format == Format::ModelOpt ? pipeline::Packing::ModelOpt : pipeline::Packing::CompressedTensors;
  o.packed.w4a4 = c.activations == Activations::NVFP4;
  if (c.dtype) o.packed.rest_dtype = internal(*c.dtype, {DType::Float16, DType::BFloat16}, "dtype");
  o.max_shard_bytes = c.max_shard_bytes;
  o.overwrite = c.overwrite;
  o.quiet = c.quiet;
  o.cancelled = c.cancelled;
  const auto s = pipeline::export_packed(o);
  return {s.modules, s.input_bytes, s.output_bytes, s.seconds};
}

namespace {

// The token stream of an evaluation data file: token-id JSONL as is, text encoded with `c.tokenizer` or, when
// that is empty, `model_dir`'s tokenizer.
std::vector<int32_t> eval_stream(const std::filesystem::path& data, const std::filesystem::path& model_dir,
                                 int64_t vocab_size, const EvalConfig& c) {
  std::vector<int32_t> stream;
  if (calib::detect_kind(data, c.text_field) == calib::FileKind::TokenIds) {
    for (const auto& s : calib::read_token_jsonl(data, vocab_size).samples)
      stream.insert(stream.end(), s.begin(), s.end());
  } else {
    const auto tok = Tokenizer::from_pretrained(c.tokenizer.empty() ? model_dir : c.tokenizer, c.bos);
    stream = calib::text_stream(data, tok.impl(), vocab_size, c.text_field);
  }
  return stream;
}

int64_t config_vocab(const io::ModelDir& dir) {
  return model::ModelConfig::parse(dir.config(), dir.config_path().string()).vocab_size;
}

// Two model directories with tokenizer.json files that differ do not encode text alike: refused.
void check_same_tokenizer(const std::filesystem::path& a, const std::filesystem::path& b) {
  const auto ta = a / "tokenizer.json", tb = b / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(ta, ec) || !std::filesystem::is_regular_file(tb, ec)) return;
  const io::MappedFile fa(ta), fb(tb);
  if (fa.size() != fb.size() || !std::equal(fa.data(), fa.data() + fa.size(), fb.data()))
    throw Error("eval: " + ta.string() + " and " + tb.string() +
                " differ: the model and the base must share a tokenizer");
}

Perplexity public_ppl(const pipeline::Perplexity& p) { return {p.ppl, p.mean_nll, p.windows, p.scored_tokens}; }

}  // namespace

Perplexity evaluate_perplexity(const std::filesystem::path& model_dir, const std::filesystem::path& data,
                               const EvalConfig& c) {
  linalg::Context ctx(c.threads);
  ctx.set_cancel_hook(c.cancelled);
  const io::ModelDir dir(model_dir);
  const auto stream = eval_stream(data, model_dir, config_vocab(dir), c);
  const bool f32 = c.compute == Compute::F32;
  return public_ppl(pipeline::eval_perplexity(ctx, dir, stream, c.seqlen, internal(c.compute),
                                              f32 ? numeric::DType::F32 : numeric::DType::BF16, c.quiet));
}

std::string to_json(const Comparison& r, int indent) {
  nlohmann::ordered_json j;
  j["windows"] = r.base.windows;
  j["seqlen"] = r.seqlen;
  j["tokens"] = r.tokens;
  j["ppl_base"] = r.base.ppl;
  if (r.model.windows > 0) {
    j["ppl_model"] = r.model.ppl;
    j["ppl_ratio"] = r.ppl_ratio;
    j["kld"] = {{"mean", r.kld_mean},
                {"ci95", r.kld_ci95},
                {"median", r.kld_median},
                {"p99", r.kld_p99},
                {"max", r.kld_max}};
    j["top1_agreement"] = r.top1;
    j["top1_agreement_ci95"] = r.top1_ci95;
  }
  return j.dump(indent);
}

Comparison compare_models(const std::filesystem::path& model_dir, const std::filesystem::path& base_dir,
                          const std::filesystem::path& data, const CompareConfig& c) {
  linalg::Context ctx(c.eval.threads);
  ctx.set_cancel_hook(c.eval.cancelled);
  if (model_dir.empty() && c.save_base_logits.empty())
    throw Error("eval: nothing to do: give a model to compare, or a file to save the base's logits in");
  if (base_dir.empty() && c.base_logits.empty())
    throw Error("eval: no base: give the original model directory or a base-logits file");
  if (!base_dir.empty() && !c.base_logits.empty())
    throw Error("eval: both a base model and a base-logits file were given; one is expected");
  if (base_dir.empty() && !c.save_base_logits.empty())
    throw Error("eval: saving base logits needs the base model directory, not a base-logits file");
  std::optional<io::ModelDir> model, base;
  if (!model_dir.empty()) model.emplace(model_dir);
  if (!base_dir.empty()) base.emplace(base_dir);
  if (model && base) check_same_tokenizer(model_dir, base_dir);
  pipeline::DivergenceInputs in;
  in.model = model ? &*model : nullptr;
  in.base = base ? &*base : nullptr;
  in.base_logits = c.base_logits;
  in.save_base_logits = c.save_base_logits;
  in.overwrite = c.overwrite;
  in.seqlen = c.eval.seqlen == 0 && c.base_logits.empty() ? 2048 : c.eval.seqlen;
  in.compute = internal(c.eval.compute);
  in.act_dtype = c.eval.compute == Compute::F32 ? numeric::DType::F32 : numeric::DType::BF16;
  in.quiet = c.eval.quiet;
  if (!data.empty()) {
    in.stream = eval_stream(data, model ? model_dir : base_dir, config_vocab(model ? *model : *base), c.eval);
  } else if (c.base_logits.empty()) {
    throw Error("eval: no data: give the evaluation data (or a base-logits file, which holds its tokens)");
  }
  const auto d = pipeline::eval_divergence(ctx, in);
  Comparison r;
  r.base = public_ppl(d.base);
  r.model = public_ppl(d.model);
  r.ppl_ratio = d.ppl_ratio;
  r.seqlen = d.seqlen;
  r.tokens = d.tokens;
  r.kld_mean = d.kld_mean;
  r.kld_ci95 = d.kld_ci95;
  r.kld_median = d.kld_median;
  r.kld_p99 = d.kld_p99;
  r.kld_max = d.kld_max;
  r.top1 = d.top1;
  r.top1_ci95 = d.top1_ci95;
  return r;
}

}  // namespace fp4gptq
