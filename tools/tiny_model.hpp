#pragma once
// make-tiny-model: a real Hugging Face model directory (config.json, safetensors, generation and tokenizer
// config) with seeded random weights for any supported architecture, plus a calibration JSONL of random
// token ids. Used by tests, examples and benchmarks; shapes come from the same plan the quantizer checks.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fp4gptq::tools {

struct TinyModelOptions {
  std::string arch = "Qwen3ForCausalLM";
  int64_t layers = 2, hidden = 128, intermediate = 256, heads = 4, kv_heads = 2, head_dim = 32, vocab = 512;
  int64_t experts = 8, experts_per_tok = 2, moe_intermediate = 64, decoder_sparse_step = 1;
  std::vector<int64_t> mlp_only_layers;
  bool norm_topk_prob = true;
  bool fused_experts = false;      // MoE experts as fused 3D tensors (mlp.experts.gate_up_proj / down_proj) holding
                                   // exactly the per-expert layout's values
  std::string dtype = "bfloat16";  // bfloat16 | float16
  bool tie_embeddings = false;
  bool attention_bias = false;  // Llama/Qwen3 attention_bias (Qwen2 always has q/k/v biases)
  int shards = 1;
  uint64_t seed = 0;
  int64_t calib_samples = 32, calib_seqlen = 64;
  std::filesystem::path calib_path;  // default: <out>/calibration.jsonl
  // A tokenizer.json copied in (with the tokenizer_config.json beside it, if any) before the directory is complete.
  std::filesystem::path tokenizer_file;
  bool overwrite = false;
};

void make_tiny_model(const std::filesystem::path& out, const TinyModelOptions& options);

// Deterministic standard normal numbers from (seed, stream name): the same on every machine and run.
class NormalRng {
 public:
  NormalRng(uint64_t seed, const std::string& stream);
  double next();
  uint64_t next_u64();

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace fp4gptq::tools
