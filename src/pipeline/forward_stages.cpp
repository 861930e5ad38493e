#include "pipeline/forward_stages.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "fp4gptq/error.hpp"
#include "model/causal_lm.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::pipeline {

namespace {

// Every sample's shard and chunk (the same for any rank count): a shard holds consecutive samples up to
// shard_tokens, a chunk consecutive samples of one shard up to chunk_tokens (each at least one sample).
// row0 counts all rows.
std::vector<Chunk> make_chunks(const calib::CalibrationSet& c, int64_t chunk_tokens, int64_t shard_tokens) {
  std::vector<Chunk> chunks;
  int64_t row = 0, shard = -1, shard_rows = 0;
  for (const auto& s : c.samples) {
    const auto len = static_cast<int64_t>(s.size());
    const bool new_shard = shard < 0 || (shard_rows + len > shard_tokens && shard_rows > 0);
    if (new_shard) {
      ++shard;
      shard_rows = 0;
    }
    if (new_shard || chunks.back().rows + len > chunk_tokens) chunks.push_back({row, 0, shard, {}});
    chunks.back().rows += len;
    chunks.back().seq_lens.push_back(len);
    row += len;
    shard_rows += len;
  }
  return chunks;
}

}  // namespace

LayerActivations::LayerActivations(const linalg::Context& ctx, const dist::Communicator& comm, const io::ModelDir& src,
                                   const model::ModelConfig& c, const calib::CalibrationSet& calib,
                                   const QuantizeOptions& o, const Progress& progress, TimeSplit& split)
    : ctx_(ctx),
      comm_(comm),
      c_(c),
      o_(o),
      progress_(progress),
      split_(split),
      total_tokens_(calib.tokens()),
      offload_dir_(o.offload_dir.empty() ? std::filesystem::temp_directory_path() : o.offload_dir) {
  auto all = make_chunks(calib, o.chunk_tokens, o.shard_tokens);
  shards_ = all.empty() ? 0 : all.back().shard + 1;
  const int64_t n = comm.size(), r = comm.rank();
  const int64_t first = shards_ * r / n, last = shards_ * (r + 1) / n;  // this rank's shards [first, last)
  own_shards_ = last - first;
  int64_t row0 = -1;
  for (auto& ch : all)
    if (ch.shard >= first && ch.shard < last) {
      if (row0 < 0) row0 = ch.row0;
      ch.row0 -= row0;
      tokens_ += ch.rows;
      chunks_.push_back(std::move(ch));
    }
  if (o.max_act_bytes > 0 && !std::filesystem::is_directory(offload_dir_))
    throw Error("offload directory " + offload_dir_.string() + " is not a directory");
  int64_t longest = 0;
  for (const auto& s : calib.samples) longest = std::max(longest, static_cast<int64_t>(s.size()));
  rope_ = std::make_unique<model::RopeTable>(c_, longest);
  reset(x_, c_.hidden_size);
  std::vector<int32_t> ids;
  for (const auto& s : calib.samples) ids.insert(ids.end(), s.begin(), s.end());
  for (const auto& ch : chunks_) {
    const auto at = ids.begin() + (row0 + ch.row0);
    const std::vector<int32_t> part(at, at + ch.rows);
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
  uint64_t held = 0;
  for (const auto* store : {&x_, &x0_, &norm_, &attn_, &act_}) held += store->bytes();
  act_peak_ = std::max(act_peak_, held);
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

int64_t LayerActivations::shard_of(int64_t row) const {
  const auto it = std::upper_bound(chunks_.begin(), chunks_.end(), row,
                                   [](int64_t r, const Chunk& ch) { return r < ch.row0 + ch.rows; });
  if (it == chunks_.end()) throw Error("shard_of: row " + std::to_string(row) + " is past this rank's rows");
  return it->shard;
}

gptq::HessianAccumulator& ShardedHessian::at(const linalg::Context& ctx, int64_t shard) {
  if (shard != shard_) {
    if (acc_) {
      acc_->add_to(ctx, sum_);
      ++parts_;
    }
    acc_.emplace(sum_.dim(), dtype_);
    shard_ = shard;
  }
  return *acc_;
}

void ShardedHessian::add(const linalg::Context& ctx, int64_t shard, const float* x, int64_t rows) {
  at(ctx, shard).add(ctx, x, rows);
  tokens_ += rows;
  amax_ = std::max(amax_, nvfp4::max_abs(x, static_cast<size_t>(rows * dim())));
}

void ShardedHessian::add_bf16(const linalg::Context& ctx, int64_t shard, const uint16_t* x, int64_t rows,
                              float x_amax) {
  at(ctx, shard).add_bf16(ctx, x, rows);
  tokens_ += rows;
  amax_ = std::max(amax_, x_amax);
}

InputStats ShardedHessian::finish(const linalg::Context& ctx, const dist::Communicator& comm, int to) {
  std::vector<float> single;  // one FP32 shard on one rank: float(Σ · 2/N) from its FP32 sum, as sum_.matrix gives
  if (acc_ && comm.size() == 1 && parts_ == 0 && dtype_ == gptq::HessianDType::F32)
    single = acc_->hessian(ctx);
  else if (acc_)
    acc_->add_to(ctx, sum_);
  acc_.reset();
  const auto t = Clock::now();
  sum_.sum_over_ranks(comm, to);
  InputStats s;
  comm.allreduce_sum(&tokens_, 1);
  comm.allreduce_max(&amax_, 1);
  comm_s_ = since(t);
  s.tokens = tokens_;
  s.input_amax = amax_;
  if (to >= 0 && to != comm.rank()) return s;
  if (!single.empty())
    s.hessian = std::move(single);
  else
    s.hessian = tokens_ > 0 ? sum_.matrix(2.0 / static_cast<double>(tokens_))
                            : std::vector<float>(static_cast<size_t>(dim() * dim()), 0.0f);
  return s;
}

InputStats LayerActivations::hessian_of(const ActivationStore& in) {
  const auto t = Clock::now();
  ShardedHessian h(in.width(), o_.gptq.hessian_dtype);
  std::vector<float> x;
  std::vector<uint16_t> raw;
  for (const auto& ch : chunks_) {
    x.resize(static_cast<size_t>(ch.rows * in.width()));
    in.load(ch.row0, ch.rows, x.data());
    if (in.dtype() == numeric::DType::BF16) {  // the Hessian of exactly what the bf16 matmuls see
      raw.resize(x.size());
      in.load_raw(ch.row0, ch.rows, raw.data());
      h.add_bf16(ctx_, ch.shard, raw.data(), ch.rows, nvfp4::max_abs(x.data(), x.size()));
    } else {
      h.add(ctx_, ch.shard, x.data(), ch.rows);
    }
  }
  auto s = h.finish(ctx_, comm_);
  split_.comm_s += h.comm_seconds();
  split_.hessian_s += since(t);
  split_.hessian_flops += 2.0 * static_cast<double>(tokens_) * in.width() * in.width();
  return s;
}

}  // namespace fp4gptq::pipeline
