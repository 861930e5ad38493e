#include "model/decoder_layer.hpp"

#include "fp4gptq/error.hpp"

namespace fp4gptq::model {

DecoderLayer::DecoderLayer(const ModelConfig& config, const LayerPlan& plan, const io::ModelDir& dir, Compute compute)
    : c_(config), prefix_("model.layers." + std::to_string(plan.index) + ".") {
  if (plan.sparse)
    throw Error("layer " + std::to_string(plan.index) + " is a mixture-of-experts layer; its forward pass is not supported yet");
  for (const auto& m : plan.linears) {
    Linear l(m.out, m.in, compute);
    l.set_weight(dir.tensor(m.weight()).read_f32().data());
    if (dir.has(m.module + ".bias")) l.set_bias(dir.tensor(m.module + ".bias").read_f32().data());
    linears_.emplace(m.module.substr(prefix_.size()), std::move(l));
  }
  input_norm_ = dir.tensor(prefix_ + "input_layernorm.weight").read_f32();
  post_norm_ = dir.tensor(prefix_ + "post_attention_layernorm.weight").read_f32();
  if (dir.has(prefix_ + "self_attn.q_norm.weight")) {
    q_norm_ = dir.tensor(prefix_ + "self_attn.q_norm.weight").read_f32();
    k_norm_ = dir.tensor(prefix_ + "self_attn.k_norm.weight").read_f32();
  }
}

Linear& DecoderLayer::linear(const std::string& module) {
  const auto it = linears_.find(module.rfind(prefix_, 0) == 0 ? module.substr(prefix_.size()) : module);
  if (it == linears_.end()) throw Error("decoder layer " + prefix_ + ": no Linear named '" + module + "'");
  return it->second;
}

void DecoderLayer::input_norm(const float* x, int64_t rows, float* y) const {
  rms_norm(x, rows, c_.hidden_size, input_norm_.data(), c_.rms_norm_eps, y);
}

void DecoderLayer::attention(const float* xn, const std::vector<int64_t>& seq_lens, const RopeTable& rope,
                             float* attn) const {
  int64_t rows = 0;
  for (auto l : seq_lens) rows += l;
  const int64_t nh = c_.num_attention_heads, nkv = c_.num_key_value_heads, hd = c_.head_dim;
  thread_local std::vector<float> q, k, v;  // per-thread scratch: pages stay mapped between calls
  q.resize(static_cast<size_t>(rows * nh * hd));
  k.resize(static_cast<size_t>(rows * nkv * hd));
  v.resize(k.size());
  Linear::forward_shared(xn, rows, {{&lin("self_attn.q_proj"), q.data()}, {&lin("self_attn.k_proj"), k.data()},
                                    {&lin("self_attn.v_proj"), v.data()}});
  if (!q_norm_.empty()) {  // Qwen3: RMSNorm over each head before RoPE
    rms_norm(q.data(), rows * nh, hd, q_norm_.data(), c_.rms_norm_eps, q.data());
    rms_norm(k.data(), rows * nkv, hd, k_norm_.data(), c_.rms_norm_eps, k.data());
  }
  int64_t r0 = 0;
  for (const int64_t len : seq_lens) {
    rope.apply(&q[r0 * nh * hd], len, nh, 0);
    rope.apply(&k[r0 * nkv * hd], len, nkv, 0);
    causal_attention(&q[r0 * nh * hd], &k[r0 * nkv * hd], &v[r0 * nkv * hd], len, nh, nkv, hd, attn + r0 * nh * hd);
    r0 += len;
  }
}

void DecoderLayer::attention_out(const float* x, const float* attn, int64_t rows, float* h) const {
  lin("self_attn.o_proj").forward(attn, rows, h);
  const int64_t n = rows * c_.hidden_size;
  for (int64_t i = 0; i < n; ++i) h[i] += x[i];
}

void DecoderLayer::post_norm(const float* h, int64_t rows, float* y) const {
  rms_norm(h, rows, c_.hidden_size, post_norm_.data(), c_.rms_norm_eps, y);
}

void DecoderLayer::mlp_act(const float* yn, int64_t rows, float* act) const {
  const auto& gate = lin("mlp.gate_proj");
  thread_local std::vector<float> g, u;
  g.resize(static_cast<size_t>(rows * gate.out()));
  u.resize(g.size());
  Linear::forward_shared(yn, rows, {{&gate, g.data()}, {&lin("mlp.up_proj"), u.data()}});
  silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), act);
}

void DecoderLayer::mlp_out(const float* h, const float* act, int64_t rows, float* out) const {
  lin("mlp.down_proj").forward(act, rows, out);
  const int64_t n = rows * c_.hidden_size;
  for (int64_t i = 0; i < n; ++i) out[i] += h[i];
}

void DecoderLayer::forward(const float* x, const std::vector<int64_t>& seq_lens, const RopeTable& rope, float* out) const {
  int64_t rows = 0;
  for (auto l : seq_lens) rows += l;
  const int64_t H = c_.hidden_size;
  std::vector<float> xn(static_cast<size_t>(rows * H)), attn(static_cast<size_t>(rows * c_.num_attention_heads * c_.head_dim)),
      h(static_cast<size_t>(rows * H)), act(static_cast<size_t>(rows * lin("mlp.down_proj").in()));
  input_norm(x, rows, xn.data());
  attention(xn.data(), seq_lens, rope, attn.data());
  attention_out(x, attn.data(), rows, h.data());
  post_norm(h.data(), rows, xn.data());
  mlp_act(xn.data(), rows, act.data());
  mlp_out(h.data(), act.data(), rows, out);
}

}  // namespace fp4gptq::model
