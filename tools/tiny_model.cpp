#include "tools/tiny_model.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <numbers>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "io/safetensors_writer.hpp"
#include "io/staged_dir.hpp"
#include "model/config.hpp"
#include "model/layer_plan.hpp"

namespace fp4gptq::tools {

namespace fs = std::filesystem;
using numeric::DType;

NormalRng::NormalRng(uint64_t seed, const std::string& stream)
    : state_(seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) {
  for (unsigned char c : stream) state_ = (state_ ^ c) * 0x100000001b3ull;  // FNV-1a over the stream name
}

uint64_t NormalRng::next_u64() {  // SplitMix64
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double NormalRng::next() {  // Box-Muller
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double u1 = (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1p-53;
  const double u2 = static_cast<double>(next_u64() >> 11) * 0x1p-53;
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2.0 * std::numbers::pi * u2);
}

namespace {

std::string model_type_of(const std::string& arch) {
  if (const auto t = model::model_type_of(arch)) return *t;
  std::string list;
  for (const auto& a : model::supported_architectures()) list += (list.empty() ? "" : ", ") + a;
  throw Error("tiny model: architecture '" + arch + "' is not supported (supported: " + list + ")");
}

nlohmann::ordered_json make_config(const TinyModelOptions& o) {
  const std::string type = model_type_of(o.arch);
  nlohmann::ordered_json c;
  c["architectures"] = {o.arch};
  c["model_type"] = type;
  c["hidden_size"] = o.hidden;
  c["intermediate_size"] = o.intermediate;
  c["num_hidden_layers"] = o.layers;
  c["num_attention_heads"] = o.heads;
  c["num_key_value_heads"] = o.kv_heads;
  c["head_dim"] = o.head_dim;
  c["vocab_size"] = o.vocab;
  c["max_position_embeddings"] = 4096;
  c["rope_theta"] = type == "llama" ? 500000.0 : 1000000.0;
  c["rms_norm_eps"] = 1e-6;
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = o.tie_embeddings;
  if (type != "qwen2" && type != "mistral") c["attention_bias"] = o.attention_bias;
  c["bos_token_id"] = 1;
  c["eos_token_id"] = 2;
  c["torch_dtype"] = o.dtype;
  if (type == "qwen3_moe") {
    c["num_experts"] = o.experts;
    c["num_experts_per_tok"] = o.experts_per_tok;
    c["moe_intermediate_size"] = o.moe_intermediate;
    c["decoder_sparse_step"] = o.decoder_sparse_step;
    c["mlp_only_layers"] = o.mlp_only_layers;
    c["norm_topk_prob"] = o.norm_topk_prob;
    c["router_aux_loss_coef"] = 0.001;
  }
  return c;
}

// Scale of a tensor's random values: norms around 1, biases small, Linear weights ~ 1/sqrt(fan-in).
void fill(const model::ExpectedTensor& t, NormalRng& rng, float* out, uint64_t n) {
  const bool norm = t.name.ends_with("norm.weight");
  const bool bias = t.name.ends_with(".bias");
  const bool embed = t.name == "model.embed_tokens.weight";
  const double std = norm ? 0.1 : bias ? 0.02 : embed ? 1.0 : 1.0 / std::sqrt(static_cast<double>(t.shape.back()));
  for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<float>((norm ? 1.0 : 0.0) + std * rng.next());
}

void write_calibration(const fs::path& path, const TinyModelOptions& o) {
  const fs::path tmp = path.string() + ".partial";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw Error(path.string() + ": cannot create the calibration file");
    NormalRng rng(o.seed, "calibration");
    for (int64_t s = 0; s < o.calib_samples; ++s) {
      f << "{\"input_ids\": [";
      for (int64_t i = 0; i < o.calib_seqlen; ++i)
        f << (i ? ", " : "") << rng.next_u64() % static_cast<uint64_t>(o.vocab);
      f << "]}\n";
    }
    if (!f) throw Error(path.string() + ": write failed");
  }
  fs::rename(tmp, path);
}

}  // namespace

void make_tiny_model(const fs::path& out, const TinyModelOptions& o) {
  const auto config_json = make_config(o);
  const auto config = model::ModelConfig::parse(config_json, "make-tiny-model options");
  if (o.dtype != "bfloat16" && o.dtype != "float16")
    throw Error("make-tiny-model: --dtype '" + o.dtype + "' (bfloat16 or float16 expected)");
  if (o.shards < 1) throw Error("make-tiny-model: --shards must be >= 1");
  const DType dtype = o.dtype == "float16" ? DType::F16 : DType::BF16;
  const auto plan =
      model::make_plan(config, {}, o.fused_experts ? model::ExpertLayout::Fused : model::ExpertLayout::PerExpert);
  // A fused expert tensor is filled slice by slice from the per-expert tensors' random streams, so both layouts
  // hold the same weights.
  std::map<std::string, std::vector<const model::PlannedLinear*>> slices;
  for (const auto& l : plan.layers)
    for (const auto& m : l.linears)
      if (m.fused()) slices[m.tensor].push_back(&m);

  std::vector<model::ExpectedTensor> tensors;  // HF order: embeddings, layers, final norm, lm_head
  tensors.push_back(plan.globals[0]);
  for (const auto& l : plan.layers) tensors.insert(tensors.end(), l.tensors.begin(), l.tensors.end());
  tensors.insert(tensors.end(), plan.globals.begin() + 1, plan.globals.end());

  io::StagedDir dir(out, o.overwrite);
  uint64_t total = 0;
  for (const auto& t : tensors) total += io::numel(t.shape) * numeric::dtype_size(dtype);
  // Split into `shards` files of roughly equal size, in tensor order.
  std::vector<std::vector<io::TensorSpec>> groups(static_cast<size_t>(o.shards));
  uint64_t acc = 0;
  for (const auto& t : tensors) {
    const uint64_t bytes = io::numel(t.shape) * numeric::dtype_size(dtype);
    const size_t g =
        std::min<size_t>(groups.size() - 1, static_cast<size_t>(acc * groups.size() / std::max<uint64_t>(total, 1)));
    groups[g].push_back({t.name, dtype, t.shape});
    acc += bytes;
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t g = 0; g < groups.size(); ++g) {
    char name[64];
    if (o.shards == 1)
      std::snprintf(name, sizeof name, "model.safetensors");
    else
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", g + 1, groups.size());
    io::SafetensorsWriter w(dir.path() / name, groups[g], {{"format", "pt"}});
    std::vector<float> f32;
    std::vector<std::byte> buf;
    // Values of tensor `t` (its own random stream) written at element `at` of output tensor `dest`.
    auto emit = [&](const model::ExpectedTensor& t, const std::string& dest, uint64_t at) {
      const uint64_t n = io::numel(t.shape);
      const uint64_t row = t.shape.size() > 1 ? static_cast<uint64_t>(t.shape.back()) : n;
      const uint64_t rows_per_chunk = std::max<uint64_t>(1, (1u << 20) / std::max<uint64_t>(row, 1));
      NormalRng rng(o.seed, t.name);
      for (uint64_t first = 0; first < n; first += rows_per_chunk * row) {
        const uint64_t count = std::min<uint64_t>(rows_per_chunk * row, n - first);
        f32.resize(count);
        buf.resize(count * 2);
        fill(t, rng, f32.data(), count);
        numeric::from_f32(dtype, f32.data(), buf.data(), count);
        w.write_part(dest, (at + first) * 2, buf.data(), buf.size());
      }
    };
    for (const auto& spec : groups[g]) {
      if (const auto it = slices.find(spec.name); it != slices.end())
        for (const auto* m : it->second) emit({m->module + ".weight", {m->out, m->in}}, spec.name, m->offset());
      else
        emit({spec.name, spec.shape}, spec.name, 0);
      weight_map[spec.name] = name;
    }
    w.finish();
  }
  if (o.shards > 1) {
    nlohmann::ordered_json index;
    index["metadata"] = {{"total_size", total}};
    index["weight_map"] = weight_map;
    io::write_json(dir.path() / "model.safetensors.index.json", index);
  }
  io::write_json(dir.path() / "config.json", config_json);
  io::write_json(dir.path() / "generation_config.json",
                 {{"bos_token_id", 1}, {"eos_token_id", 2}, {"do_sample", false}});
  io::write_json(dir.path() / "tokenizer_config.json", {{"model_max_length", 4096},
                                                        {"tokenizer_class", "PreTrainedTokenizerFast"},
                                                        {"note", "fp4gptq tiny model: ids only"}});
  if (!o.tokenizer_file.empty()) {
    const auto opts = std::filesystem::copy_options::overwrite_existing;
    std::filesystem::copy_file(o.tokenizer_file, dir.path() / "tokenizer.json", opts);
    const auto cfg = o.tokenizer_file.parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(cfg)) std::filesystem::copy_file(cfg, dir.path() / "tokenizer_config.json", opts);
  }
  if (o.calib_path.empty()) {
    write_calibration(dir.path() / "calibration.jsonl", o);
    dir.commit();
  } else {
    dir.commit();
    write_calibration(o.calib_path, o);
  }
}

}  // namespace fp4gptq::tools
