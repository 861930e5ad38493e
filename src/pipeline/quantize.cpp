#include "pipeline/quantize.hpp"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "calib/activation_store.hpp"
#include "fp4gptq/error.hpp"
#include "gptq/hessian.hpp"
#include "gptq/solver.hpp"
#include "linalg/parallel.hpp"
#include "model/causal_lm.hpp"
#include "model/decoder_layer.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

namespace {

using calib::ActivationStore;
using Clock = std::chrono::steady_clock;
using model::SeqGroup;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Whole sequences grouped into chunks of at most chunk_tokens tokens (at least one sequence each).
struct Chunk {
  int64_t row0 = 0, rows = 0;
  std::vector<int64_t> seq_lens;
};

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

// Rounds values to the output dtype and back, so the propagated activations see exactly the saved weights.
void round_to(std::vector<float>& v, numeric::DType dtype) {
  std::vector<uint16_t> tmp(v.size());
  numeric::from_f32(dtype, v.data(), tmp.data(), v.size());
  numeric::to_f32(dtype, tmp.data(), v.data(), v.size());
}

class Driver {
 public:
  Driver(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
         const calib::CalibrationSet& calib, const QuantizeOptions& o)
      : out_(out), src_(src), plan_(plan), c_(plan.config), o_(o), chunks_(make_chunks(calib, o.chunk_tokens)),
        progress_("quantize", static_cast<int64_t>(plan.layers.size()), o.quiet),
        offload_dir_(o.offload_dir.empty() ? std::filesystem::temp_directory_path() : o.offload_dir) {
    if (o.max_act_bytes > 0 && !std::filesystem::is_directory(offload_dir_))
      throw Error("--offload-dir " + offload_dir_.string() + " is not a directory");
    for (const auto& s : calib.samples) longest_ = std::max(longest_, static_cast<int64_t>(s.size()));
    tokens_ = calib.tokens();
    rope_ = std::make_unique<model::RopeTable>(c_, longest_);
    // Layer-0 inputs: the token embeddings.
    reset(x_, c_.hidden_size);
    std::vector<int32_t> ids;
    for (const auto& s : calib.samples) ids.insert(ids.end(), s.begin(), s.end());
    for (const auto& ch : chunks_) {
      const std::vector<int32_t> part(ids.begin() + ch.row0, ids.begin() + ch.row0 + ch.rows);
      const auto e = model::embed_tokens(src, c_, part);
      x_.store(ch.row0, ch.rows, e.data());
    }
  }

  QuantizeSummary run() {
    const auto start = Clock::now();
    const auto by_layer = tensors_by_layer(src_, static_cast<int64_t>(plan_.layers.size()));
    for (const auto& lp : plan_.layers) {
      progress_.layer_started(lp.index, "");
      auto t = Clock::now();
      model::DecoderLayer layer(c_, lp, src_, o_.compute);
      split_.io_s += since(t);
      if (o_.true_sequential)
        run_layer_sequential(lp, layer);
      else
        run_layer_at_once(lp, layer);
      t = Clock::now();
      write_remaining(out_, src_, by_layer.layers[lp.index], written_, o_.dtype);
      split_.io_s += since(t);
      progress_.layer_done(lp.index, fmt::format("{} modules quantized so far", summary_.modules));
    }
    const auto t = Clock::now();
    write_remaining(out_, src_, by_layer.others, written_, o_.dtype);
    split_.io_s += since(t);
    summary_.tokens = tokens_;
    summary_.seconds = since(start);
    summary_.split = split_;
    summary_.peak_rss = peak_rss_bytes();
    if (summary_.modules > 0) {
      summary_.mean_rel_err = rel_sum_ / static_cast<double>(summary_.modules);
      summary_.mean_rtn_rel_err = rtn_sum_ / static_cast<double>(summary_.modules);
    }
    return summary_;
  }

  nlohmann::ordered_json& modules_report() { return modules_; }
  nlohmann::ordered_json& skipped_report() { return skipped_; }

 private:
  // Runs `fn(chunk, x_f32)` over every chunk of a store, x converted to FP32.
  template <typename F>
  void each_chunk(const ActivationStore& s, F&& fn) {
    std::vector<float> x;
    for (const auto& ch : chunks_) {
      x.resize(static_cast<size_t>(ch.rows * s.width()));
      s.load(ch.row0, ch.rows, x.data());
      fn(ch, x);
    }
  }

  // Stores are re-shaped, not re-allocated, so their pages stay faulted in from layer to layer. A store that
  // would take the activations in RAM past --max-act-memory goes to a file under --offload-dir instead.
  ActivationStore& reset(ActivationStore& s, int64_t width, numeric::DType dtype = numeric::DType::BF16,
                         bool force_dtype = false) {
    if (!force_dtype) dtype = o_.act_dtype;
    const uint64_t need = static_cast<uint64_t>(tokens_ * width) * numeric::dtype_size(dtype);
    uint64_t resident = 0;
    for (const auto* other : {&x_, &x0_, &norm_, &attn_, &act_})
      if (other != &s && !other->on_disk()) resident += other->bytes();
    const bool spill = o_.max_act_bytes > 0 && resident + need > o_.max_act_bytes;
    if (spill && !s.on_disk())
      progress_.note(fmt::format("activations past --max-act-memory: {:.0f} MiB offloaded to {}", need / 1048576.0,
                                 offload_dir_.string()));
    s.reset(dtype, tokens_, width, spill ? &offload_dir_ : nullptr);
    return s;
  }

  // The forward stages (DecoderLayer's), each from one store to the next, timed as forward. The input norm
  // and the post-attention norm share one store: the first is consumed before the second is made.
  ActivationStore& stage_input_norm(const model::DecoderLayer& layer) {
    const auto t = Clock::now();
    auto& xn = reset(norm_, c_.hidden_size);
    std::vector<float> y;
    each_chunk(x_, [&](const Chunk& ch, const std::vector<float>& x) {
      y.resize(x.size());
      layer.input_norm(x.data(), ch.rows, y.data());
      xn.store(ch.row0, ch.rows, y.data());
    });
    split_.forward_s += since(t);
    return xn;
  }

  ActivationStore& stage_attention(const model::DecoderLayer& layer, const ActivationStore& xn) {
    const auto t = Clock::now();
    const int64_t width = c_.num_attention_heads * c_.head_dim;
    auto& attn = reset(attn_, width);
    std::vector<float> y;
    each_chunk(xn, [&](const Chunk& ch, const std::vector<float>& x) {
      y.resize(static_cast<size_t>(ch.rows * width));
      layer.attention(x.data(), ch.seq_lens, *rope_, y.data());
      attn.store(ch.row0, ch.rows, y.data());
      for (const auto len : ch.seq_lens) split_.forward_flops += 2.0 * len * len * width;  // causal half
    });
    split_.forward_flops += 2.0 * tokens_ * c_.hidden_size * (width + 2 * c_.num_key_value_heads * c_.head_dim);
    split_.forward_s += since(t);
    return attn;
  }

  // h = x + o(attn) (kept in x_) and the post-attention norm of it.
  ActivationStore& stage_post_attention(const model::DecoderLayer& layer, const ActivationStore& attn) {
    const auto t = Clock::now();
    auto& yn = reset(norm_, c_.hidden_size);
    std::vector<float> x, h, y;
    each_chunk(attn, [&](const Chunk& ch, const std::vector<float>& a) {
      x.resize(static_cast<size_t>(ch.rows * c_.hidden_size));
      h.resize(x.size());
      y.resize(x.size());
      x_.load(ch.row0, ch.rows, x.data());
      layer.attention_out(x.data(), a.data(), ch.rows, h.data());
      x_.store(ch.row0, ch.rows, h.data());
      layer.post_norm(h.data(), ch.rows, y.data());
      yn.store(ch.row0, ch.rows, y.data());
    });
    split_.forward_flops += 2.0 * tokens_ * attn.width() * c_.hidden_size;
    split_.forward_s += since(t);
    return yn;
  }

  ActivationStore& stage_mlp_act(const model::DecoderLayer& layer, const ActivationStore& yn, int64_t inter) {
    const auto t = Clock::now();
    auto& act = reset(act_, inter);
    std::vector<float> y;
    each_chunk(yn, [&](const Chunk& ch, const std::vector<float>& x) {
      y.resize(static_cast<size_t>(ch.rows * inter));
      layer.mlp_act(x.data(), ch.rows, y.data());
      act.store(ch.row0, ch.rows, y.data());
    });
    split_.forward_flops += 4.0 * tokens_ * c_.hidden_size * inter;
    split_.forward_s += since(t);
    return act;
  }

  // Layer output: x_ (holding h) + down(act).
  void stage_mlp_out(const model::DecoderLayer& layer, const ActivationStore& act) {
    const auto t = Clock::now();
    std::vector<float> h, y;
    each_chunk(act, [&](const Chunk& ch, const std::vector<float>& a) {
      h.resize(static_cast<size_t>(ch.rows * c_.hidden_size));
      y.resize(h.size());
      x_.load(ch.row0, ch.rows, h.data());
      layer.mlp_out(h.data(), a.data(), ch.rows, y.data());
      x_.store(ch.row0, ch.rows, y.data());
    });
    split_.forward_flops += 2.0 * tokens_ * act.width() * c_.hidden_size;
    split_.forward_s += since(t);
  }

  static int64_t mlp_width(const model::LayerPlan& lp) {
    for (const auto& m : lp.linears)
      if (m.group == SeqGroup::MlpDown) return m.in;
    return 0;
  }

  void run_layer_sequential(const model::LayerPlan& lp, model::DecoderLayer& layer) {
    progress_.note(fmt::format("layer {} group attn.qkv", lp.index));
    const auto& xn = stage_input_norm(layer);
    quantize_group(lp, layer, SeqGroup::AttnQKV, xn);
    progress_.note(fmt::format("layer {} group attn.o", lp.index));
    const auto& attn = stage_attention(layer, xn);
    quantize_group(lp, layer, SeqGroup::AttnO, attn);
    progress_.note(fmt::format("layer {} group mlp.gate_up", lp.index));
    const auto& yn = stage_post_attention(layer, attn);
    if (layer.sparse()) {
      progress_.note(fmt::format("layer {} experts: [gate,up] then [down] of each", lp.index));
      run_sparse_mlp(lp, layer, yn);
      return;
    }
    quantize_group(lp, layer, SeqGroup::MlpGateUp, yn);
    progress_.note(fmt::format("layer {} group mlp.down", lp.index));
    const auto& act = stage_mlp_act(layer, yn, mlp_width(lp));
    quantize_group(lp, layer, SeqGroup::MlpDown, act);
    stage_mlp_out(layer, act);
  }

  // --no-true-sequential: every group's inputs from the layer with its original weights, all groups solved,
  // then the layer run again with its quantized weights for the next layer's inputs.
  void run_layer_at_once(const model::LayerPlan& lp, model::DecoderLayer& layer) {
    if (layer.sparse()) {  // experts are always calibrated from the layer with its attention quantized
      if (!warned_sparse_at_once_) spdlog::warn("--no-true-sequential does not apply to mixture-of-experts layers");
      warned_sparse_at_once_ = true;
      run_layer_sequential(lp, layer);
      return;
    }
    reset(x0_, c_.hidden_size).copy_from(x_);
    // The input norm's store is reused by the post-attention norm, so the [q,k,v] group is solved first.
    const auto& xn = stage_input_norm(layer);
    quantize_group(lp, layer, SeqGroup::AttnQKV, xn, /*apply=*/false);
    const auto& attn = stage_attention(layer, xn);
    quantize_group(lp, layer, SeqGroup::AttnO, attn, false);
    const auto& yn = stage_post_attention(layer, attn);
    const auto& act = stage_mlp_act(layer, yn, mlp_width(lp));
    quantize_group(lp, layer, SeqGroup::MlpGateUp, yn, false);
    quantize_group(lp, layer, SeqGroup::MlpDown, act, false);
    for (auto& [module, w] : pending_) layer.linear(module).set_weight(w.data());
    pending_.clear();
    x_.copy_from(x0_);
    const auto& attn_q = stage_attention(layer, stage_input_norm(layer));
    stage_mlp_act(layer, stage_post_attention(layer, attn_q), mlp_width(lp));
    stage_mlp_out(layer, act_);
  }

  // The quantized Linears of group g (optionally of one expert); the others are reported as skipped.
  std::vector<const model::PlannedLinear*> group_modules(const model::LayerPlan& lp, SeqGroup g, int64_t expert = -1) {
    std::vector<const model::PlannedLinear*> mods;
    for (const auto& m : lp.linears)
      if (m.group == g && (expert < 0 || m.expert == expert)) {
        if (m.quantize) {
          mods.push_back(&m);
        } else {
          spdlog::warn("{} left unquantized: {}", m.module, m.skip_reason);
          skipped_[m.module] = m.skip_reason;
          ++summary_.skipped;
        }
      }
    return mods;
  }

  // A Hessian being built, with the tokens and input amax it saw.
  struct Hessian {
    gptq::HessianAccumulator acc;
    float input_amax = 0;
    Hessian(int64_t dim, gptq::HessianDType dt) : acc(dim, dt) {}
    void add_f32(const float* x, int64_t rows) {
      acc.add(x, rows);
      input_amax = std::max(input_amax, nvfp4::max_abs(x, static_cast<size_t>(rows * acc.dim())));
    }
  };

  // The Hessian of every row of a store.
  Hessian hessian_of(const ActivationStore& in) {
    const auto t = Clock::now();
    Hessian h(in.width(), o_.gptq.hessian_dtype);
    std::vector<float> x;
    std::vector<uint16_t> raw;
    for (const auto& ch : chunks_) {
      x.resize(static_cast<size_t>(ch.rows * in.width()));
      in.load(ch.row0, ch.rows, x.data());
      if (in.dtype() == numeric::DType::BF16) {  // the Hessian of exactly what the bf16 matmuls see
        raw.resize(x.size());
        in.load_raw(ch.row0, ch.rows, raw.data());
        h.acc.add_bf16(raw.data(), ch.rows);
        h.input_amax = std::max(h.input_amax, nvfp4::max_abs(x.data(), x.size()));
      } else {
        h.add_f32(x.data(), ch.rows);
      }
    }
    split_.hessian_s += since(t);
    split_.hessian_flops += 2.0 * static_cast<double>(h.acc.tokens()) * in.width() * in.width();
    return h;
  }

  // Hessians (one per distinct input), then GPTQ for every quantized Linear of group g, whose inputs are `in`.
  // apply = false: the quantized weights wait in pending_ until every group of the layer is solved.
  void quantize_group(const model::LayerPlan& lp, model::DecoderLayer& layer, SeqGroup g, const ActivationStore& in,
                      bool apply = true) {
    const auto mods = group_modules(lp, g);
    if (mods.empty()) return;
    // All modules of one group read the same input here (q/k/v; gate/up; o; down), so one Hessian serves all.
    const Hessian h = hessian_of(in);
    for (auto& s : solve(mods, h, "", split_)) {
      write_solved(s, split_.io_s);
      note_solved(s);
      report_solved(s);
      if (apply)
        layer.linear(s.m->module).set_weight(s.r.q.dequant.data());
      else
        pending_[s.m->module] = std::move(s.r.q.dequant);
    }
  }

  // A solved module: its result (dequantized weights rounded to the output dtype), the calibration it saw.
  struct Solved {
    const model::PlannedLinear* m = nullptr;
    gptq::GptqResult r;
    double seconds = 0;
    int64_t tokens = 0;
    float input_amax = 0;
  };

  // GPTQ of modules reading one input (Hessian hs), or round-to-nearest when `rtn_reason` says why. Touches
  // no shared state (times go to `split`), so experts are solved on several threads at once.
  std::vector<Solved> solve(const std::vector<const model::PlannedLinear*>& mods, const Hessian& hs,
                            const std::string& rtn_reason, TimeSplit& split) const {
    const int64_t tokens = hs.acc.tokens(), dim = hs.acc.dim();
    auto t = Clock::now();
    const auto h = hs.acc.hessian();
    split.hessian_s += since(t);
    // Fused global scales: the amax of the original weights of the modules sharing this input.
    std::map<std::string, float> group_amax;
    t = Clock::now();
    std::vector<std::vector<float>> weights;
    for (const auto* m : mods) {
      weights.push_back(model::read_weight(src_, *m));
      float& a = group_amax[o_.fuse_scales ? m->input_key : m->module];
      a = std::max(a, nvfp4::max_abs(weights.back().data(), weights.back().size()));
    }
    split.io_s += since(t);

    std::vector<Solved> out;
    for (size_t i = 0; i < mods.size(); ++i) {
      const auto* m = mods[i];
      const auto& w = weights[i];
      t = Clock::now();
      const float scale_2 = nvfp4::global_scale(group_amax.at(o_.fuse_scales ? m->input_key : m->module));
      Solved s{m, {}, 0, tokens, hs.input_amax};
      auto& r = s.r;
      if (rtn_reason.empty()) {
        auto cfg = o_.gptq;
        cfg.scale_2 = scale_2;
        r = gptq::gptq_quantize(w.data(), m->out, m->in, h.data(), dim, cfg, m->module);
        split.solve_flops += static_cast<double>(m->out) * m->in * m->in + 4.0 / 3.0 * std::pow(static_cast<double>(m->in), 3);
      } else {
        r.q = nvfp4::quantize_rtn(w.data(), m->out, m->in, scale_2, m->module);
        r.fallback = true;
        r.note = rtn_reason;
        if (tokens > 0) {  // RTN's output error on the little calibration the module saw
          std::vector<float> dw(w.size());
          for (size_t j = 0; j < w.size(); ++j) dw[j] = w[j] - r.q.dequant[j];
          const double den = gptq::quadratic_form_trace(w.data(), m->out, m->in, h.data());
          r.rel_err = r.rtn_rel_err = den > 0 ? gptq::quadratic_form_trace(dw.data(), m->out, m->in, h.data()) / den : 0.0;
        }
      }
      round_to(r.q.dequant, o_.dtype);  // what the checkpoint holds, and what the next inputs see
      s.seconds = since(t);
      split.solve_s += s.seconds;
      out.push_back(std::move(s));
    }
    return out;
  }

  // Writes a solved module's weight, scales and input amax into the checkpoint (time added to io_s).
  void write_solved(const Solved& s, double& io_s) {
    const auto t = Clock::now();
    write_weight(out_, *s.m, s.r.q.dequant.data(), o_.dtype);
    write_module_scales(out_, *s.m, s.r.q);
    write_input_amax(out_, *s.m, s.input_amax);
    written_.insert(s.m->tensor);
    io_s += since(t);
  }

  // Its log line (a warning for retries and fallbacks).
  void note_solved(const Solved& s) const {
    const auto& r = s.r;
    const std::string line = fmt::format("{} rel_err {:.5f} (rtn {:.5f}) loss {:.4g} damp {:.2f} tokens {}{} {}",
                                         s.m->module, r.rel_err, r.rtn_rel_err, r.loss, r.damp, s.tokens,
                                         r.fallback ? " FALLBACK" : "", format_seconds(s.seconds));
    if (r.fallback || r.retries)
      spdlog::warn("{}: {}", line, r.note);
    else
      progress_.note(line);
  }

  // Its entry in quantization_report.json and the summary.
  void report_solved(const Solved& s) {
    const auto& r = s.r;
    ++summary_.modules;
    summary_.fallbacks += r.fallback;
    rel_sum_ += r.rel_err;
    rtn_sum_ += r.rtn_rel_err;
    auto& j = modules_[s.m->module];
    j = {{"loss", r.loss},       {"rel_err", r.rel_err}, {"rtn_rel_err", r.rtn_rel_err},
         {"damp", r.damp},       {"tokens", s.tokens},   {"fallback", r.fallback},
         {"retries", r.retries}, {"dead_columns", r.dead_columns},
         {"input_amax", s.input_amax}, {"scale_2", r.q.scale_2}, {"time_s", s.seconds}};
    if (s.m->fused())
      j["stored_in"] = fmt::format("{}[{}, {}:{}]", s.m->tensor, s.m->expert, s.m->part * s.m->out,
                                   (s.m->part + 1) * s.m->out);
    if (!r.note.empty()) j["note"] = r.note;
  }

  // A sparse MoE layer's MLP (DESIGN §6): every token is routed (router in FP32); each expert's gate/up
  // Hessian comes from the tokens routed to it (every token with --moe-calibrate-all), its down Hessian from
  // its own activations with its gate/up quantized; an expert with fewer than the minimum tokens falls back
  // to round-to-nearest. Experts are independent, so each is done whole ([gate,up] then [down]), several at
  // once on the --threads workers (each single-threaded): the same as all [gate,up] then all [down]. The layer
  // output then comes from the MoE forward with the real routing and the quantized experts.
  void run_sparse_mlp(const model::LayerPlan& lp, model::DecoderLayer& layer, const ActivationStore& yn) {
    const int64_t E = c_.num_experts, k = c_.num_experts_per_tok;
    auto t = Clock::now();
    model::Routing routing;
    routing.k = k;
    routing.experts.resize(static_cast<size_t>(tokens_ * k));
    routing.weights.resize(routing.experts.size());
    each_chunk(yn, [&](const Chunk& ch, const std::vector<float>& x) {
      const auto r = layer.route(x.data(), ch.rows);
      std::copy(r.experts.begin(), r.experts.end(), routing.experts.begin() + ch.row0 * k);
      std::copy(r.weights.begin(), r.weights.end(), routing.weights.begin() + ch.row0 * k);
    });
    split_.forward_s += since(t);
    split_.forward_flops += 2.0 * tokens_ * c_.hidden_size * E;
    std::optional<Hessian> all_tokens;  // --moe-calibrate-all: one gate/up Hessian of every token, for every expert
    if (o_.moe_calibrate_all) all_tokens.emplace(hessian_of(yn));

    ExpertJobs jobs(lp, layer, yn, routing, all_tokens ? &*all_tokens : nullptr,
                    o_.moe_min_tokens >= 0 ? o_.moe_min_tokens : default_moe_min_tokens());
    for (int64_t e = 0; e < E; ++e) {  // (group_modules records skipped modules: not on the workers)
      jobs.gate_up.push_back(group_modules(lp, SeqGroup::MlpGateUp, e));
      jobs.down.push_back(group_modules(lp, SeqGroup::MlpDown, e));
    }
    jobs.results.resize(static_cast<size_t>(E));
    const int workers = static_cast<int>(std::min<int64_t>(linalg::num_threads(), E));
    std::vector<TimeSplit> splits(static_cast<size_t>(workers));
    t = Clock::now();
    linalg::parallel_tasks(E, workers, [&](int64_t e, int w) { run_expert(jobs, e, splits[static_cast<size_t>(w)]); });
    // Per-part times: the workers' mean (they ran side by side); FLOPs: the total.
    for (const auto& sp : splits) {
      split_.forward_s += sp.forward_s / workers;
      split_.hessian_s += sp.hessian_s / workers;
      split_.solve_s += sp.solve_s / workers;
      split_.io_s += sp.io_s / workers;
      split_.forward_flops += sp.forward_flops;
      split_.hessian_flops += sp.hessian_flops;
      split_.solve_flops += sp.solve_flops;
    }
    split_.io_s += jobs.io_s;
    for (const auto& solved : jobs.results)  // the report in expert order, whatever order they finished in
      for (const auto& s : solved) report_solved(s);
    progress_.note(fmt::format("layer {}: {} experts on {} threads in {}", lp.index, E, workers, format_seconds(since(t))));
    stage_moe_out(layer, yn);
  }

  // What the expert workers share (read-only, except results[e], which only expert e's worker writes).
  struct ExpertJobs {
    ExpertJobs(const model::LayerPlan& l, model::DecoderLayer& d, const ActivationStore& y, const model::Routing& r,
               const Hessian* all, int64_t min)
        : lp(l), layer(d), yn(y), routing(r), all_tokens(all), min_tokens(min) {}
    const model::LayerPlan& lp;
    model::DecoderLayer& layer;
    const ActivationStore& yn;
    const model::Routing& routing;
    const Hessian* all_tokens;  // --moe-calibrate-all
    int64_t min_tokens;
    std::vector<std::vector<const model::PlannedLinear*>> gate_up, down;  // quantized modules per expert
    std::vector<std::vector<Solved>> results;                            // per expert, weights dropped
    std::mutex mu;  // guards the checkpoint writer, progress and these:
    int64_t done = 0;
    double io_s = 0;
    Clock::time_point start = Clock::now();
  };

  // One expert, on a worker thread: [gate,up] Hessian from its routed tokens and solve, its quantized gate/up
  // swapped in, then the [down] Hessian from its activations and solve. Its tokens are gathered at most
  // QuantizeOptions::expert_rows at a time (kept between the two passes when they fit in one).
  void run_expert(ExpertJobs& jobs, int64_t e, TimeSplit& sp) {
    const int64_t H = c_.hidden_size, inter = c_.moe_intermediate_size;
    const int64_t piece = std::max<int64_t>(o_.expert_rows, 1);
    std::vector<int64_t> idx;
    std::vector<float> rw, x, act;
    jobs.routing.rows_of(static_cast<int32_t>(e), idx, rw);
    const auto n = static_cast<int64_t>(idx.size());
    const int64_t seen = o_.moe_calibrate_all ? tokens_ : n;
    const int64_t need = std::max<int64_t>(jobs.min_tokens, 1);  // no tokens at all: always round-to-nearest
    const std::string starved =
        seen < need ? fmt::format("starved expert: {} calibration tokens < --moe-min-tokens {}: round-to-nearest", seen, need)
                    : "";
    int64_t gathered = -1;  // first row of the piece now in x
    auto gather = [&](int64_t r0) {
      if (gathered == r0) return std::min(piece, n - r0);
      const auto t = Clock::now();
      const int64_t cnt = std::min(piece, n - r0);
      x.resize(static_cast<size_t>(cnt * H));
      for (int64_t i = 0; i < cnt; ++i) jobs.yn.load(idx[r0 + i], 1, &x[i * H]);
      gathered = r0;
      sp.forward_s += since(t);
      return cnt;
    };
    auto finish = [&](const std::vector<const model::PlannedLinear*>& mods, const Hessian& h) {
      auto solved = solve(mods, h, starved, sp);
      for (auto& s : solved) jobs.layer.linear(s.m->module).set_weight(s.r.q.dequant.data());
      const std::lock_guard<std::mutex> lock(jobs.mu);
      for (auto& s : solved) {
        write_solved(s, jobs.io_s);
        note_solved(s);
        s.r.q = {0, 0, {}, {}, s.r.q.scale_2, {}};  // written and swapped in: the report keeps the scalars
        s.r.g_idx = {};
        jobs.results[static_cast<size_t>(e)].push_back(std::move(s));
      }
    };

    if (const auto& mods = jobs.gate_up[static_cast<size_t>(e)]; !mods.empty()) {
      if (jobs.all_tokens) {
        finish(mods, *jobs.all_tokens);
      } else {
        Hessian h(H, o_.gptq.hessian_dtype);
        for (int64_t r0 = 0; r0 < n; r0 += piece) {
          const int64_t cnt = gather(r0);
          const auto t = Clock::now();
          h.add_f32(x.data(), cnt);
          sp.hessian_s += since(t);
        }
        sp.hessian_flops += 2.0 * n * H * H;
        finish(mods, h);
      }
    }
    if (const auto& mods = jobs.down[static_cast<size_t>(e)]; !mods.empty()) {
      Hessian h(inter, o_.gptq.hessian_dtype);
      // The activations of the tokens it learns from (every token with --moe-calibrate-all), through its
      // quantized gate/up.
      auto add_act = [&](const float* xs, int64_t cnt) {
        auto t = Clock::now();
        act.resize(static_cast<size_t>(cnt * inter));
        jobs.layer.expert_act(e, xs, cnt, act.data());
        sp.forward_s += since(t);
        sp.forward_flops += 4.0 * cnt * H * inter;
        t = Clock::now();
        h.add_f32(act.data(), cnt);
        sp.hessian_s += since(t);
        sp.hessian_flops += 2.0 * cnt * inter * inter;
      };
      if (o_.moe_calibrate_all) {
        std::vector<float> xa;
        for (const auto& ch : chunks_) {
          xa.resize(static_cast<size_t>(ch.rows * H));
          jobs.yn.load(ch.row0, ch.rows, xa.data());
          add_act(xa.data(), ch.rows);
        }
      } else {
        for (int64_t r0 = 0; r0 < n; r0 += piece) {
          const int64_t cnt = gather(r0);  // (before x.data(): gathering may move x)
          add_act(x.data(), cnt);
        }
      }
      finish(mods, h);
    }
    const std::lock_guard<std::mutex> lock(jobs.mu);
    if (++jobs.done % 16 == 0 || jobs.done == c_.num_experts) {
      const double s = since(jobs.start);
      progress_.note(fmt::format("layer {} experts {}/{} done in {} (ETA {} for the layer's experts; elapsed {})",
                                 jobs.lp.index, jobs.done, c_.num_experts, format_seconds(s),
                                 format_seconds(s / static_cast<double>(jobs.done) * static_cast<double>(c_.num_experts - jobs.done)),
                                 format_seconds(progress_.elapsed())));
    }
  }

  // Sparse layer output: x_ (holding h) + the MoE block of the quantized experts (DecoderLayer::mlp).
  void stage_moe_out(const model::DecoderLayer& layer, const ActivationStore& yn) {
    const auto t = Clock::now();
    std::vector<float> h, y;
    each_chunk(yn, [&](const Chunk& ch, const std::vector<float>& x) {
      h.resize(x.size());
      y.resize(x.size());
      x_.load(ch.row0, ch.rows, h.data());
      layer.mlp(x.data(), ch.rows, y.data());
      for (size_t i = 0; i < h.size(); ++i) h[i] += y[i];
      x_.store(ch.row0, ch.rows, h.data());
    });
    split_.forward_flops += 2.0 * tokens_ * c_.hidden_size * c_.num_experts +
                            6.0 * tokens_ * c_.num_experts_per_tok * c_.hidden_size * c_.moe_intermediate_size;
    split_.forward_s += since(t);
  }

  // Default --moe-min-tokens: 10% of an expert's expected share of the routed tokens (tokens · k / experts).
  int64_t default_moe_min_tokens() const {
    return std::max<int64_t>(1, tokens_ * c_.num_experts_per_tok / std::max<int64_t>(c_.num_experts, 1) / 10);
  }

  io::CheckpointWriter& out_;
  const io::ModelDir& src_;
  const model::ModelPlan& plan_;
  const model::ModelConfig& c_;
  const QuantizeOptions& o_;
  std::vector<Chunk> chunks_;
  Progress progress_;
  std::unique_ptr<model::RopeTable> rope_;
  int64_t longest_ = 0, tokens_ = 0;
  std::filesystem::path offload_dir_;
  ActivationStore x_, x0_, norm_, attn_, act_;
  std::map<std::string, std::vector<float>> pending_;
  bool warned_sparse_at_once_ = false;
  std::set<std::string> written_;
  nlohmann::ordered_json modules_ = nlohmann::ordered_json::object(), skipped_ = nlohmann::ordered_json::object();
  QuantizeSummary summary_;
  TimeSplit split_;
  double rel_sum_ = 0, rtn_sum_ = 0;
};

const char* block_scales_name(const gptq::GptqConfig& g) {
  return g.block_scales == gptq::BlockScales::Static ? "static" : "dynamic";
}

}  // namespace

QuantizeSummary quantize_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                              const calib::CalibrationSet& calib, const QuantizeOptions& o) {
  Driver d(out, src, plan, calib, o);
  auto s = d.run();
  s.samples = static_cast<int64_t>(calib.samples.size());

  out.write_json("config.json", output_config(src.config(), o.dtype));
  const bool static_groups = o.gptq.desc_act || o.gptq.block_scales == gptq::BlockScales::Static;
  out.write_json("quantize_config.json",
                 {{"bits", 4},
                  {"group_size", 16},
                  {"desc_act", o.gptq.desc_act},
                  {"static_groups", static_groups},
                  {"sym", true},
                  {"damp_percent", o.gptq.damp_percent},
                  {"true_sequential", o.true_sequential},
                  {"quant_method", "nvfp4"},
                  {"algorithm", "gptq"},
                  {"block_scales", static_groups ? "static" : block_scales_name(o.gptq)},
                  {"fuse_scales", o.fuse_scales},
                  {"block_size", o.gptq.block_size},
                  {"model_file_base_name", io::kModelFileBase},
                  {"pseudo_quantized", true}});
  for (const auto& f : side_files(src.dir())) out.copy_file(f);
  nlohmann::ordered_json report;
  report["method"] = "gptq";
  report["model"] = src.dir().string();
  report["calibration"] = {{"samples", s.samples}, {"tokens", s.tokens}};
  report["summary"] = {{"quantized_modules", s.modules},
                       {"fallbacks", s.fallbacks},
                       {"skipped_modules", s.skipped},
                       {"mean_rel_err", s.mean_rel_err},
                       {"mean_rtn_rel_err", s.mean_rtn_rel_err},
                       {"seconds", s.seconds},
                       {"peak_rss_bytes", s.peak_rss},
                       {"time_split_s",
                        {{"forward", s.split.forward_s}, {"hessian", s.split.hessian_s}, {"solve", s.split.solve_s},
                         {"io", s.split.io_s}}},
                       {"flops",
                        {{"forward", s.split.forward_flops},
                         {"hessian", s.split.hessian_flops},
                         {"solve", s.split.solve_flops}}}};
  report["modules"] = d.modules_report();
  report["skipped"] = d.skipped_report();
  out.write_json("quantization_report.json", report);
  return s;
}

}  // namespace fp4gptq::pipeline
