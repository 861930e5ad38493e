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
  std::vector<std::vector<SolvedModule>> results;                      // per expert, weights dropped
  std::mutex mu;                                                       // guards done and the progress line
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
void run_expert(const ExpertScheduler& s, Jobs& jobs, int64_t e, const linalg::Context& ctx, gptq::Workspace& ws,
                TimeSplit& sp) {
  const int64_t H = s.config.hidden_size, inter = s.config.moe_intermediate_size;
  // The gathered rows go through the expert's gate/up matmuls in tiles of exactly expert_tile rows (a math
  // library may pick its kernel, and so its rounding, by the row count: OpenBLAS and oneDNN on AMX do), and
  // are gathered in pieces of a multiple of it: a token's activation, and so the Hessians, do not depend on
  // the piece size.
  const int64_t tile = std::max<int64_t>(s.options.expert_tile, 1);
  const int64_t piece = (std::max<int64_t>(s.options.expert_rows, 1) + tile - 1) / tile * tile;
  const bool all = s.options.moe_calibrate_all;
  std::vector<int64_t> idx;
  std::vector<float> rw, x, act;
  jobs.routing.rows_of(static_cast<int32_t>(e), idx, rw);
  const auto n = static_cast<int64_t>(idx.size());
  const int64_t seen = all ? s.acts.tokens() : n;
  const int64_t need = std::max<int64_t>(jobs.min_tokens, 1);  // no tokens at all: always round-to-nearest
  const std::string starved =
      seen < need ? fmt::format("starved expert: {} calibration tokens < the minimum of {}: round-to-nearest", seen, need)
                  : "";
  int64_t gathered = -1;  // first row of the piece now in x
  auto gather = [&](int64_t r0) {
    const int64_t cnt = std::min(piece, n - r0);
    if (gathered == r0) return cnt;
    const auto t = Clock::now();
    x.resize(static_cast<size_t>(cnt * H));
    for (int64_t i = 0; i < cnt; ++i) jobs.yn.load(idx[r0 + i], 1, &x[i * H]);
    gathered = r0;
    sp.forward_s += since(t);
    return cnt;
  };
  auto finish = [&](const std::vector<const model::PlannedLinear*>& mods, ModuleInput in) {
    in.rtn_reason = starved;
    auto solved = s.solver.solve(ctx, ws, mods, in, sp);
    for (auto& m : solved) {
      jobs.layer.linear(m.m->module).set_weight(m.r.q.dequant.data());
      m.r.q = {};  // written and swapped in: the report keeps the stats
      jobs.results[static_cast<size_t>(e)].push_back(std::move(m));
    }
  };

  if (const auto& mods = jobs.gate_up[static_cast<size_t>(e)]; !mods.empty()) {
    if (jobs.all_tokens) {
      finish(mods, jobs.all_tokens->input());
    } else {
      Accumulating h(H, s.options.gptq.hessian_dtype);
      for (int64_t r0 = 0; r0 < n; r0 += piece) {
        const int64_t cnt = gather(r0);
        const auto t = Clock::now();
        h.add(ctx, x.data(), cnt);
        sp.hessian_s += since(t);
      }
      sp.hessian_flops += 2.0 * n * H * H;
      finish(mods, h.finish(ctx));
    }
  }
  if (const auto& mods = jobs.down[static_cast<size_t>(e)]; !mods.empty()) {
    Accumulating h(inter, s.options.gptq.hessian_dtype);
    // The activations of the tokens it learns from (every token with moe_calibrate_all), through its
    // quantized gate/up.
    auto add_act = [&](const float* xs, int64_t cnt) {
      auto t = Clock::now();
      act.resize(static_cast<size_t>(cnt * inter));
      for (int64_t r0 = 0; r0 < cnt; r0 += tile)
        jobs.layer.expert_act(ctx, e, xs + r0 * H, std::min(tile, cnt - r0), act.data() + r0 * inter);
      sp.forward_s += since(t);
      sp.forward_flops += 4.0 * cnt * H * inter;
      t = Clock::now();
      h.add(ctx, act.data(), cnt);
      sp.hessian_s += since(t);
      sp.hessian_flops += 2.0 * cnt * inter * inter;
    };
    if (all) {
      std::vector<float> xa;
      for (const auto& ch : s.acts.chunks()) {
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
    finish(mods, h.finish(ctx));
  }
  const std::lock_guard<std::mutex> lock(jobs.mu);
  const int64_t E = s.config.num_experts;
  if (++jobs.done % 16 == 0 || jobs.done == E) {
    const double t = since(jobs.start);
    s.progress.note(fmt::format("layer {} experts {}/{} done in {} (ETA {} for the layer's experts; elapsed {})",
                                jobs.lp.index, jobs.done, E, format_seconds(t),
                                format_seconds(t / static_cast<double>(jobs.done) * static_cast<double>(E - jobs.done)),
                                format_seconds(s.progress.elapsed())));
  }
}

}  // namespace

void ExpertScheduler::run(const model::LayerPlan& lp, model::DecoderLayer& layer, const ActivationStore& yn) {
  const int64_t E = config.num_experts;
  const auto routing = acts.route(layer, yn);
  std::optional<InputStats> all_tokens;  // one gate/up Hessian of every token, for every expert
  if (options.moe_calibrate_all) all_tokens.emplace(acts.hessian_of(yn));

  Jobs jobs{lp, layer, yn, routing, all_tokens ? &*all_tokens : nullptr,
            options.moe_min_tokens >= 0 ? options.moe_min_tokens : default_min_tokens(config, acts.tokens())};
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
  progress.note(fmt::format("layer {}: {} experts on {} threads in {}", lp.index, E, workers, format_seconds(since(t))));
  acts.moe_out(layer, yn);
}

}  // namespace fp4gptq::pipeline
