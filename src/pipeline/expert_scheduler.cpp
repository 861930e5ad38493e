#include "pipeline/expert_scheduler.hpp"

#include <fmt/core.h>

#include <mutex>
#include <optional>

#include "linalg/parallel.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::pipeline {

namespace {

using model::SeqGroup;

// What the expert workers share (read-only, except results[e], which only expert e's worker writes).
struct Jobs {
  const model::LayerPlan& lp;
  model::DecoderLayer& layer;
  const ActivationStore& yn;
  const model::Routing& routing;
  const InputStats* all_tokens;  // moe_calibrate_all
  int64_t min_tokens;
  std::vector<std::vector<const model::PlannedLinear*>> gate_up, down;  // quantized modules per expert
  std::vector<std::vector<SolvedModule>> results;                       // per expert, weights dropped
  std::mutex mu;                                                        // guards done and the progress line
  int64_t done = 0;
  Clock::time_point start = Clock::now();
};

// A Hessian being built from gathered rows, with the input amax it saw.
struct Accumulating {
  gptq::HessianAccumulator acc;
  float input_amax = 0;
  InputStats stats;
  Accumulating(int64_t dim, gptq::HessianDType dt) : acc(dim, dt) {}
  void add(const linalg::Context& ctx, const float* x, int64_t rows) {
    acc.add(ctx, x, rows);
    input_amax = std::max(input_amax, nvfp4::max_abs(x, static_cast<size_t>(rows * acc.dim())));
  }
  ModuleInput finish(const linalg::Context& ctx) {
    stats = {acc.hessian(ctx), acc.tokens(), input_amax};
    return stats.input();
  }
};

// Default moe_min_tokens: 10% of an expert's expected share of the routed tokens (tokens · k / experts).
int64_t default_min_tokens(const model::ModelConfig& c, int64_t tokens) {
  return std::max<int64_t>(1, tokens * c.num_experts_per_tok / std::max<int64_t>(c.num_experts, 1) / 10);
}

// One expert, on a worker thread: [gate,up] Hessian from its routed tokens and solve, its quantized gate/up
// swapped in, then the [down] Hessian from its activations and solve. Its tokens are gathered at most
// expert_rows (rounded up to a multiple of expert_tile) at a time, kept between the two passes when they fit
// in one.
class ExpertRun {
 public:
  ExpertRun(const ExpertScheduler& s, Jobs& jobs, int64_t e, const linalg::Context& ctx, gptq::Workspace& ws,
            TimeSplit& sp)
      : s_(s),
        jobs_(jobs),
        e_(e),
        ctx_(ctx),
        ws_(ws),
        sp_(sp),
        H_(s.acts.config().hidden_size),
        tile_(std::max<int64_t>(s.options.expert_tile, 1)),
        piece_((std::max<int64_t>(s.options.expert_rows, 1) + tile_ - 1) / tile_ * tile_) {
    std::vector<float> weights;
    jobs.routing.rows_of(static_cast<int32_t>(e), idx_, weights);
    n_ = static_cast<int64_t>(idx_.size());
    const int64_t seen = s.options.moe_calibrate_all ? s.acts.tokens() : n_;
    const int64_t need = std::max<int64_t>(jobs.min_tokens, 1);  // no tokens at all: always round-to-nearest
    if (seen < need)
      starved_ = fmt::format("starved expert: {} calibration tokens < the minimum of {}: round-to-nearest", seen, need);
  }

  void gate_up(const std::vector<const model::PlannedLinear*>& mods) {
    if (jobs_.all_tokens) return finish(mods, jobs_.all_tokens->input());
    Accumulating h(H_, s_.options.gptq.hessian_dtype);
    for (int64_t r0 = 0; r0 < n_; r0 += piece_) {
      const int64_t cnt = gather(r0);
      const auto t = Clock::now();
      h.add(ctx_, x_.data(), cnt);
      sp_.hessian_s += since(t);
    }
    sp_.hessian_flops += 2.0 * n_ * H_ * H_;
    finish(mods, h.finish(ctx_));
  }

  // The down Hessian from the activations of the tokens it learns from (every token with moe_calibrate_all),
  // through its quantized gate/up.
  void down(const std::vector<const model::PlannedLinear*>& mods) {
    Accumulating h(s_.acts.config().moe_intermediate_size, s_.options.gptq.hessian_dtype);
    if (s_.options.moe_calibrate_all) {
      std::vector<float> xa;
      for (const auto& ch : s_.acts.chunks()) {
        xa.resize(static_cast<size_t>(ch.rows * H_));
        jobs_.yn.load(ch.row0, ch.rows, xa.data());
        add_act(h, xa.data(), ch.rows);
      }
    } else {
      for (int64_t r0 = 0; r0 < n_; r0 += piece_) {
        const int64_t cnt = gather(r0);  // (before x_.data(): gathering may move x_)
        add_act(h, x_.data(), cnt);
      }
    }
    finish(mods, h.finish(ctx_));
  }

 private:
  // Rows r0.. of the expert's tokens (one piece) into x_, unless they are there already.
  int64_t gather(int64_t r0) {
    const int64_t cnt = std::min(piece_, n_ - r0);
    if (gathered_ == r0) return cnt;
    const auto t = Clock::now();
    x_.resize(static_cast<size_t>(cnt * H_));
    for (int64_t i = 0; i < cnt; ++i) jobs_.yn.load(idx_[r0 + i], 1, &x_[i * H_]);
    gathered_ = r0;
    sp_.forward_s += since(t);
    return cnt;
  }

  // The rows go through the expert's gate/up matmuls in tiles of exactly expert_tile rows (a math library may
  // pick its kernel, and so its rounding, by the row count: OpenBLAS and oneDNN on AMX do), and pieces are a
  // multiple of it: a token's activation, and so the Hessian, does not depend on the piece size.
  void add_act(Accumulating& h, const float* xs, int64_t cnt) {
    const int64_t inter = h.acc.dim();
    auto t = Clock::now();
    act_.resize(static_cast<size_t>(cnt * inter));
    for (int64_t r0 = 0; r0 < cnt; r0 += tile_)
      jobs_.layer.expert_act(ctx_, e_, xs + r0 * H_, std::min(tile_, cnt - r0), act_.data() + r0 * inter);
    sp_.forward_s += since(t);
    sp_.forward_flops += 4.0 * cnt * H_ * inter;
    t = Clock::now();
    h.add(ctx_, act_.data(), cnt);
    sp_.hessian_s += since(t);
    sp_.hessian_flops += 2.0 * cnt * inter * inter;
  }

  void finish(const std::vector<const model::PlannedLinear*>& mods, ModuleInput in) {
    in.rtn_reason = starved_;
    for (auto& m : s_.solver.solve(ctx_, ws_, mods, in, sp_)) {
      jobs_.layer.linear(m.m->module).set_weight(m.r.q.dequant.data());
      m.r.q = {};  // written and swapped in: the report keeps the stats
      jobs_.results[static_cast<size_t>(e_)].push_back(std::move(m));
    }
  }

  const ExpertScheduler& s_;
  Jobs& jobs_;
  const int64_t e_;
  const linalg::Context& ctx_;
  gptq::Workspace& ws_;
  TimeSplit& sp_;
  const int64_t H_, tile_, piece_;
  int64_t n_ = 0, gathered_ = -1;  // gathered_: first row of the piece now in x_
  std::vector<int64_t> idx_;
  std::vector<float> x_, act_;
  std::string starved_;
};

void run_expert(const ExpertScheduler& s, Jobs& jobs, int64_t e, const linalg::Context& ctx, gptq::Workspace& ws,
                TimeSplit& sp) {
  ExpertRun run(s, jobs, e, ctx, ws, sp);
  if (const auto& mods = jobs.gate_up[static_cast<size_t>(e)]; !mods.empty()) run.gate_up(mods);
  if (const auto& mods = jobs.down[static_cast<size_t>(e)]; !mods.empty()) run.down(mods);
  const std::lock_guard<std::mutex> lock(jobs.mu);
  const int64_t E = s.acts.config().num_experts;
  if (++jobs.done % 16 == 0 || jobs.done == E) {
    const double t = since(jobs.start);
    s.acts.progress().note(fmt::format(
        "layer {} experts {}/{} done in {} (ETA {} for the layer's experts; elapsed {})", jobs.lp.index, jobs.done, E,
        format_seconds(t), format_seconds(t / static_cast<double>(jobs.done) * static_cast<double>(E - jobs.done)),
        format_seconds(s.acts.progress().elapsed())));
  }
}

}  // namespace

void ExpertScheduler::run(const model::LayerPlan& lp, model::DecoderLayer& layer, const ActivationStore& yn) {
  const int64_t E = acts.config().num_experts;
  const auto routing = acts.route(layer, yn);
  std::optional<InputStats> all_tokens;  // one gate/up Hessian of every token, for every expert
  if (options.moe_calibrate_all) all_tokens.emplace(acts.hessian_of(yn));

  Jobs jobs{lp,
            layer,
            yn,
            routing,
            all_tokens ? &*all_tokens : nullptr,
            options.moe_min_tokens >= 0 ? options.moe_min_tokens : default_min_tokens(acts.config(), acts.tokens())};
  for (int64_t e = 0; e < E; ++e) {  // (take() reports skipped modules: not on the workers)
    jobs.gate_up.push_back(solver.take(lp, SeqGroup::MlpGateUp, e));
    jobs.down.push_back(solver.take(lp, SeqGroup::MlpDown, e));
  }
  jobs.results.resize(static_cast<size_t>(E));
  const int workers = static_cast<int>(std::min<int64_t>(ctx.threads(), E));
  std::vector<TimeSplit> splits(static_cast<size_t>(workers));
  std::vector<gptq::Workspace> spaces(static_cast<size_t>(workers));
  const auto t = Clock::now();
  linalg::parallel_tasks(ctx.with_threads(workers), E, [&](int64_t e, int w, const linalg::Context& wctx) {
    run_expert(*this, jobs, e, wctx, spaces[static_cast<size_t>(w)], splits[static_cast<size_t>(w)]);
  });
  // Per-part times: the workers' mean (they ran side by side); FLOPs: the total.
  for (const auto& sp : splits) {
    split.forward_s += sp.forward_s / workers;
    split.hessian_s += sp.hessian_s / workers;
    split.solve_s += sp.solve_s / workers;
    split.io_s += sp.io_s / workers;
    split.forward_flops += sp.forward_flops;
    split.hessian_flops += sp.hessian_flops;
    split.solve_flops += sp.solve_flops;
  }
  for (const auto& solved : jobs.results)
    for (const auto& s : solved) solver.report(s);
  acts.progress().note(
      fmt::format("layer {}: {} experts on {} threads in {}", lp.index, E, workers, format_seconds(since(t))));
  acts.moe_out(layer, yn);
}

}  // namespace fp4gptq::pipeline
