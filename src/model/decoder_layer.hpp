#pragma once
// One decoder layer (Qwen3, Llama, Qwen2, Mistral; Qwen3-MoE with a dense or sparse MLP) with its forward pass in
// stages, so the quantization pipeline computes each true-sequential group's inputs only as far into the layer as
// needed:
//   x ─input_norm→ [q,k,v input] ─attention→ [o input] ─attention_out→ h ─post_norm→ [gate,up input]
//     ─mlp_act→ [down input] ─mlp_out→ layer output
// Rows are the tokens of several sequences back to back; `seq_lens` gives their lengths (positions restart
// at 0 for each sequence). Every stage runs on the Context it is given (threads, backend), so one layer
// may serve several worker threads at once.
#include <map>
#include <string>
#include <vector>

#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "model/linear.hpp"
#include "model/ops.hpp"

namespace fp4gptq::model {

// Top-k routing of a sparse MoE layer (transformers' Qwen3MoeSparseMoeBlock): softmax of the router logits
// in FP32, the k largest (ties: lower expert first), renormalised when norm_topk_prob.
struct Routing {
  int64_t k = 0;
  std::vector<int32_t> experts;  // [rows, k]
  std::vector<float> weights;    // [rows, k]
  // Rows routed to expert e, ascending, and the weight of each.
  void rows_of(int32_t e, std::vector<int64_t>& rows, std::vector<float>& w) const;
};

class DecoderLayer {
 public:
  DecoderLayer(const ModelConfig& config, const LayerPlan& plan, const io::ModelDir& dir, Compute compute);

  void input_norm(const float* x, int64_t rows, float* y) const;
  void attention(const linalg::Context& ctx, const float* xn, const std::vector<int64_t>& seq_lens,
                 const RopeTable& rope, float* attn) const;
  void attention_out(const linalg::Context& ctx, const float* x, const float* attn, int64_t rows,
                     float* h) const;  // h = x + o(attn)
  void post_norm(const float* h, int64_t rows, float* y) const;
  void mlp_act(const linalg::Context& ctx, const float* yn, int64_t rows, float* act) const;  // silu(gate(yn)) · up(yn)
  void mlp_out(const linalg::Context& ctx, const float* h, const float* act, int64_t rows,
               float* out) const;  // out = h + down(act)
  // The MLP of either kind: SwiGLU, or for a sparse layer the routed, weighted sum of its experts' SwiGLUs
  // (each expert runs one matmul over the tokens routed to it).
  void mlp(const linalg::Context& ctx, const float* yn, int64_t rows, float* out) const;
  bool sparse() const { return sparse_; }
  Routing route(const linalg::Context& ctx, const float* yn, int64_t rows) const;  // sparse layers only
  // Expert e's SwiGLU activation (its down_proj input) and output for rows x [n, hidden].
  void expert_act(const linalg::Context& ctx, int64_t e, const float* x, int64_t n, float* act) const;
  void expert_down(const linalg::Context& ctx, int64_t e, const float* act, int64_t n, float* y) const;
  void forward(const linalg::Context& ctx, const float* x, const std::vector<int64_t>& seq_lens, const RopeTable& rope,
               float* out) const;

  // The Linear of a planned module (e.g. "model.layers.3.self_attn.q_proj"), to swap in quantized weights.
  Linear& linear(const std::string& module);

 private:
  const ModelConfig& c_;
  std::map<std::string, Linear> linears_;  // by short name: self_attn.q_proj, mlp.down_proj, ...
  std::string prefix_;
  std::vector<float> input_norm_, post_norm_, q_norm_, k_norm_;
  bool sparse_ = false;
  std::vector<float> router_;                    // [num_experts, hidden], FP32 (the router always runs in FP32)
  std::vector<const Linear*> gate_, up_, down_;  // per expert
  const Linear& lin(const char* short_name) const { return linears_.at(short_name); }
};

}  // namespace fp4gptq::model
