#include "pipeline/forward_stages.hpp"

#include <fmt/core.h>

#include "fp4gptq/error.hpp"
#include "model/causal_lm.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::pipeline {

namespace {

std::vector<Chunk> make_chunks(const calib::CalibrationSet& c, int64_t chunk_tokens) {
  std::vector<Chunk> chunks;
  int64_t row = 0;
  for (const auto& s : c.samples) {
    const auto len = static_cast<int64_t>(s.size());
    if (chunks.empty() || (chunks.back().rows + len > chunk_tokens && chunks.back().rows > 0))
      chunks.push_back({row, 0, {}});
    chunks.back().rows += len;
    chunks.back().seq_lens.push_back(len);
    row += len;
  }
  return chunks;
}

}  // namespace

LayerActivations::LayerActivations(const linalg::Context& ctx, const io::ModelDir& src, const model::ModelConfig& c,
                                   const calib::CalibrationSet& calib, const QuantizeOptions& o,
                                   const Progress& progress, TimeSplit& split)
    : ctx_(ctx),
      c_(c),
      o_(o),
      progress_(progress),
      split_(split),
      chunks_(make_chunks(calib, o.chunk_tokens)),
      tokens_(calib.tokens()),
      offload_dir_(o.offload_dir.empty() ? std::filesystem::temp_directory_path() : o.offload_dir) {
  if (o.max_act_bytes > 0 && !std::filesystem::is_directory(offload_dir_))
    throw Error("offload directory " + offload_dir_.string() + " is not a directory");
  int64_t longest = 0;
  for (const auto& s : calib.samples) longest = std::max(longest, static_cast<int64_t>(s.size()));
  rope_ = std::make_unique<model::RopeTable>(c_, longest);
  reset(x_, c_.hidden_size);
  std::vector<int32_t> ids;
  for (const auto& s : calib.samples) ids.insert(ids.end(), s.begin(), s.end());
  for (const auto& ch : chunks_) {
    const std::vector<int32_t> part(ids.begin() + ch.row0, ids.begin() + ch.row0 + ch.rows);
    x_.store(ch.row0, ch.rows, model::embed_tokens(src, c_, part).data());
  }
}

// Stores are re-shaped, not re-allocated, so their pages stay faulted in from layer to layer. A store that
// would take the activations in RAM past the budget goes to a file under the offload directory instead.
ActivationStore& LayerActivations::reset(ActivationStore& s, int64_t width) {
  const uint64_t need = static_cast<uint64_t>(tokens_ * width) * numeric::dtype_size(o_.act_dtype);
  uint64_t resident = 0;
  for (const auto* other : {&x_, &x0_, &norm_, &attn_, &act_})
    if (other != &s && !other->on_disk()) resident += other->bytes();
  const bool spill = o_.max_act_bytes > 0 && resident + need > o_.max_act_bytes;
  if (spill && !s.on_disk())
    progress_.note(fmt::format("activations past the memory budget: {:.0f} MiB offloaded to {}", need / 1048576.0,
                               offload_dir_.string()));
  s.reset(o_.act_dtype, tokens_, width, spill ? &offload_dir_ : nullptr);
  return s;
}

// The input norm and the post-attention norm share one store: the first is consumed before the second is made.
ActivationStore& LayerActivations::input_norm(const model::DecoderLayer& layer) {
  auto& xn = reset(norm_, c_.hidden_size);
  stage(x_, &xn, c_.hidden_size, 0,
        [&](const Chunk& ch, const float* x, float* y) { layer.input_norm(x, ch.rows, y); });
  return xn;
}

ActivationStore& LayerActivations::attention(const model::DecoderLayer& layer, const ActivationStore& xn) {
  const int64_t width = c_.num_attention_heads * c_.head_dim;
  double flops = 2.0 * tokens_ * c_.hidden_size * (width + 2 * c_.num_key_value_heads * c_.head_dim);
  for (const auto& ch : chunks_)
    for (const auto len : ch.seq_lens) flops += 2.0 * len * len * width;  // causal half of QKᵀ and PV
  auto& attn = reset(attn_, width);
  stage(xn, &attn, width, flops,
        [&](const Chunk& ch, const float* x, float* y) { layer.attention(ctx_, x, ch.seq_lens, *rope_, y); });
  return attn;
}

// h = x + o(attn) (kept in x) and the post-attention norm of it.
ActivationStore& LayerActivations::post_attention(const model::DecoderLayer& layer, const ActivationStore& attn) {
  auto& yn = reset(norm_, c_.hidden_size);
  std::vector<float> x, h;
  stage(attn, &yn, c_.hidden_size, 2.0 * tokens_ * attn.width() * c_.hidden_size,
        [&](const Chunk& ch, const float* a, float* y) {
          x.resize(static_cast<size_t>(ch.rows * c_.hidden_size));
          h.resize(x.size());
          x_.load(ch.row0, ch.rows, x.data());
          layer.attention_out(ctx_, x.data(), a, ch.rows, h.data());
          x_.store(ch.row0, ch.rows, h.data());
          layer.post_norm(h.data(), ch.rows, y);
        });
  return yn;
}

ActivationStore& LayerActivations::mlp_act(const model::DecoderLayer& layer, const ActivationStore& yn, int64_t inter) {
  auto& act = reset(act_, inter);
  stage(yn, &act, inter, 4.0 * tokens_ * c_.hidden_size * inter,
        [&](const Chunk& ch, const float* x, float* y) { layer.mlp_act(ctx_, x, ch.rows, y); });
  return act;
}

// Layer output: x (holding h) + down(act).
void LayerActivations::mlp_out(const model::DecoderLayer& layer, const ActivationStore& act) {
  std::vector<float> h;
  stage(act, nullptr, c_.hidden_size, 2.0 * tokens_ * act.width() * c_.hidden_size,
        [&](const Chunk& ch, const float* a, float* y) {
          h.resize(static_cast<size_t>(ch.rows * c_.hidden_size));
          x_.load(ch.row0, ch.rows, h.data());
          layer.mlp_out(ctx_, h.data(), a, ch.rows, y);
          x_.store(ch.row0, ch.rows, y);
        });
}

// Every token routed (router in FP32).
model::Routing LayerActivations::route(const model::DecoderLayer& layer, const ActivationStore& yn) {
  const int64_t k = c_.num_experts_per_tok;
  model::Routing routing;
  routing.k = k;
  routing.experts.resize(static_cast<size_t>(tokens_ * k));
  routing.weights.resize(routing.experts.size());
  stage(yn, nullptr, 0, 2.0 * tokens_ * c_.hidden_size * c_.num_experts, [&](const Chunk& ch, const float* x, float*) {
    const auto r = layer.route(ctx_, x, ch.rows);
    std::copy(r.experts.begin(), r.experts.end(), routing.experts.begin() + ch.row0 * k);
    std::copy(r.weights.begin(), r.weights.end(), routing.weights.begin() + ch.row0 * k);
  });
  return routing;
}

// Sparse layer output: x (holding h) + the MoE block of the quantized experts (DecoderLayer::mlp).
void LayerActivations::moe_out(const model::DecoderLayer& layer, const ActivationStore& yn) {
  std::vector<float> h;
  stage(yn, nullptr, c_.hidden_size,
        2.0 * tokens_ * c_.hidden_size * c_.num_experts +
            6.0 * tokens_ * c_.num_experts_per_tok * c_.hidden_size * c_.moe_intermediate_size,
        [&](const Chunk& ch, const float* x, float* y) {
          h.resize(static_cast<size_t>(ch.rows * c_.hidden_size));
          x_.load(ch.row0, ch.rows, h.data());
          layer.mlp(ctx_, x, ch.rows, y);
          for (size_t i = 0; i < h.size(); ++i) h[i] += y[i];
          x_.store(ch.row0, ch.rows, h.data());
        });
}

void LayerActivations::save_input() { reset(x0_, c_.hidden_size).copy_from(x_); }
void LayerActivations::restore_input() { x_.copy_from(x0_); }

InputStats LayerActivations::hessian_of(const ActivationStore& in) {
  const auto t = Clock::now();
  gptq::HessianAccumulator acc(in.width(), o_.gptq.hessian_dtype);
  InputStats s;
  std::vector<float> x;
  std::vector<uint16_t> raw;
  for (const auto& ch : chunks_) {
    x.resize(static_cast<size_t>(ch.rows * in.width()));
    in.load(ch.row0, ch.rows, x.data());
    if (in.dtype() == numeric::DType::BF16) {  // the Hessian of exactly what the bf16 matmuls see
      raw.resize(x.size());
      in.load_raw(ch.row0, ch.rows, raw.data());
      acc.add_bf16(ctx_, raw.data(), ch.rows);
    } else {
      acc.add(ctx_, x.data(), ch.rows);
    }
    s.input_amax = std::max(s.input_amax, nvfp4::max_abs(x.data(), x.size()));
  }
  s.tokens = acc.tokens();
  s.hessian = acc.hessian(ctx_);
  split_.hessian_s += since(t);
  split_.hessian_flops += 2.0 * static_cast<double>(s.tokens) * in.width() * in.width();
  return s;
}

}  // namespace fp4gptq::pipeline
