#include "pipeline/layer_loop.hpp"

#include <fmt/core.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "fp4gptq/error.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/expert_scheduler.hpp"
#include "pipeline/log.hpp"
#include "pipeline/spread_solve.hpp"

namespace fp4gptq::pipeline {

using model::SeqGroup;

namespace {

// Fault injection for the tests of data-parallel runs (docs/DESIGN.md §13): FP4GPTQ_TEST_FAULT=MODE:RANK:LAYER
// makes rank RANK fail as it starts decoder layer LAYER: MODE error (bad input), oom (std::bad_alloc) or kill
// (SIGKILL, as the kernel's OOM killer does).
void injected_fault(const dist::Communicator& comm, int64_t layer) {
  const char* spec = std::getenv("FP4GPTQ_TEST_FAULT");
  if (!spec) return;
  char mode[16] = {};
  int rank = -1;
  long long at = -1;
  if (std::sscanf(spec, "%15[a-z]:%d:%lld", mode, &rank, &at) != 3 || rank != comm.rank() || at != layer) return;
  const std::string m(mode);
  if (m == "kill") std::raise(SIGKILL);
  if (m == "oom") throw std::bad_alloc();
  throw Error(fmt::format("FP4GPTQ_TEST_FAULT: injected failure at layer {}", layer));
}

int64_t mlp_width(const model::LayerPlan& lp) {
  for (const auto& m : lp.linears)
    if (m.group == SeqGroup::MlpDown) return m.in;
  return 0;
}

}  // namespace

LayerLoop::LayerLoop(const linalg::Context& ctx, const Method& method, OutputFormat& out, const io::ModelDir& src,
                     const model::ModelPlan& plan, const QuantizeOptions& o, const calib::CalibrationSet* calib,
                     ResumeJournal* journal, const dist::Communicator& comm)
    : ctx_(ctx),
      method_(method),
      out_(out),
      src_(src),
      plan_(plan),
      o_(o),
      calib_(calib),
      journal_(journal),
      comm_(comm),
      progress_(method.name(), static_cast<int64_t>(plan.layers.size()), o.quiet || !comm.is_root()),
      report_(method),
      solver_(src, method, out, report_, progress_, o.fuse_scales, o.scale_rule.scale2_max) {
  if (method.calibrated()) {
    if (!calib) throw Error(std::string(method.name()) + ": calibration samples are required");
    acts_.emplace(ctx, comm, src, plan.config, *calib, o, progress_, split_);
    if (comm.size() > 1)
      progress_.note(fmt::format("{} ranks: {} shards of at most {} tokens, {} of them on rank 0", comm.size(),
                                 acts_->shards(), o.shard_tokens, acts_->own_shards()));
  }
  if (!acts_) journal_ = nullptr;  // only calibrated runs carry state across layers worth journaling
}

QuantizeSummary LayerLoop::run() {
  const auto start = Clock::now();
  const auto by_layer = tensors_by_layer(src_, static_cast<int64_t>(plan_.layers.size()));
  const int64_t first = journal_ ? journal_->restore(report_, split_, acts_->residual()) : 0;
  if (first > 0)
    progress_.note(fmt::format("resuming: layers 1-{} of {} were finished by an earlier run", first,
                               plan_.layers.size()));
  for (const auto& lp : plan_.layers) {
    if (lp.index < first) continue;
    ctx_.check_cancelled();
    injected_fault(comm_, lp.index);
    progress_.layer_started(lp.index, lp.sparse ? "(MoE)" : "");
    if (acts_) {
      auto t = Clock::now();
      model::DecoderLayer layer(plan_.config, lp, src_, o_.compute);
      split_.io_s += since(t);
      if (o_.true_sequential || lp.sparse)
        sequential_layer(lp, layer);
      else
        at_once_layer(lp, layer);
    } else {
      uncalibrated_layer(lp);
    }
    const auto t = Clock::now();
    out_.write_rest(by_layer.layers[lp.index]);
    split_.io_s += since(t);
    const int64_t every = o_.checkpoint_every, done = lp.index + 1;
    if (journal_ && every > 0 && (done % every == 0 || done == static_cast<int64_t>(plan_.layers.size())))
      journal_->layer_done(lp.index, report_, split_, acts_->residual());
    progress_.layer_done(lp.index, fmt::format("{} modules quantized so far", report_.modules()));
  }
  auto t = Clock::now();
  out_.write_rest(by_layer.others);
  split_.io_s += since(t);

  QuantizeSummary s;
  s.modules = report_.modules();
  s.fallbacks = report_.fallbacks();
  s.skipped = report_.skipped();
  s.samples = calib_ && acts_ ? static_cast<int64_t>(calib_->samples.size()) : 0;
  s.tokens = acts_ ? acts_->total_tokens() : 0;
  s.seconds = since(start);
  s.peak_rss = peak_rss_bytes();
  s.split = split_;
  const auto means = method_.summary_means();
  for (const auto& stat : means) {
    if (stat == "rel_err") s.mean_rel_err = report_.mean(stat);
    if (stat == "rtn_rel_err") s.mean_rtn_rel_err = report_.mean(stat);
    if (stat == "weight_mse") s.mean_weight_mse = report_.mean(stat);
  }
  auto fields = method_.fields();
  fields.fuse_scales = o_.fuse_scales;
  fields.scale_rule = o_.scale_rule;
  RunTotals totals{s.samples, s.tokens, {}, s.seconds, s.peak_rss, s.split};
  if (calib_) totals.calibration_provenance = calib_->provenance;
  s.report = report_.json(src_.dir().string(), totals);
  if (acts_) s.report["summary"]["activation_bytes_peak"] = acts_->activation_bytes_peak();  // this rank's
  if (comm_.size() > 1) s.report["ranks"] = rank_figures(s.seconds);
  out_.finish(fields, s.report);
  if (journal_) journal_->finish();
  return s;
}

// Each rank's time split, bytes handed to collectives, peak RSS, tokens and modules solved, gathered to the root.
nlohmann::ordered_json LayerLoop::rank_figures(double seconds) const {
  const auto& t = split_;
  const std::vector<double> mine = {seconds,
                                    t.forward_s,
                                    t.hessian_s,
                                    t.solve_s,
                                    t.io_s,
                                    t.comm_s,
                                    static_cast<double>(comm_.bytes_sent()),
                                    static_cast<double>(peak_rss_bytes()),
                                    acts_ ? static_cast<double>(acts_->tokens()) : 0.0,
                                    acts_ ? static_cast<double>(acts_->activation_bytes_peak()) : 0.0,
                                    static_cast<double>(solver_.solved_here())};
  std::vector<double> all(mine.size() * static_cast<size_t>(comm_.size()));
  comm_.gather(mine.data(), mine.size(), all.data());
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (int r = 0; r < comm_.size(); ++r) {
    const double* v = all.data() + r * mine.size();
    TimeSplit split;
    split.forward_s = v[1], split.hessian_s = v[2], split.solve_s = v[3], split.io_s = v[4], split.comm_s = v[5];
    ranks.push_back({{"rank", r},
                     {"seconds", v[0]},
                     {"time_split_s", time_split_json(split)},
                     {"bytes_sent", static_cast<uint64_t>(v[6])},
                     {"peak_rss_bytes", static_cast<uint64_t>(v[7])},
                     {"tokens", static_cast<int64_t>(v[8])},
                     {"activation_bytes_peak", static_cast<uint64_t>(v[9])},
                     {"modules_solved", static_cast<int64_t>(v[10])}});
  }
  return ranks;
}

// No calibration: every group's modules in plan order, one input-sharing run (q/k/v; an expert's gate/up) at a
// time, so at most one run's weights are in memory.
void LayerLoop::uncalibrated_layer(const model::LayerPlan& lp) {
  for (const auto g : {SeqGroup::AttnQKV, SeqGroup::AttnO, SeqGroup::MlpGateUp, SeqGroup::MlpDown}) {
    const auto mods = solver_.take(lp, g);
    for (size_t i = 0; i < mods.size();) {
      size_t j = i + 1;
      while (j < mods.size() && mods[j]->input_key == mods[i]->input_key) ++j;
      const std::vector<const model::PlannedLinear*> run(mods.begin() + i, mods.begin() + j);
      for (const auto& s : solver_.solve(ctx_, ws_, run, {}, split_)) solver_.report(s);
      i = j;
    }
  }
}

void LayerLoop::solve_group(const model::LayerPlan& lp, model::DecoderLayer& layer, SeqGroup g,
                            const ActivationStore& in, bool apply) {
  const auto mods = solver_.take(lp, g);
  if (mods.empty()) return;
  // All modules of one group read the same input here (q/k/v; o; gate/up; down), so one Hessian serves all.
  const auto stats = acts_->hessian_of(in);
  for (auto& s : solve_on_ranks(comm_, solver_, ctx_, ws_, mods, stats.input(), split_)) {
    solver_.report(s);
    if (apply)
      layer.linear(s.m->module).set_weight(s.r.q.dequant.data());
    else
      pending_.emplace_back(s.m, std::move(s.r.q.dequant));
  }
}

void LayerLoop::sequential_layer(const model::LayerPlan& lp, model::DecoderLayer& layer) {
  auto& a = *acts_;
  progress_.note(fmt::format("layer {} group attn.qkv", lp.index));
  const auto& xn = a.input_norm(layer);
  solve_group(lp, layer, SeqGroup::AttnQKV, xn);
  progress_.note(fmt::format("layer {} group attn.o", lp.index));
  const auto& attn = a.attention(layer, xn);
  solve_group(lp, layer, SeqGroup::AttnO, attn);
  progress_.note(fmt::format("layer {} group mlp.gate_up", lp.index));
  const auto& yn = a.post_attention(layer, attn);
  if (layer.sparse()) {
    if (!o_.true_sequential && !warned_sparse_at_once_) {  // experts are calibrated from the layer with its
      log_warning("true-sequential off does not apply to mixture-of-experts layers");  // attention quantized
      warned_sparse_at_once_ = true;
    }
    progress_.note(fmt::format("layer {} experts: [gate,up] then [down] of each", lp.index));
    ExpertScheduler{a, solver_, split_, ctx_, o_}.run(lp, layer, yn);
    return;
  }
  solve_group(lp, layer, SeqGroup::MlpGateUp, yn);
  progress_.note(fmt::format("layer {} group mlp.down", lp.index));
  const auto& act = a.mlp_act(layer, yn, mlp_width(lp));
  solve_group(lp, layer, SeqGroup::MlpDown, act);
  a.mlp_out(layer, act);
}

// Not true-sequential: every group's inputs from the layer with its original weights, all groups solved,
// then the layer run again with its quantized weights for the next layer's inputs. The input norm's store is
// reused by the post-attention norm, so the [q,k,v] group is solved first.
void LayerLoop::at_once_layer(const model::LayerPlan& lp, model::DecoderLayer& layer) {
  auto& a = *acts_;
  a.save_input();
  const auto& xn = a.input_norm(layer);
  solve_group(lp, layer, SeqGroup::AttnQKV, xn, /*apply=*/false);
  const auto& attn = a.attention(layer, xn);
  solve_group(lp, layer, SeqGroup::AttnO, attn, false);
  const auto& yn = a.post_attention(layer, attn);
  const auto& act = a.mlp_act(layer, yn, mlp_width(lp));
  solve_group(lp, layer, SeqGroup::MlpGateUp, yn, false);
  solve_group(lp, layer, SeqGroup::MlpDown, act, false);
  for (auto& [m, w] : pending_) layer.linear(m->module).set_weight(w.data());
  pending_.clear();
  a.restore_input();
  const auto& attn_q = a.attention(layer, a.input_norm(layer));
  a.mlp_act(layer, a.post_attention(layer, attn_q), mlp_width(lp));
  a.mlp_out(layer, a.act_store());
}

}  // namespace fp4gptq::pipeline
