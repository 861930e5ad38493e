#pragma once
// config.json of the supported architectures, with every field the forward pass and the planner need and
// transformers' defaults for the optional ones.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fp4gptq::model {

enum class ArchKind { Qwen3, Qwen3Moe, Llama, Qwen2, Mistral };

struct RopeScaling {
  std::string rope_type;  // "default", "linear", "llama3", ...
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // e.g. "Qwen3ForCausalLM"
  ArchKind kind = ArchKind::Llama;
  std::string model_type;
  int64_t hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  int64_t num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0;
  int64_t vocab_size = 0, max_position_embeddings = 0;
  double rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;
  double rms_norm_eps = 1e-6;
  bool attention_bias = false;  // q/k/v (and o for Llama/Qwen3) carry a bias
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "bfloat16";
  // Mixture of experts (Qwen3-MoE)
  int64_t num_experts = 0, num_experts_per_tok = 0, moe_intermediate_size = 0, decoder_sparse_step = 1;
  bool norm_topk_prob = false;
  std::vector<int64_t> mlp_only_layers;

  bool is_moe() const { return kind == ArchKind::Qwen3Moe; }
  // Qwen3-MoE: layer i is sparse unless listed in mlp_only_layers, and when (i+1) % decoder_sparse_step == 0.
  bool is_sparse_layer(int64_t layer) const;

  // `source` names the file in errors (config.json's path).
  static ModelConfig parse(const nlohmann::ordered_json& j, const std::string& source);
};

const std::vector<std::string>& supported_architectures();
// The transformers "model_type" of a supported architecture name; nullopt for any other.
std::optional<std::string> model_type_of(const std::string& architecture);

}  // namespace fp4gptq::model
