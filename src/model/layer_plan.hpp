#pragma once
// The quantization plan of a model: for each decoder layer, every tensor it must hold and which of its Linear
// weights are quantized, in which true-sequential group and with which input-sharing partners (DESIGN §6).
// Norms, the MoE router (mlp.gate), embeddings and lm_head are never quantized.
#include <cstdint>
#include <string>
#include <vector>

#include "io/model_dir.hpp"
#include "model/config.hpp"
#include "model/module_filter.hpp"

namespace fp4gptq::model {

using io::Shape;

// True-sequential groups: each group's inputs are computed from the layer with the previous groups quantized.
enum class SeqGroup { AttnQKV = 0, AttnO = 1, MlpGateUp = 2, MlpDown = 3 };
const char* seq_group_name(SeqGroup g);  // "attn.qkv", "attn.o", "mlp.gate_up", "mlp.down"

struct ExpectedTensor {
  std::string name;
  Shape shape;
};

struct PlannedLinear {
  std::string module;  // weight name without ".weight", e.g. model.layers.0.self_attn.q_proj
  int64_t out = 0, in = 0;
  SeqGroup group = SeqGroup::AttnQKV;
  // Modules with the same input_key read the same activations (share one Hessian) and, with fused global
  // scales, one scale_2: q/k/v; gate/up (per expert for MoE).
  std::string input_key;
  int64_t expert = -1;  // MoE expert index, -1 for dense modules
  bool quantize = true;
  std::string skip_reason;  // why it stays unquantized (excluded, in % 16 != 0)
  std::string weight() const { return module + ".weight"; }
};

struct LayerPlan {
  int64_t index = 0;
  bool sparse = false;                  // MoE layer
  std::vector<PlannedLinear> linears;   // in group order
  std::vector<ExpectedTensor> tensors;  // every tensor of the layer (weights, biases, norms, router)
};

struct ModelPlan {
  ModelConfig config;
  std::vector<LayerPlan> layers;
  std::vector<ExpectedTensor> globals;  // embeddings, final norm, lm_head (unless tied)

  // Every expected tensor must exist with a float dtype and the planned shape; errors name tensor and file.
  void check(const io::ModelDir& dir) const;
  std::vector<const PlannedLinear*> quantized() const;
};

// `exclude` leaves matching modules unquantized; modules with in % 16 != 0 are left unquantized too.
ModelPlan make_plan(const ModelConfig& config, const ModuleFilter& exclude = {});

// Layer index of a tensor named "model.layers.<i>.…", or -1.
int64_t layer_of(const std::string& tensor_name);

}  // namespace fp4gptq::model
