#pragma once
// fp4gptq's C++ API, shaped like AutoGPTQ's:
//
//   fp4gptq::QuantizeConfig cfg;                        // bits 4, group_size 16, NVFP4
//   auto model = fp4gptq::CausalLM::from_pretrained("Qwen3-8B", cfg);
//   model.quantize(fp4gptq::load_examples("calib.jsonl", model.vocab_size(), 128, 2048));
//   model.save_quantized("Qwen3-8B-nvfp4");
//
// quantize() streams the pseudo-quantized checkpoint (DESIGN §7) into a staging directory under
// cfg.work_dir as it goes, layer by layer; save_quantized() moves it into place.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fp4gptq/error.hpp"

namespace fp4gptq {

enum class Method { NVFP4 };

struct QuantizeConfig {
  int bits = 4;                    // NVFP4 only: 4
  int group_size = 16;             // NVFP4 only: 16
  bool desc_act = false;           // act-order (static block scales in the original order)
  Method method = Method::NVFP4;
  double damp_percent = 0.01;
  int block_size = 128;            // GPTQ lazy-batch width
  bool static_groups = false;      // block scales all first (static) instead of from updated weights (dynamic)
  bool true_sequential = true;
  bool fuse_scales = true;         // q/k/v and gate/up share scale_2
  std::vector<std::string> exclude;  // regexes of modules to leave unquantized
  std::string act_dtype = "bfloat16";  // activations kept as bfloat16 | float32
  std::string compute = "bf16";        // matmuls: bf16 (oneDNN) | f32 (OpenBLAS)
  std::string hessian_dtype = "f32";   // f32 | f64
  std::string dtype = "float16";       // output tensors: float16 | bfloat16
  std::string max_shard_size;          // e.g. "5GB"; empty: one main file
  std::string max_act_memory;          // e.g. "8G": activations past this are offloaded to files; empty: no limit
  std::filesystem::path offload_dir;   // where offloaded activations go (default: the system temp directory)
  int64_t moe_min_tokens = -1;        // experts seeing fewer tokens fall back to RTN; -1: 10% of the expected share
  bool moe_calibrate_all = false;      // every token into every expert's Hessians (outputs keep the real routing)
  int threads = 0;                     // 0: all cores
  bool quiet = false;                  // no progress on stderr
  std::filesystem::path work_dir = ".";  // where the checkpoint is built before save_quantized
};

using Example = std::vector<int32_t>;  // token ids of one calibration sample

struct QuantizeReport {
  int64_t modules = 0, fallbacks = 0, skipped = 0, samples = 0, tokens = 0;
  double mean_rel_err = 0, mean_rtn_rel_err = 0, seconds = 0;
  uint64_t peak_rss_bytes = 0;
};

// Calibration samples from a token-id JSONL file (DESIGN §6): nsamples 0 = all lines; seed picks a random
// subset; seqlen 0 = no truncation. Errors name the file and line.
std::vector<Example> load_examples(const std::filesystem::path& jsonl, int64_t vocab_size, int64_t nsamples = 0,
                                   int64_t seqlen = 0, std::optional<uint64_t> seed = std::nullopt);

class CausalLM {
 public:
  static CausalLM from_pretrained(const std::filesystem::path& model_dir, QuantizeConfig config = {});
  CausalLM(CausalLM&&) noexcept;
  CausalLM& operator=(CausalLM&&) noexcept;
  ~CausalLM();

  int64_t vocab_size() const;
  QuantizeReport quantize(const std::vector<Example>& examples);
  void save_quantized(const std::filesystem::path& out_dir, bool overwrite = false);

 private:
  struct Impl;
  explicit CausalLM(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fp4gptq
