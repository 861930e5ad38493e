#include "model/decoder_layer.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fp4gptq/error.hpp"

namespace fp4gptq::model {

void Routing::rows_of(int32_t e, std::vector<int64_t>& rows, std::vector<float>& w) const {
  rows.clear();
  w.clear();
  for (size_t i = 0; i < experts.size(); ++i)
    if (experts[i] == e) {
      rows.push_back(static_cast<int64_t>(i) / k);
      w.push_back(weights[i]);
    }
}

DecoderLayer::DecoderLayer(const ModelConfig& config, const LayerPlan& plan, const io::ModelDir& dir, Compute compute)
    : c_(config), prefix_("model.layers." + std::to_string(plan.index) + "."), sparse_(plan.sparse) {
  for (const auto& m : plan.linears) {
    Linear l(m.out, m.in, compute);
    l.set_weight(read_weight(dir, m).data());
    if (m.packed)
      if (const auto gs = input_global_scale(dir, *m.packed, m.module)) l.set_input_quant(*gs);  // W4A4
    if (dir.has(m.module + ".bias")) l.set_bias(dir.tensor(m.module + ".bias").read_f32().data());
    linears_.emplace(m.module.substr(prefix_.size()), std::move(l));
  }
  input_norm_ = dir.tensor(prefix_ + "input_layernorm.weight").read_f32();
  post_norm_ = dir.tensor(prefix_ + "post_attention_layernorm.weight").read_f32();
  if (sparse_) {
    router_ = dir.tensor(prefix_ + "mlp.gate.weight").read_f32();
    for (int64_t e = 0; e < c_.num_experts; ++e) {
      const std::string p = "mlp.experts." + std::to_string(e) + ".";
      gate_.push_back(&linears_.at(p + "gate_proj"));
      up_.push_back(&linears_.at(p + "up_proj"));
      down_.push_back(&linears_.at(p + "down_proj"));
    }
    // W4A4: the engines run a layer's experts as one fused MoE with one input scale for gate/up and one for
    // down, the largest input amax over the experts (the smallest input global scale).
    for (const auto& projections : {std::vector<std::string>{"gate_proj", "up_proj"}, std::vector<std::string>{"down_proj"}}) {
      std::vector<Linear*> group;
      float gs = 0;
      for (int64_t e = 0; e < c_.num_experts; ++e)
        for (const auto& p : projections) {
          Linear* l = &linears_.at("mlp.experts." + std::to_string(e) + "." + p);
          group.push_back(l);
          if (l->input_quant() > 0) gs = gs > 0 ? std::min(gs, l->input_quant()) : l->input_quant();
        }
      if (gs > 0)
        for (Linear* l : group) l->set_input_quant(gs);
    }
  }
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

void DecoderLayer::attention(const linalg::Context& ctx, const float* xn, const std::vector<int64_t>& seq_lens,
                             const RopeTable& rope, float* attn) const {
  int64_t rows = 0;
  for (auto l : seq_lens) rows += l;
  const int64_t nh = c_.num_attention_heads, nkv = c_.num_key_value_heads, hd = c_.head_dim;
  thread_local std::vector<float> q, k, v;  // per-thread scratch: pages stay mapped between calls
  q.resize(static_cast<size_t>(rows * nh * hd));
  k.resize(static_cast<size_t>(rows * nkv * hd));
  v.resize(k.size());
  Linear::forward_shared(ctx, xn, rows,
                         {{&lin("self_attn.q_proj"), q.data()},
                          {&lin("self_attn.k_proj"), k.data()},
                          {&lin("self_attn.v_proj"), v.data()}});
  if (!q_norm_.empty()) {  // Qwen3: RMSNorm over each head before RoPE
    rms_norm(q.data(), rows * nh, hd, q_norm_.data(), c_.rms_norm_eps, q.data());
    rms_norm(k.data(), rows * nkv, hd, k_norm_.data(), c_.rms_norm_eps, k.data());
  }
  int64_t r0 = 0;
  for (const int64_t len : seq_lens) {
    rope.apply(&q[r0 * nh * hd], len, nh, 0);
    rope.apply(&k[r0 * nkv * hd], len, nkv, 0);
    causal_attention(ctx, &q[r0 * nh * hd], &k[r0 * nkv * hd], &v[r0 * nkv * hd], len, nh, nkv, hd,
                     attn + r0 * nh * hd);
    r0 += len;
  }
}

void DecoderLayer::attention_out(const linalg::Context& ctx, const float* x, const float* attn, int64_t rows,
                                 float* h) const {
  lin("self_attn.o_proj").forward(ctx, attn, rows, h);
  const int64_t n = rows * c_.hidden_size;
  for (int64_t i = 0; i < n; ++i) h[i] += x[i];
}

void DecoderLayer::post_norm(const float* h, int64_t rows, float* y) const {
  rms_norm(h, rows, c_.hidden_size, post_norm_.data(), c_.rms_norm_eps, y);
}

void DecoderLayer::mlp_act(const linalg::Context& ctx, const float* yn, int64_t rows, float* act) const {
  const auto& gate = lin("mlp.gate_proj");
  thread_local std::vector<float> g, u;
  g.resize(static_cast<size_t>(rows * gate.out()));
  u.resize(g.size());
  Linear::forward_shared(ctx, yn, rows, {{&gate, g.data()}, {&lin("mlp.up_proj"), u.data()}});
  silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), act);
}

void DecoderLayer::mlp_out(const linalg::Context& ctx, const float* h, const float* act, int64_t rows,
                           float* out) const {
  lin("mlp.down_proj").forward(ctx, act, rows, out);
  const int64_t n = rows * c_.hidden_size;
  for (int64_t i = 0; i < n; ++i) out[i] += h[i];
}

Routing DecoderLayer::route(const linalg::Context& ctx, const float* yn, int64_t rows) const {
  const int64_t E = c_.num_experts, k = c_.num_experts_per_tok;
  std::vector<float> logits(static_cast<size_t>(rows * E));
  ctx.sgemm(false, true, rows, E, c_.hidden_size, 1.0f, yn, c_.hidden_size, router_.data(), c_.hidden_size, 0.0f,
            logits.data(), E);
  Routing r;
  r.k = k;
  r.experts.resize(static_cast<size_t>(rows * k));
  r.weights.resize(r.experts.size());
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < rows; ++t) {
    float* l = &logits[t * E];
    float mx = l[0];
    for (int64_t e = 1; e < E; ++e) mx = std::max(mx, l[e]);
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += l[e] = std::exp(l[e] - mx);
    for (int64_t e = 0; e < E; ++e) l[e] = static_cast<float>(l[e] / sum);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    float top = 0;
    for (int64_t j = 0; j < k; ++j) top += l[order[j]];
    for (int64_t j = 0; j < k; ++j) {
      r.experts[t * k + j] = order[j];
      r.weights[t * k + j] = c_.norm_topk_prob ? l[order[j]] / top : l[order[j]];
    }
  }
  return r;
}

void DecoderLayer::expert_act(const linalg::Context& ctx, int64_t e, const float* x, int64_t n, float* act) const {
  std::vector<float> g(static_cast<size_t>(n * gate_[e]->out())), u(g.size());
  Linear::forward_shared(ctx, x, n, {{gate_[e], g.data()}, {up_[e], u.data()}});
  silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), act);
}

void DecoderLayer::expert_down(const linalg::Context& ctx, int64_t e, const float* act, int64_t n, float* y) const {
  down_[e]->forward(ctx, act, n, y);
}

void DecoderLayer::mlp(const linalg::Context& ctx, const float* yn, int64_t rows, float* out) const {
  const int64_t H = c_.hidden_size;
  if (!sparse_) {
    std::vector<float> act(static_cast<size_t>(rows * lin("mlp.down_proj").in()));
    mlp_act(ctx, yn, rows, act.data());
    lin("mlp.down_proj").forward(ctx, act.data(), rows, out);
    return;
  }
  // Tokens gathered per expert: one matmul per expert over its tokens, then the weighted scatter-add.
  const auto routing = route(ctx, yn, rows);
  std::fill(out, out + rows * H, 0.0f);
  std::vector<int64_t> idx;
  std::vector<float> w, x, act, y;
  for (int32_t e = 0; e < c_.num_experts; ++e) {
    routing.rows_of(e, idx, w);
    if (idx.empty()) continue;
    const auto n = static_cast<int64_t>(idx.size());
    x.resize(static_cast<size_t>(n * H));
    for (int64_t i = 0; i < n; ++i) std::copy(yn + idx[i] * H, yn + (idx[i] + 1) * H, &x[i * H]);
    act.resize(static_cast<size_t>(n * gate_[e]->out()));
    y.resize(x.size());
    expert_act(ctx, e, x.data(), n, act.data());
    expert_down(ctx, e, act.data(), n, y.data());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < H; ++j) out[idx[i] * H + j] += w[i] * y[i * H + j];
  }
}

void DecoderLayer::forward(const linalg::Context& ctx, const float* x, const std::vector<int64_t>& seq_lens,
                           const RopeTable& rope, float* out) const {
  int64_t rows = 0;
  for (auto l : seq_lens) rows += l;
  const int64_t H = c_.hidden_size;
  std::vector<float> xn(static_cast<size_t>(rows * H)),
      attn(static_cast<size_t>(rows * c_.num_attention_heads * c_.head_dim)), h(static_cast<size_t>(rows * H));
  input_norm(x, rows, xn.data());
  attention(ctx, xn.data(), seq_lens, rope, attn.data());
  attention_out(ctx, x, attn.data(), rows, h.data());
  post_norm(h.data(), rows, xn.data());
  mlp(ctx, xn.data(), rows, out);
  for (int64_t i = 0; i < rows * H; ++i) out[i] += h[i];
}

}  // namespace fp4gptq::model
