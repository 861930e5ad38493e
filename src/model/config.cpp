#include "model/config.hpp"

#include <algorithm>

#include "fp4gptq/error.hpp"

namespace fp4gptq::model {

namespace {

// The one list of supported architectures: config.json's "architectures" name, the kind, its "model_type".
struct ArchEntry {
  const char* name;
  ArchKind kind;
  const char* model_type;
};
constexpr ArchEntry kArchs[] = {
    {"Qwen3ForCausalLM", ArchKind::Qwen3, "qwen3"},       {"Qwen3MoeForCausalLM", ArchKind::Qwen3Moe, "qwen3_moe"},
    {"LlamaForCausalLM", ArchKind::Llama, "llama"},       {"Qwen2ForCausalLM", ArchKind::Qwen2, "qwen2"},
    {"MistralForCausalLM", ArchKind::Mistral, "mistral"},
};

class Fields {
 public:
  Fields(const nlohmann::ordered_json& j, std::string source) : j_(j), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(source_ + ": field '" + field + "' " + what);
  }
  bool has(const std::string& f) const { return j_.contains(f) && !j_[f].is_null(); }
  int64_t positive_int(const std::string& f) const {
    if (!has(f)) fail(f, "is missing (a positive integer is required)");
    return positive_int_value(f, j_[f]);
  }
  int64_t positive_int(const std::string& f, int64_t def) const { return has(f) ? positive_int_value(f, j_[f]) : def; }
  // Every count and size is below 2^31, so the products the planner forms (heads · head_dim, 2 · intermediate)
  // cannot overflow int64.
  int64_t positive_int_value(const std::string& f, const nlohmann::ordered_json& v) const {
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > kMaxDim)
      fail(f, "must be a positive integer below 2^31, got " + v.dump());
    return v.get<int64_t>();
  }
  static constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
  double positive_number(const std::string& f, double def) const {
    if (!has(f)) return def;
    const auto& v = j_[f];
    if (!v.is_number() || v.get<double>() <= 0) fail(f, "must be a positive number, got " + v.dump());
    return v.get<double>();
  }
  bool boolean(const std::string& f, bool def) const {
    if (!has(f)) return def;
    if (!j_[f].is_boolean()) fail(f, "must be true or false, got " + j_[f].dump());
    return j_[f].get<bool>();
  }
  std::string string(const std::string& f, const std::string& def) const {
    if (!has(f)) return def;
    if (!j_[f].is_string()) fail(f, "must be a string, got " + j_[f].dump());
    return j_[f].get<std::string>();
  }
  const nlohmann::ordered_json& raw(const std::string& f) const { return j_[f]; }

 private:
  const nlohmann::ordered_json& j_;
  std::string source_;
};

std::string arch_list() {
  std::string s;
  for (const auto& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

std::optional<RopeScaling> parse_rope_scaling(const Fields& f, const std::string& field, const std::string& source) {
  if (!f.has(field)) return std::nullopt;
  const auto& r = f.raw(field);
  if (!r.is_object()) f.fail(field, "must be an object or null");
  Fields rf(r, source + " (" + field + ")");
  RopeScaling s;
  s.rope_type = rf.string("rope_type", rf.string("type", "default"));
  s.factor = rf.positive_number("factor", 1.0);
  s.low_freq_factor = rf.positive_number("low_freq_factor", 1.0);
  s.high_freq_factor = rf.positive_number("high_freq_factor", 4.0);
  s.original_max_position_embeddings = rf.positive_int("original_max_position_embeddings", 8192);
  if (s.rope_type == "default") return std::nullopt;
  return s;
}

}  // namespace

std::optional<std::string> model_type_of(const std::string& architecture) {
  for (const auto& a : kArchs)
    if (architecture == a.name) return a.model_type;
  return std::nullopt;
}

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : kArchs) v.emplace_back(a.name);
    return v;
  }();
  return names;
}

bool ModelConfig::is_sparse_layer(int64_t layer) const {
  if (!is_moe() || num_experts <= 0) return false;
  if (std::find(mlp_only_layers.begin(), mlp_only_layers.end(), layer) != mlp_only_layers.end()) return false;
  return (layer + 1) % decoder_sparse_step == 0;
}

// Long: one statement per config.json field, each checked where it is read.
ModelConfig ModelConfig::parse(const nlohmann::ordered_json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": expected a JSON object");
  Fields f(j, source);
  ModelConfig c;
  if (!f.has("architectures") || !f.raw("architectures").is_array() || f.raw("architectures").empty() ||
      !f.raw("architectures")[0].is_string())
    f.fail("architectures", "is missing or not a list of names (supported: " + arch_list() + ")");
  c.architecture = f.raw("architectures")[0].get<std::string>();
  bool known = false;
  for (const auto& a : kArchs)
    if (c.architecture == a.name) {
      c.kind = a.kind;
      known = true;
    }
  if (!known)
    throw Error(source + ": architecture '" + c.architecture + "' is not supported (supported: " + arch_list() + ")");
  c.model_type = f.string("model_type", "");

  c.hidden_size = f.positive_int("hidden_size");
  c.num_hidden_layers = f.positive_int("num_hidden_layers");
  c.num_attention_heads = f.positive_int("num_attention_heads");
  c.vocab_size = f.positive_int("vocab_size");
  c.intermediate_size = c.is_moe() ? f.positive_int("intermediate_size", 6144) : f.positive_int("intermediate_size");
  c.num_key_value_heads = f.positive_int("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    f.fail("num_key_value_heads", "(" + std::to_string(c.num_key_value_heads) + ") must divide num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + ")");
  if (!f.has("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    f.fail("head_dim", "is missing and hidden_size is not a multiple of num_attention_heads");
  c.head_dim = f.positive_int("head_dim", c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = f.positive_int("max_position_embeddings", 32768);
  c.rms_norm_eps = f.positive_number("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.torch_dtype = f.string("torch_dtype", f.string("dtype", "bfloat16"));

  // RoPE: transformers v4 keeps rope_theta / rope_scaling at the top level; v5 nests them in rope_parameters.
  if (f.has("rope_parameters")) {
    const auto& rp = f.raw("rope_parameters");
    if (!rp.is_object()) f.fail("rope_parameters", "must be an object");
    Fields rf(rp, source + " (rope_parameters)");
    c.rope_theta = rf.positive_number("rope_theta", 10000.0);
    c.rope_scaling = parse_rope_scaling(f, "rope_parameters", source);
  } else {
    c.rope_theta = f.positive_number("rope_theta", 10000.0);
    c.rope_scaling = parse_rope_scaling(f, "rope_scaling", source);
  }

  switch (c.kind) {
    case ArchKind::Qwen2:  // q/k/v always biased, o never
      c.attention_bias = true;
      c.o_proj_bias = false;
      break;
    case ArchKind::Mistral:
      break;
    case ArchKind::Llama:
      c.mlp_bias = f.boolean("mlp_bias", false);
      [[fallthrough]];
    case ArchKind::Qwen3:
    case ArchKind::Qwen3Moe:
      c.attention_bias = c.o_proj_bias = f.boolean("attention_bias", false);
      break;
  }

  if (c.is_moe()) {
    c.num_experts = f.positive_int("num_experts", 128);
    c.num_experts_per_tok = f.positive_int("num_experts_per_tok", 8);
    c.moe_intermediate_size = f.positive_int("moe_intermediate_size", 768);
    c.decoder_sparse_step = f.positive_int("decoder_sparse_step", 1);
    c.norm_topk_prob = f.boolean("norm_topk_prob", false);
    if (c.num_experts_per_tok > c.num_experts)
      f.fail("num_experts_per_tok", "(" + std::to_string(c.num_experts_per_tok) + ") exceeds num_experts (" +
                                        std::to_string(c.num_experts) + ")");
    if (f.has("mlp_only_layers")) {
      const auto& m = f.raw("mlp_only_layers");
      if (!m.is_array()) f.fail("mlp_only_layers", "must be a list of layer indices");
      for (const auto& v : m) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0) f.fail("mlp_only_layers", "must hold layer indices >= 0");
        c.mlp_only_layers.push_back(v.get<int64_t>());
      }
    }
  }
  return c;
}

}  // namespace fp4gptq::model
