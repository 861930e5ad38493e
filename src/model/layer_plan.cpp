#include "model/layer_plan.hpp"

#include <algorithm>
#include <charconv>

#include "fp4gptq/error.hpp"

namespace fp4gptq::model {

const char* seq_group_name(SeqGroup g) {
  switch (g) {
    case SeqGroup::AttnQKV:
      return "attn.qkv";
    case SeqGroup::AttnO:
      return "attn.o";
    case SeqGroup::MlpGateUp:
      return "mlp.gate_up";
    case SeqGroup::MlpDown:
      return "mlp.down";
  }
  return "?";
}

int64_t layer_of(const std::string& name) {
  static const std::string prefix = "model.layers.";
  if (name.rfind(prefix, 0) != 0) return -1;
  const char* b = name.data() + prefix.size();
  const char* e = name.data() + name.size();
  int64_t v = -1;
  const auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p == b || p == e || *p != '.') return -1;
  return v;
}

namespace {

class LayerBuilder {
 public:
  LayerBuilder(LayerPlan& layer, const ModuleFilter& exclude) : layer_(layer), exclude_(exclude) {}

  void tensor(const std::string& name, Shape shape) { layer_.tensors.push_back({name, std::move(shape)}); }

  // A Linear stored as its own 2D weight (`parts` 0), or as part `part` of expert `expert`'s slice of the
  // fused 3D tensor `fused_tensor`.
  void linear(const std::string& module, int64_t out, int64_t in, SeqGroup group, const std::string& input_key,
              bool bias, int64_t expert = -1, const std::string& fused_tensor = "", int64_t parts = 0,
              int64_t part = 0) {
    PlannedLinear l;
    l.module = module, l.out = out, l.in = in, l.group = group, l.input_key = input_key, l.expert = expert;
    l.tensor = module + ".weight";
    if (parts > 0) {
      l.tensor = fused_tensor;
      l.parts = parts;
      l.part = part;
    }
    if (const std::string* p = exclude_.match(l.scale_module())) {
      l.quantize = false;
      l.skip_reason = "excluded by the pattern '" + *p + "'";
    } else if (in % 16 != 0) {
      l.quantize = false;
      l.skip_reason = "input size " + std::to_string(in) + " is not a multiple of the NVFP4 block (16)";
    }
    if (!l.fused()) tensor(l.tensor, {out, in});
    if (bias) tensor(module + ".bias", {out});
    layer_.linears.push_back(std::move(l));
  }

  // SwiGLU MLP: gate/up share the input (and scale_2), then down.
  void mlp(const std::string& p, int64_t hidden, int64_t inter, bool bias, int64_t expert = -1) {
    linear(p + ".gate_proj", inter, hidden, SeqGroup::MlpGateUp, p + ".gate_up", bias, expert);
    linear(p + ".up_proj", inter, hidden, SeqGroup::MlpGateUp, p + ".gate_up", bias, expert);
    linear(p + ".down_proj", hidden, inter, SeqGroup::MlpDown, p + ".down_proj", bias, expert);
  }

  // Fused experts (docs/DESIGN.md §7): expert e's gate/up are parts 0/1 of gate_up_proj[e], its down down_proj[e].
  void fused_experts(const std::string& p, int64_t experts, int64_t hidden, int64_t inter) {
    const std::string gate_up = p + ".gate_up_proj", down = p + ".down_proj";
    tensor(gate_up, {experts, 2 * inter, hidden});
    tensor(down, {experts, hidden, inter});
    for (int64_t e = 0; e < experts; ++e) {
      const std::string x = p + "." + std::to_string(e);
      linear(x + ".gate_proj", inter, hidden, SeqGroup::MlpGateUp, x + ".gate_up", false, e, gate_up, 2, 0);
      linear(x + ".up_proj", inter, hidden, SeqGroup::MlpGateUp, x + ".gate_up", false, e, gate_up, 2, 1);
      linear(x + ".down_proj", hidden, inter, SeqGroup::MlpDown, x + ".down_proj", false, e, down, 1, 0);
    }
  }

 private:
  LayerPlan& layer_;
  const ModuleFilter& exclude_;
};

// Linears sorted by group (stable), so every group's modules are contiguous as the pipeline consumes them.
void sort_by_group(LayerPlan& l) {
  std::stable_sort(l.linears.begin(), l.linears.end(),
                   [](const PlannedLinear& a, const PlannedLinear& b) { return a.group < b.group; });
}

}  // namespace

ModelPlan make_plan(const ModelConfig& c, const ModuleFilter& exclude, ExpertLayout layout) {
  ModelPlan plan;
  plan.config = c;
  plan.expert_layout = layout;
  const int64_t H = c.hidden_size, D = c.head_dim;
  const int64_t q_out = c.num_attention_heads * D, kv_out = c.num_key_value_heads * D;
  const bool qk_norm = c.kind == ArchKind::Qwen3 || c.kind == ArchKind::Qwen3Moe;

  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LayerPlan layer;
    layer.index = i;
    layer.sparse = c.is_sparse_layer(i);
    LayerBuilder b(layer, exclude);
    const std::string p = "model.layers." + std::to_string(i);
    b.tensor(p + ".input_layernorm.weight", {H});
    b.tensor(p + ".post_attention_layernorm.weight", {H});
    const std::string a = p + ".self_attn";
    b.linear(a + ".q_proj", q_out, H, SeqGroup::AttnQKV, a + ".qkv", c.attention_bias);
    b.linear(a + ".k_proj", kv_out, H, SeqGroup::AttnQKV, a + ".qkv", c.attention_bias);
    b.linear(a + ".v_proj", kv_out, H, SeqGroup::AttnQKV, a + ".qkv", c.attention_bias);
    b.linear(a + ".o_proj", H, q_out, SeqGroup::AttnO, a + ".o_proj", c.o_proj_bias);
    if (qk_norm) {
      b.tensor(a + ".q_norm.weight", {D});
      b.tensor(a + ".k_norm.weight", {D});
    }
    if (layer.sparse) {
      b.tensor(p + ".mlp.gate.weight", {c.num_experts, H});  // router: never quantized
      if (layout == ExpertLayout::Fused)
        b.fused_experts(p + ".mlp.experts", c.num_experts, H, c.moe_intermediate_size);
      else
        for (int64_t e = 0; e < c.num_experts; ++e)
          b.mlp(p + ".mlp.experts." + std::to_string(e), H, c.moe_intermediate_size, false, e);
    } else {
      b.mlp(p + ".mlp", H, c.intermediate_size, c.mlp_bias);
    }
    sort_by_group(layer);
    plan.layers.push_back(std::move(layer));
  }
  plan.globals.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
  plan.globals.push_back({"model.norm.weight", {H}});
  if (!c.tie_word_embeddings) plan.globals.push_back({"lm_head.weight", {c.vocab_size, H}});
  return plan;
}

void ModelPlan::check(const io::ModelDir& dir) const {
  auto check_one = [&](const ExpectedTensor& t) {
    if (!dir.has(t.name))
      throw Error(dir.dir().string() + ": tensor '" + t.name + "' is missing from the checkpoint (required by " +
                  config.architecture + " with this config.json)");
    const auto& ref = dir.tensor(t.name);
    if (!numeric::is_float(ref.info->dtype))
      throw Error(ref.file->path().string() + ": tensor '" + t.name + "' has dtype " +
                  std::string(numeric::dtype_name(ref.info->dtype)) + "; a float dtype was expected");
    if (ref.info->shape != t.shape)
      throw Error(ref.file->path().string() + ": tensor '" + t.name + "' has shape " + io::shape_str(ref.info->shape) +
                  ", expected " + io::shape_str(t.shape) + " from config.json");
  };
  for (const auto& l : layers)
    for (const auto& t : l.tensors) check_one(t);
  for (const auto& t : globals) check_one(t);
}

ExpertLayout detect_expert_layout(const io::ModelDir& dir) {
  for (const auto& name : dir.tensor_names())
    if (name.ends_with(".mlp.experts.gate_up_proj")) return ExpertLayout::Fused;
  return ExpertLayout::PerExpert;
}

namespace {

// Expert index of "model.layers.<l>.mlp.experts.<e>.…", or -1.
int64_t expert_of(const std::string& name) {
  static const std::string tag = ".mlp.experts.";
  const size_t at = name.find(tag);
  if (at == std::string::npos) return -1;
  const char* b = name.data() + at + tag.size();
  const char* e = name.data() + name.size();
  int64_t v = -1;
  const auto [p, ec] = std::from_chars(b, e, v);
  return ec != std::errc() || p == b || p == e || *p != '.' ? -1 : v;
}

// The plan holds an entry per layer and per expert, so the counts config.json gives are checked against the
// tensors present before anything is sized by them: a config claiming 10^9 layers fails here, at once.
void check_counts(const ModelConfig& c, const io::ModelDir& dir, ExpertLayout layout) {
  int64_t layers = 0, experts = 0;
  for (const auto& name : dir.tensor_names()) {
    layers = std::max(layers, layer_of(name) + 1);
    if (layout == ExpertLayout::Fused && name.ends_with(".mlp.experts.gate_up_proj")) {
      const auto& shape = dir.tensor(name).info->shape;
      if (!shape.empty()) experts = std::max(experts, shape[0]);
    } else {
      experts = std::max(experts, expert_of(name) + 1);
    }
  }
  const std::string config = dir.config_path().string();
  if (c.num_hidden_layers > layers)
    throw Error(config + ": field 'num_hidden_layers' is " + std::to_string(c.num_hidden_layers) +
                " but the checkpoint holds tensors of " + std::to_string(layers) +
                " decoder layers (model.layers.<i>.*)");
  bool sparse = false;
  for (int64_t i = 0; i < c.num_hidden_layers && !sparse; ++i) sparse = c.is_sparse_layer(i);
  if (sparse && c.num_experts > experts)
    throw Error(config + ": field 'num_experts' is " + std::to_string(c.num_experts) +
                " but the checkpoint holds tensors of " + std::to_string(experts) + " experts (mlp.experts.<e>.*)");
}

}  // namespace

ModelPlan plan_model(const io::ModelDir& dir, const ModuleFilter& exclude) {
  const auto config = ModelConfig::parse(dir.config(), dir.config_path().string());
  const auto layout = detect_expert_layout(dir);
  check_counts(config, dir, layout);
  auto plan = make_plan(config, exclude, layout);
  if (const auto packing = packing_of(dir)) {
    const auto dtype = decode_dtype(dir);
    for (auto& lp : plan.layers)
      for (auto& m : lp.linears) {
        if (m.fused() || !is_packed(dir, *packing, m.module, m.out, m.in)) continue;
        m.packed = packing;
        m.packed_dtype = dtype;
        std::erase_if(lp.tensors, [&](const ExpectedTensor& t) { return t.name == m.tensor; });
      }
  }
  plan.check(dir);
  return plan;
}

std::vector<float> read_weight(const io::ModelDir& dir, const PlannedLinear& m) {
  if (m.packed) return decode_packed(dir, *m.packed, m.module, m.out, m.in, m.packed_dtype);
  const auto& t = dir.tensor(m.tensor);
  std::vector<float> w(static_cast<size_t>(m.out * m.in));
  t.file->read_f32(*t.info, m.offset(), w.size(), w.data());
  return w;
}

std::vector<const PlannedLinear*> ModelPlan::quantized() const {
  std::vector<const PlannedLinear*> out;
  for (const auto& l : layers)
    for (const auto& m : l.linears)
      if (m.quantize) out.push_back(&m);
  return out;
}

}  // namespace fp4gptq::model
