#pragma once
// The calibration activations of the decoder layer being quantized and the forward stages that move them
// (docs/DESIGN.md §2): every stage runs over whole-sequence chunks of the activation stores through one helper that
// times it as forward and counts its FLOPs. Stores are kept as bf16 or FP32 (--act-dtype) and, past the
// memory budget, live in files under the offload directory. x holds the residual stream: the layer input,
// then h = x + o(attn), then the layer output.
//   x ─input_norm→ norm [q,k,v in] ─attention→ attn [o in] ─post_attention→ norm [gate,up in] (x := h)
//     ─mlp_act→ act [down in] ─mlp_out→ x (dense) | ─moe_out→ x (sparse)
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "calib/activation_store.hpp"
#include "calib/calibration.hpp"
#include "dist/communicator.hpp"
#include "gptq/hessian.hpp"
#include "io/model_dir.hpp"
#include "model/decoder_layer.hpp"
#include "pipeline/method.hpp"
#include "pipeline/progress.hpp"
#include "pipeline/quantize.hpp"
#include "pipeline/timing.hpp"

namespace fp4gptq::pipeline {

using calib::ActivationStore;

// Whole sequences grouped into chunks of at most chunk_tokens tokens (at least one sequence each), inside
// shards of at most shard_tokens (docs/DESIGN.md §13). Shards are the unit of the data-parallel split and of the
// Hessians' partial sums; row0 counts this rank's rows.
struct Chunk {
  int64_t row0 = 0, rows = 0, shard = 0;
  std::vector<int64_t> seq_lens;
};

// A module input's Hessian (docs/DESIGN.md §5) with what it saw.
struct InputStats {
  std::vector<float> hessian;
  int64_t tokens = 0;
  float input_amax = 0;
  ModuleInput input() const { return {&hessian, tokens, input_amax, {}}; }
};

// A module input's Hessian summed shard by shard over this rank's rows, then over every rank (finish): one
// exact partial sum per shard (gptq/exact_sum.hpp), so the result does not depend on how shards are spread
// over ranks. One FP32 shard on one rank skips the exact sum: the exact sum of one FP32 term is the term, so
// its bytes are the same either way (a one-shard expert input paid ~40 ns per entry for it).
class ShardedHessian {
 public:
  ShardedHessian(int64_t dim, gptq::HessianDType dtype) : dtype_(dtype), sum_(dim) {}
  // Rows of shard `shard` (shards in increasing order); x_amax: their max |x|.
  void add(const linalg::Context& ctx, int64_t shard, const float* x, int64_t rows);
  void add_bf16(const linalg::Context& ctx, int64_t shard, const uint16_t* x, int64_t rows, float x_amax);
  // Collective: H = 2/N Σ x xᵀ over every rank's rows, N their count, and their max |x|: on every rank, or
  // (to >= 0) on rank `to` only, the others getting tokens and amax but no Hessian.
  InputStats finish(const linalg::Context& ctx, const dist::Communicator& comm, int to = -1);
  int64_t dim() const { return sum_.dim(); }
  double comm_seconds() const { return comm_s_; }  // finish()'s time in collectives

 private:
  gptq::HessianAccumulator& at(const linalg::Context& ctx, int64_t shard);
  gptq::HessianDType dtype_;
  gptq::ExactSum sum_;
  std::optional<gptq::HessianAccumulator> acc_;  // the current shard's
  int64_t shard_ = -1, tokens_ = 0, parts_ = 0;  // parts_: shards added to sum_
  float amax_ = 0;
  double comm_s_ = 0;
};

class LayerActivations {
 public:
  // The layer-0 inputs: the embeddings of the calibration tokens.
  // Under a communicator of N ranks, this rank keeps the activations of its shards only (rank r: shards
  // [r·S/N, (r+1)·S/N) of S).
  LayerActivations(const linalg::Context& ctx, const dist::Communicator& comm, const io::ModelDir& src,
                   const model::ModelConfig& config, const calib::CalibrationSet& calib, const QuantizeOptions& options,
                   const Progress& progress, TimeSplit& split);

  ActivationStore& input_norm(const model::DecoderLayer& layer);
  ActivationStore& attention(const model::DecoderLayer& layer, const ActivationStore& xn);
  ActivationStore& post_attention(const model::DecoderLayer& layer, const ActivationStore& attn);
  ActivationStore& mlp_act(const model::DecoderLayer& layer, const ActivationStore& yn, int64_t inter);
  void mlp_out(const model::DecoderLayer& layer, const ActivationStore& act);
  model::Routing route(const model::DecoderLayer& layer, const ActivationStore& yn);
  void moe_out(const model::DecoderLayer& layer, const ActivationStore& yn);
  void save_input();     // keeps the layer input aside (--no-true-sequential)...
  void restore_input();  // ...to run the layer again from it
  ActivationStore& act_store() { return act_; }
  ActivationStore& residual() { return x_; }  // the next layer's input between layers (checkpointed to resume)

  // H = 2/N Σ x xᵀ of every row of `in` on every rank (of exactly its bf16 values for a bf16 store), timed as
  // Hessian. Collective.
  InputStats hessian_of(const ActivationStore& in);

  const std::vector<Chunk>& chunks() const { return chunks_; }  // this rank's
  // The shard of this rank's row `row`.
  int64_t shard_of(int64_t row) const;
  const dist::Communicator& comm() const { return comm_; }
  int64_t total_tokens() const { return total_tokens_; }  // of every rank
  int64_t shards() const { return shards_; }              // of every rank
  int64_t own_shards() const { return own_shards_; }      // this rank's
  const model::ModelConfig& config() const { return c_; }
  const Progress& progress() const { return progress_; }
  int64_t tokens() const { return tokens_; }                    // this rank's
  uint64_t activation_bytes_peak() const { return act_peak_; }  // most bytes its stores held at once (RAM + files)

  // Runs fn(chunk, x, y) over every chunk of `in` (x its rows in FP32, y [rows, width] scratch), then stores y
  // into `out` unless it is null; timed as forward, with `flops` added.
  template <typename F>
  void stage(const ActivationStore& in, ActivationStore* out, int64_t width, double flops, F&& fn) {
    const auto t = Clock::now();
    std::vector<float> x, y;
    for (const auto& ch : chunks_) {
      ctx_.check_cancelled();
      x.resize(static_cast<size_t>(ch.rows * in.width()));
      in.load(ch.row0, ch.rows, x.data());
      y.resize(static_cast<size_t>(ch.rows * width));
      fn(ch, x.data(), y.data());
      if (out) out->store(ch.row0, ch.rows, y.data());
    }
    split_.forward_flops += flops;
    split_.forward_s += since(t);
  }

 private:
  ActivationStore& reset(ActivationStore& s, int64_t width);
  const linalg::Context& ctx_;
  const dist::Communicator& comm_;
  const model::ModelConfig& c_;
  const QuantizeOptions& o_;
  const Progress& progress_;
  TimeSplit& split_;
  std::vector<Chunk> chunks_;
  int64_t tokens_ = 0, total_tokens_ = 0, shards_ = 0, own_shards_ = 0;
  uint64_t act_peak_ = 0;
  std::unique_ptr<model::RopeTable> rope_;
  std::filesystem::path offload_dir_;
  ActivationStore x_, x0_, norm_, attn_, act_;
};

}  // namespace fp4gptq::pipeline
