#pragma once
// The quantization plan of a model: for each decoder layer, every tensor it must hold and which of its Linear
// weights are quantized, in which true-sequential group and with which input-sharing partners (docs/DESIGN.md §6).
// Norms, the MoE router (mlp.gate), embeddings and lm_head are never quantized.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/model_dir.hpp"
#include "model/config.hpp"
#include "model/module_filter.hpp"
#include "model/packed_weights.hpp"

namespace fp4gptq::model {

using io::Shape;

// True-sequential groups: each group's inputs are computed from the layer with the previous groups quantized.
enum class SeqGroup { AttnQKV = 0, AttnO = 1, MlpGateUp = 2, MlpDown = 3 };
const char* seq_group_name(SeqGroup g);  // "attn.qkv", "attn.o", "mlp.gate_up", "mlp.down"

struct ExpectedTensor {
  std::string name;
  Shape shape;
};

// How a checkpoint stores MoE experts: one 2D tensor per expert and projection (mlp.experts.{e}.gate_proj.weight,
// as on the hub), or the fused 3D tensors newer transformers save (mlp.experts.gate_up_proj [E, 2·I, H], rows
// 0..I−1 gate and I..2I−1 up; mlp.experts.down_proj [E, H, I]).
enum class ExpertLayout { PerExpert, Fused };

struct PlannedLinear {
  // Logical name: the weight name without ".weight" in the per-expert layout, e.g.
  // model.layers.0.self_attn.q_proj or model.layers.0.mlp.experts.3.gate_proj (in both expert layouts).
  std::string module;
  int64_t out = 0, in = 0;
  SeqGroup group = SeqGroup::AttnQKV;
  // Modules with the same input_key read the same activations (share one Hessian) and, with fused global
  // scales, one scale_2: q/k/v; gate/up (per expert for MoE).
  std::string input_key;
  int64_t expert = -1;  // MoE expert index, -1 for dense modules
  bool quantize = true;
  std::string skip_reason;  // why it stays unquantized (excluded, in % 16 != 0)
  // Storage: the checkpoint tensor holding the weight. A 2D weight is `module`.weight; a fused 3D expert tensor
  // [E, parts·out, in] holds this module as part `part` (0 gate, 1 up; 0 for down) of slice `expert`.
  std::string tensor;
  int64_t parts = 0;  // 0: a 2D weight
  int64_t part = 0;
  bool fused() const { return parts > 0; }
  // Element offset of this [out, in] matrix inside `tensor`.
  uint64_t offset() const { return fused() ? static_cast<uint64_t>((expert * parts + part) * out * in) : 0; }
  // Stored packed (a compressed-tensors or ModelOpt checkpoint, docs/DESIGN.md §7b): read_weight decodes it to
  // `packed_dtype`.
  std::optional<Packing> packed;
  numeric::DType packed_dtype = numeric::DType::F16;
  // M of the scales file (docs/DESIGN.md §7): the module, or the fused tensor's name.
  const std::string& scale_module() const { return fused() ? tensor : module; }
};

struct LayerPlan {
  int64_t index = 0;
  bool sparse = false;                  // MoE layer
  std::vector<PlannedLinear> linears;   // in group order
  std::vector<ExpectedTensor> tensors;  // every tensor of the layer (weights, biases, norms, router)
};

struct ModelPlan {
  ModelConfig config;
  ExpertLayout expert_layout = ExpertLayout::PerExpert;
  std::vector<LayerPlan> layers;
  std::vector<ExpectedTensor> globals;  // embeddings, final norm, lm_head (unless tied)

  // Every expected tensor must exist with a float dtype and the planned shape; errors name tensor and file.
  void check(const io::ModelDir& dir) const;
  std::vector<const PlannedLinear*> quantized() const;
};

// `exclude` leaves matching modules unquantized; modules with in % 16 != 0 are left unquantized too. A fused
// expert tensor is quantized or left as a whole: `exclude` is matched against its name (the scales-file M).
ModelPlan make_plan(const ModelConfig& config, const ModuleFilter& exclude = {},
                    ExpertLayout layout = ExpertLayout::PerExpert);

// The expert layout of a checkpoint: Fused when it holds any "….mlp.experts.gate_up_proj" tensor.
ExpertLayout detect_expert_layout(const io::ModelDir& dir);

// config.json parsed, the expert layout detected, the plan made and checked against the checkpoint; in a packed
// checkpoint, the Linears stored packed are marked so.
ModelPlan plan_model(const io::ModelDir& dir, const ModuleFilter& exclude = {});

// The weight of a planned Linear as FP32 [out, in] (a slice of a fused expert tensor where it is one; decoded
// where it is stored packed).
std::vector<float> read_weight(const io::ModelDir& dir, const PlannedLinear& m);

// Layer index of a tensor named "model.layers.<i>.…", or -1.
int64_t layer_of(const std::string& tensor_name);

}  // namespace fp4gptq::model
