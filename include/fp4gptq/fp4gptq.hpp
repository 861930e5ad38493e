#pragma once
// fp4gptq's C++ API, shaped like AutoGPTQ's:
//
//   fp4gptq::QuantizeConfig cfg;                        // bits 4, group_size 16, NVFP4, GPTQ
//   auto model = fp4gptq::CausalLM::from_pretrained("Qwen3-8B", cfg);
//   model.quantize(fp4gptq::load_examples("calib.jsonl", model.vocab_size(), 128, 2048));
//   model.save_quantized("Qwen3-8B-nvfp4");
//
// quantize() streams the pseudo-quantized checkpoint (docs/DESIGN.md §7) into a staging directory under
// cfg.work_dir as it goes, layer by layer; save_quantized() moves it into place. Each CausalLM runs on its
// own threads (cfg.threads): two models quantized at once in one process do not interfere.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fp4gptq/error.hpp"
#include "fp4gptq/log.hpp"
#include "fp4gptq/tokenizer.hpp"

namespace fp4gptq {

enum class Method { NVFP4 };
enum class Algorithm { GPTQ, RTN };  // RTN: round-to-nearest, no calibration
enum class DType { Float16, BFloat16, Float32, Float64 };
enum class Compute { BF16, F32 };  // matmuls in bf16 with FP32 accumulation, or in FP32
// The checkpoint written (docs/DESIGN.md §7, §7b): pseudo-quantized float16, or packed NVFP4 as compressed-tensors
// (llm-compressor's nvfp4-pack-quantized, served by vLLM) or as TensorRT Model Optimizer's HF export (vLLM's
// modelopt method, TensorRT-LLM).
enum class Format { Pseudo, CompressedTensors, ModelOpt };
enum class Activations { None, NVFP4 };  // W4A16, or W4A4 (static per-tensor input global scales from calibration)
// How each block's FP8 scale is chosen (docs/DESIGN.md §4b): the amax rule (ModelOpt's), or the code within
// [0.75, 1.25]× of it with the smallest error (GPTQ: its loss with the in-block error propagation).
enum class BlockScaleSearch { None, Mse };

// The one spelling of each option value (CLI flags and error messages use these).
inline const std::map<std::string, DType>& dtype_names() {
  static const std::map<std::string, DType> m = {
      {"float16", DType::Float16}, {"fp16", DType::Float16}, {"bfloat16", DType::BFloat16}, {"bf16", DType::BFloat16},
      {"float32", DType::Float32}, {"f32", DType::Float32},  {"float64", DType::Float64},   {"f64", DType::Float64}};
  return m;
}
inline const std::map<std::string, Compute>& compute_names() {
  static const std::map<std::string, Compute> m = {{"bf16", Compute::BF16}, {"f32", Compute::F32}};
  return m;
}
inline const std::map<std::string, Format>& format_names() {
  static const std::map<std::string, Format> m = {
      {"pseudo", Format::Pseudo}, {"compressed-tensors", Format::CompressedTensors}, {"modelopt", Format::ModelOpt}};
  return m;
}
inline const std::map<std::string, Activations>& activations_names() {
  static const std::map<std::string, Activations> m = {{"none", Activations::None}, {"nvfp4", Activations::NVFP4}};
  return m;
}
inline const std::map<std::string, BlockScaleSearch>& block_scale_search_names() {
  static const std::map<std::string, BlockScaleSearch> m = {{"none", BlockScaleSearch::None},
                                                            {"mse", BlockScaleSearch::Mse}};
  return m;
}

struct QuantizeConfig {
  int bits = 4;           // NVFP4 only: 4
  int group_size = 16;    // NVFP4 only: 16
  bool desc_act = false;  // act-order (static block scales in the original order)
  Method method = Method::NVFP4;
  Algorithm algorithm = Algorithm::GPTQ;
  double damp_percent = 0.01;
  int block_size = 128;        // GPTQ lazy-batch width
  bool static_groups = false;  // block scales all first (static) instead of from updated weights (dynamic)
  bool true_sequential = true;
  bool fuse_scales = true;            // q/k/v and gate/up share scale_2
  BlockScaleSearch block_scale_search = BlockScaleSearch::None;
  double scale2_max = 448;            // K of scale_2 = amax / (6·K), in [1, 448]: below 448 the block scales get headroom
  std::vector<std::string> exclude;   // regexes of modules to leave unquantized
  DType act_dtype = DType::BFloat16;  // activations kept as BFloat16 | Float32
  Compute compute = Compute::BF16;
  DType hessian_dtype = DType::Float32;  // Float32 | Float64
  DType dtype = DType::Float16;          // output tensors: Float16 | BFloat16
  Format format = Format::Pseudo;        // the checkpoint written
  Activations activations = Activations::None;  // packed formats: W4A16, or W4A4 (needs calibration: GPTQ)
  // Packed formats: unquantized tensors (embeddings, norms, router, lm_head) keep the checkpoint's own dtype;
  // false: cast to `dtype`. Quantized weights are rounded to `dtype` for calibration either way, so the codes
  // equal those of the pseudo checkpoint of the same run.
  bool keep_input_dtype = true;
  uint64_t max_shard_bytes = 0;          // split the main file into shards of at most this; 0: one file
  uint64_t max_act_bytes = 0;            // activations past this are offloaded to files; 0: no limit
  std::filesystem::path offload_dir;     // where offloaded activations go (default: the system temp directory)
  // The checkpoint's file names: <base>.safetensors (or <base>-00001-of-0000n.safetensors) and <base>_scales.safetensors
  // (AutoGPTQ's model_file_base_name); a plain file name.
  std::string model_file_base_name = "pseudo_quantized_model-4bit-16g";
  int64_t moe_min_tokens = -1;           // experts seeing fewer tokens fall back to RTN; -1: 10% of the expected share
  bool moe_calibrate_all = false;        // every token into every expert's Hessians (outputs keep the real routing)
  // Calibration tokens per shard: the unit the samples are split over MPI ranks in, and of the Hessians'
  // exact partial sums (docs/DESIGN.md §13); the output depends on it but not on the rank count.
  int64_t shard_tokens = 65536;
  bool allow_nonfinite = false;          // keep NaN/Inf in tensors copied unquantized (warned) instead of failing
  int threads = 0;                       // 0: all cores
  bool quiet = false;                    // no progress on stderr
  std::filesystem::path work_dir = ".";  // where the checkpoint is built before save_quantized
  // Where the checkpoint is built instead (e.g. staging_dir_for(out)): locked while a run owns it; one left
  // by a killed run is removed first, or with `resume` continued at its last finished decoder layer.
  std::filesystem::path staging_dir;
  bool resume = false;
  // A resume point after every N-th decoder layer (each writes the activations entering the next layer:
  // tokens · hidden_size · 2 bytes in bf16); 0: none, a killed run starts over.
  int64_t checkpoint_every = 1;
  // Polled during long work (from any of the run's threads, a few seconds apart at most); once it returns
  // true, quantize() stops with fp4gptq::Cancelled and removes its staging directory. The library installs
  // no signal handlers: a program does (the CLI sets a flag on SIGINT/SIGTERM that this reads).
  std::function<bool()> cancelled;
  // Recorded in quantization_report.json's "calibration" (load_examples fills one in).
  std::optional<CalibrationSummary> calibration_summary;
};

struct QuantizeReport {
  int64_t modules = 0, fallbacks = 0, skipped = 0, samples = 0, tokens = 0;
  double mean_rel_err = 0, mean_rtn_rel_err = 0, mean_weight_mse = 0, seconds = 0;
  uint64_t peak_rss_bytes = 0;
  // quantization_report.json as written: "summary", "modules" (one row per quantized module), "skipped", ...
  std::string json;
};

// Every field of `config` checked as from_pretrained checks it, before any file is read: an Error naming the field.
void check_config(const QuantizeConfig& config);

// This process's place in a data-parallel run (docs/DESIGN.md §13): rank 0 of 1 unless the fp4gptq CLI was
// started by mpirun. Under several ranks CausalLM::quantize is collective; rank 0 writes and save_quantized
// does nothing on the others.
struct ProcessRank {
  int rank = 0, size = 1;
};
ProcessRank process_rank();
// Ends every rank of the job with `status` (a single process just exits).
[[noreturn]] void abort_job(int status);

// Calibration samples from a token-id JSONL file (docs/DESIGN.md §6): nsamples 0 = all lines; seed picks a random
// subset; seqlen 0 = no truncation. Errors name the file and line.
std::vector<Example> load_examples(const std::filesystem::path& jsonl, int64_t vocab_size, int64_t nsamples = 0,
                                   int64_t seqlen = 0, std::optional<uint64_t> seed = std::nullopt);

// What `fp4gptq quantize --calib FILE` reads: token-id JSONL (config.mode Documents or Auto; ids below
// config.vocab_size), or text encoded with the tokenizer of `tokenizer` (a directory or tokenizer.json) under
// `bos`; `summary` (for QuantizeConfig::calibration_summary) says what was read.
std::vector<Example> load_calibration(const std::filesystem::path& file, const std::filesystem::path& tokenizer,
                                      BosPolicy bos, const CalibrationConfig& config,
                                      CalibrationSummary* summary = nullptr);

// "5GB" (10^9), "500MB", "2GiB" (2^30), "1000" (bytes); an error naming `what` on anything else.
uint64_t parse_size(const std::string& text, const std::string& what);

// Refuses an output that is, contains or lies inside one of `inputs` (model directory, calibration file),
// whatever `overwrite` says; an output that exists as a file; an existing non-empty directory unless
// `overwrite` and fp4gptq wrote it (it carries the marker file .fp4gptq-output); a missing parent. These are
// the checks save_quantized makes (with the model directory as input), for callers that want to fail
// before long work. Paths are compared resolved: a trailing slash, ".." or a symlink changes nothing.
void check_output_dir(const std::filesystem::path& out_dir, bool overwrite,
                      const std::vector<std::filesystem::path>& inputs = {});

// Converts a pseudo-quantized directory (its weights + _scales.safetensors) into a packed one without
// re-quantizing (docs/DESIGN.md §7b): each code is recovered from the stored weight (an error naming the tensor
// if one is on no grid point); unquantized tensors come from `model_dir` when given (in their own dtype), else
// from `from`. The output is staged and renamed into place, as save_quantized does.
struct ExportConfig {
  Format format = Format::CompressedTensors;  // CompressedTensors | ModelOpt
  Activations activations = Activations::None;
  std::filesystem::path model_dir;  // the original model (optional)
  std::optional<DType> dtype;       // unquantized tensors cast to this (default: as they are in their source)
  uint64_t max_shard_bytes = 0;
  bool overwrite = false;
  bool quiet = false;
  std::function<bool()> cancelled;
};
struct ExportReport {
  int64_t modules = 0;
  uint64_t input_bytes = 0, output_bytes = 0;
  double seconds = 0;
};
ExportReport export_checkpoint(const std::filesystem::path& from, const std::filesystem::path& out_dir,
                               const ExportConfig& config = {});

// The staging directory beside an output: "<out_dir>.fp4gptq-staging".
std::filesystem::path staging_dir_for(const std::filesystem::path& out_dir);

class CausalLM {
 public:
  static CausalLM from_pretrained(const std::filesystem::path& model_dir, QuantizeConfig config = {});
  CausalLM(CausalLM&&) noexcept;
  CausalLM& operator=(CausalLM&&) noexcept;
  ~CausalLM();

  int64_t vocab_size() const;
  // GPTQ needs examples; RTN takes none. `calibration` (what load_calibration read) goes into the report's
  // "calibration" instead of config.calibration_summary.
  QuantizeReport quantize(const std::vector<Example>& examples = {}, const CalibrationSummary* calibration = nullptr);
  void save_quantized(const std::filesystem::path& out_dir, bool overwrite = false);

 private:
  struct Impl;
  explicit CausalLM(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct EvalConfig {
  int64_t seqlen = 2048;
  // Text data (JSONL with `text_field`, or .txt) is encoded with this tokenizer (a directory or tokenizer.json;
  // empty: the model directory's), special tokens per `bos`.
  std::filesystem::path tokenizer;
  BosPolicy bos = BosPolicy::File;
  std::string text_field = "text";
  Compute compute = Compute::BF16;  // bf16 also keeps the activations in bf16
  int threads = 0;
  bool quiet = false;
  std::function<bool()> cancelled;  // as QuantizeConfig::cancelled: polled, true stops with fp4gptq::Cancelled
};

struct Perplexity {
  double ppl = 0, mean_nll = 0;
  int64_t windows = 0, scored_tokens = 0;
};

// Perplexity of a model directory (original or pseudo-quantized) on a data file (docs/DESIGN.md §8): token-id
// JSONL (all lines' ids in file order), or text (GPTQ's wikitext-2 protocol: the JSONL documents joined with
// "\n\n", or the whole .txt, encoded once); non-overlapping windows of seqlen, the tail dropped.
Perplexity evaluate_perplexity(const std::filesystem::path& model_dir, const std::filesystem::path& data,
                               const EvalConfig& config = {});

// eval: how far a model's next-token distributions are from the base's (docs/DESIGN.md §8b), as llama.cpp's
// llama-perplexity --kl-divergence: per scored token KL(P_base ‖ P_model), and how often both models' most
// likely next tokens agree, on eval-ppl's windows.
struct CompareConfig {
  CompareConfig() { eval.seqlen = 0; }
  EvalConfig eval;  // data, seqlen (0: the base-logits file's, else 2048), compute, threads
  std::filesystem::path base_logits;       // the base's stored distributions, instead of a base directory
  std::filesystem::path save_base_logits;  // store the base's distributions here for later runs
  bool overwrite = false;                  // an existing save_base_logits file
};

struct Comparison {
  Perplexity base, model;  // model's is empty when only the base ran (to save its logits)
  double ppl_ratio = 0;    // model / base
  int64_t seqlen = 0, tokens = 0;  // window length, scored tokens
  double kld_mean = 0, kld_ci95 = 0;  // mean KL (nats) and the half-width of its 95% interval
  double kld_median = 0, kld_p99 = 0, kld_max = 0;
  double top1 = 0, top1_ci95 = 0;  // share of tokens with the same most likely next token, and its 95% half-width
};

// model_dir may be empty when save_base_logits is set; base_dir may be empty when base_logits is set (then data
// may be empty too: the file holds its tokens). Text data is encoded with the model's tokenizer (or
// config.eval.tokenizer); both directories' tokenizer.json files, where both have one, must be the same.
Comparison compare_models(const std::filesystem::path& model_dir, const std::filesystem::path& base_dir,
                          const std::filesystem::path& data, const CompareConfig& config = {});
// The figures as `eval --json` prints them (docs/DESIGN.md §8b): windows, seqlen, tokens, ppl_base and, when a
// model was judged, ppl_model, ppl_ratio, kld {mean, ci95, median, p99, max}, top1_agreement(_ci95).
std::string to_json(const Comparison& c, int indent = 2);

}  // namespace fp4gptq
