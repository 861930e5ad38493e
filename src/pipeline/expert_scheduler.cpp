#include "pipeline/expert_scheduler.hpp"

#include <fmt/core.h>

#include <mutex>
#include <optional>
#include <utility>

#include "linalg/parallel.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/solved_transfer.hpp"

namespace fp4gptq::pipeline {

namespace {

using model::SeqGroup;

// What the expert runs share (read-only on the workers; results[e] is filled on the main thread, in expert
// order, as expert e's solved modules are installed).
struct Jobs {
  const model::LayerPlan& lp;
  model::DecoderLayer& layer;
  const ActivationStore& yn;
  const model::Routing& routing;
  const InputStats* all_tokens;  // moe_calibrate_all
  int64_t min_tokens;
  std::vector<int64_t> routed;  // tokens routed to each expert, on every rank
  std::vector<std::vector<const model::PlannedLinear*>> gate_up, down;  // quantized modules per expert
  std::vector<std::vector<SolvedModule>> results;                       // per expert, weights dropped
  int64_t done = 0;
  Clock::time_point start = Clock::now();
};

// Default moe_min_tokens: 10% of an expert's expected share of the routed tokens (tokens · k / experts).
int64_t default_min_tokens(const model::ModelConfig& c, int64_t tokens) {
  return std::max<int64_t>(1, tokens * c.num_experts_per_tok / std::max<int64_t>(c.num_experts, 1) / 10);
}

// One expert: its [gate,up] Hessian from this rank's routed tokens (partial, then summed over ranks by the
// scheduler) and solve, its quantized gate/up swapped in, then the [down] Hessian from its activations and
// solve. Its tokens are gathered shard by shard, at most expert_rows (rounded up to a multiple of
// expert_tile) at a time, kept between the two passes when they fit in one.
class ExpertRun {
 public:
  ExpertRun(const ExpertScheduler& s, Jobs& jobs, int64_t e)
      : s_(s),
        jobs_(jobs),
        e_(e),
        H_(s.acts.config().hidden_size),
        tile_(std::max<int64_t>(s.options.expert_tile, 1)),
        piece_((std::max<int64_t>(s.options.expert_rows, 1) + tile_ - 1) / tile_ * tile_) {
    std::vector<float> weights;
    jobs.routing.rows_of(static_cast<int32_t>(e), idx_, weights);
    n_ = static_cast<int64_t>(idx_.size());
    const int64_t seen = s.options.moe_calibrate_all ? s.acts.total_tokens() : jobs.routed[static_cast<size_t>(e)];
    const int64_t need = std::max<int64_t>(jobs.min_tokens, 1);  // no tokens at all: always round-to-nearest
    if (seen < need)
      starved_ = fmt::format("starved expert: {} calibration tokens < the minimum of {}: round-to-nearest", seen, need);
  }

  bool has_gate_up() const { return !jobs_.gate_up[static_cast<size_t>(e_)].empty(); }
  bool has_down() const { return !jobs_.down[static_cast<size_t>(e_)].empty(); }
  bool own_gate_up_hessian() const { return has_gate_up() && !jobs_.all_tokens; }
  ShardedHessian& hessian() { return *h_; }

  // This rank's part of the [gate,up] Hessian.
  void gate_up_partial(const linalg::Context& ctx, TimeSplit& sp) {
    h_.emplace(H_, s_.options.gptq.hessian_dtype);
    for_pieces([&](int64_t shard, const float* x, int64_t cnt) {
      const auto t = Clock::now();
      h_->add(ctx, shard, x, cnt);
      sp.hessian_s += since(t);
    });
    sp.hessian_flops += 2.0 * n_ * H_ * H_;
  }

  // This rank's part of the [down] Hessian: the activations of the tokens it learns from (every token with
  // moe_calibrate_all), through its quantized gate/up.
  void down_partial(const linalg::Context& ctx, TimeSplit& sp) {
    h_.emplace(s_.acts.config().moe_intermediate_size, s_.options.gptq.hessian_dtype);
    if (s_.options.moe_calibrate_all) {
      std::vector<float> xa;
      for (const auto& ch : s_.acts.chunks()) {
        xa.resize(static_cast<size_t>(ch.rows * H_));
        jobs_.yn.load(ch.row0, ch.rows, xa.data());
        add_act(ctx, sp, ch.shard, xa.data(), ch.rows);
      }
    } else {
      for_pieces([&](int64_t shard, const float* x, int64_t cnt) { add_act(ctx, sp, shard, x, cnt); });
    }
  }

  // Solves mods on this rank (written to its output): they wait in solved() to be sent to the other ranks.
  void solve(const linalg::Context& ctx, gptq::Workspace& ws, TimeSplit& sp,
             const std::vector<const model::PlannedLinear*>& mods, ModuleInput in) {
    in.rtn_reason = starved_;
    solved_ = s_.solver.solve(ctx, ws, mods, in, sp);
    amax_ = in.input_amax;
  }

  // After broadcast_solved: every rank swaps the weights in; the report keeps the stats.
  void install(bool solved_here, TimeSplit& sp) {
    for (auto& m : solved_) {
      if (!solved_here && s_.acts.comm().is_root()) s_.solver.write(m, amax_, sp);
      jobs_.layer.linear(m.m->module).set_weight(m.r.q.dequant.data());
      m.r.q = {};
      jobs_.results[static_cast<size_t>(e_)].push_back(std::move(m));
    }
    solved_.clear();
  }
  std::vector<SolvedModule>& solved() { return solved_; }
  float& amax() { return amax_; }

 private:
  // fn(shard, rows, count) over the expert's rows of this rank: each shard's in pieces of at most piece_.
  template <typename F>
  void for_pieces(F&& fn) {
    for (int64_t r0 = 0; r0 < n_;) {
      const int64_t shard = s_.acts.shard_of(idx_[r0]);
      int64_t r1 = r0;
      while (r1 < n_ && r1 - r0 < piece_ && s_.acts.shard_of(idx_[r1]) == shard) ++r1;
      gather(r0, r1);
      fn(shard, x_.data(), r1 - r0);
      r0 = r1;
    }
  }

  // Rows [r0, r1) of the expert's tokens into x_, unless they are there already.
  void gather(int64_t r0, int64_t r1) {
    if (gathered_ == std::pair{r0, r1}) return;
    x_.resize(static_cast<size_t>((r1 - r0) * H_));
    for (int64_t i = r0; i < r1; ++i) jobs_.yn.load(idx_[i], 1, &x_[(i - r0) * H_]);
    gathered_ = {r0, r1};
  }

  // The rows go through the expert's gate/up matmuls in tiles of exactly expert_tile rows from the start of
  // each piece (a math library may pick its kernel, and so its rounding, by the row count: OpenBLAS and oneDNN
  // on AMX do), and pieces start at shard boundaries: a token's activation, and so the Hessian, does not
  // depend on the rank count.
  void add_act(const linalg::Context& ctx, TimeSplit& sp, int64_t shard, const float* xs, int64_t cnt) {
    const int64_t inter = h_->dim();
    auto t = Clock::now();
    act_.resize(static_cast<size_t>(cnt * inter));
    for (int64_t r0 = 0; r0 < cnt; r0 += tile_)
      jobs_.layer.expert_act(ctx, e_, xs + r0 * H_, std::min(tile_, cnt - r0), act_.data() + r0 * inter);
    sp.forward_s += since(t);
    sp.forward_flops += 4.0 * cnt * H_ * inter;
    t = Clock::now();
    h_->add(ctx, shard, act_.data(), cnt);
    sp.hessian_s += since(t);
    sp.hessian_flops += 2.0 * cnt * inter * inter;
  }

  const ExpertScheduler& s_;
  Jobs& jobs_;
  const int64_t e_;
  const int64_t H_, tile_, piece_;
  int64_t n_ = 0;
  std::pair<int64_t, int64_t> gathered_{-1, -1};  // the rows now in x_
  std::vector<int64_t> idx_;
  std::vector<float> x_, act_;
  std::optional<ShardedHessian> h_;
  std::string starved_;
  std::vector<SolvedModule> solved_;
  float amax_ = 0;
};

}  // namespace

// Experts go in batches of one per worker thread of every rank, expert e solved by rank e mod N: every rank
// computes its part of the batch's [gate,up] Hessians, each is summed onto the expert's rank (in expert
// order), the ranks solve their experts side by side and send them to all (the root writes them); then the
// same for [down].
void ExpertScheduler::run(const model::LayerPlan& lp, model::DecoderLayer& layer, const ActivationStore& yn) {
  const int64_t E = acts.config().num_experts;
  const auto& comm = acts.comm();
  const auto routing = acts.route(layer, yn);
  std::optional<InputStats> all_tokens;  // one gate/up Hessian of every token, for every expert
  if (options.moe_calibrate_all) all_tokens.emplace(acts.hessian_of(yn));

  Jobs jobs{lp,
            layer,
            yn,
            routing,
            all_tokens ? &*all_tokens : nullptr,
            options.moe_min_tokens >= 0 ? options.moe_min_tokens
                                        : default_min_tokens(acts.config(), acts.total_tokens()),
            {},
            {},
            {},
            {}};
  jobs.routed.assign(static_cast<size_t>(E), 0);
  for (const auto e : routing.experts) ++jobs.routed[static_cast<size_t>(e)];
  auto t = Clock::now();
  comm.allreduce_sum(jobs.routed.data(), jobs.routed.size());
  split.comm_s += since(t);
  for (int64_t e = 0; e < E; ++e) {  // (take() reports skipped modules: not on the workers)
    jobs.gate_up.push_back(solver.take(lp, SeqGroup::MlpGateUp, e));
    jobs.down.push_back(solver.take(lp, SeqGroup::MlpDown, e));
  }
  jobs.results.resize(static_cast<size_t>(E));
  const int workers = static_cast<int>(std::min<int64_t>(ctx.threads(), E));
  const int64_t ranks = comm.size();
  auto owner = [&](int64_t e) { return static_cast<int>(e % ranks); };
  std::vector<TimeSplit> splits(static_cast<size_t>(workers));
  std::vector<gptq::Workspace> spaces(static_cast<size_t>(workers));
  const auto wctx = ctx.with_threads(workers);
  t = Clock::now();
  for (int64_t b0 = 0; b0 < E; b0 += workers * ranks) {
    const int64_t nb = std::min<int64_t>(workers * ranks, E - b0);
    std::vector<std::optional<ExpertRun>> runs(static_cast<size_t>(nb));
    std::vector<InputStats> stats(static_cast<size_t>(nb));
    std::vector<int64_t> all(static_cast<size_t>(nb)), mine;
    for (int64_t i = 0; i < nb; ++i) {
      runs[static_cast<size_t>(i)].emplace(*this, jobs, b0 + i);
      all[static_cast<size_t>(i)] = i;
      if (owner(b0 + i) == comm.rank()) mine.push_back(i);
    }
    auto on_workers = [&](const std::vector<int64_t>& which, auto&& fn) {
      linalg::parallel_tasks(wctx, static_cast<int64_t>(which.size()), [&](int64_t k, int w, const linalg::Context& c) {
        const int64_t i = which[static_cast<size_t>(k)];
        fn(*runs[static_cast<size_t>(i)], i, c, static_cast<size_t>(w));
      });
    };
    auto sum_onto_owners = [&](auto&& wanted) {  // collective: in expert order on every rank
      for (int64_t i = 0; i < nb; ++i)
        if (auto& r = *runs[static_cast<size_t>(i)]; wanted(r)) {
          const auto t0 = Clock::now();
          stats[static_cast<size_t>(i)] = r.hessian().finish(ctx, comm, ranks > 1 ? owner(b0 + i) : -1);
          split.comm_s += r.hessian().comm_seconds();
          split.hessian_s += since(t0);
        }
    };
    auto send_solved = [&](const std::vector<std::vector<const model::PlannedLinear*>>& planned) {
      for (int64_t i = 0; i < nb; ++i) {  // collective: in expert order
        auto& r = *runs[static_cast<size_t>(i)];
        const auto& mods = planned[static_cast<size_t>(b0 + i)];
        if (mods.empty()) continue;
        const auto t0 = Clock::now();
        broadcast_solved(comm, owner(b0 + i), mods, r.solved(), r.amax(), solver);
        split.comm_s += since(t0);
        r.install(owner(b0 + i) == comm.rank(), split);
      }
    };
    on_workers(all, [&](ExpertRun& r, int64_t, const linalg::Context& c, size_t w) {
      if (r.own_gate_up_hessian()) r.gate_up_partial(c, splits[w]);
    });
    sum_onto_owners([](const ExpertRun& r) { return r.own_gate_up_hessian(); });
    on_workers(mine, [&](ExpertRun& r, int64_t i, const linalg::Context& c, size_t w) {
      if (r.has_gate_up())
        r.solve(c, spaces[w], splits[w], jobs.gate_up[static_cast<size_t>(b0 + i)],
                jobs.all_tokens ? jobs.all_tokens->input() : stats[static_cast<size_t>(i)].input());
    });
    send_solved(jobs.gate_up);
    on_workers(all, [&](ExpertRun& r, int64_t, const linalg::Context& c, size_t w) {
      if (r.has_down()) r.down_partial(c, splits[w]);
    });
    sum_onto_owners([](const ExpertRun& r) { return r.has_down(); });
    on_workers(mine, [&](ExpertRun& r, int64_t i, const linalg::Context& c, size_t w) {
      if (r.has_down())
        r.solve(c, spaces[w], splits[w], jobs.down[static_cast<size_t>(b0 + i)], stats[static_cast<size_t>(i)].input());
    });
    send_solved(jobs.down);
    const int64_t before = jobs.done;
    jobs.done += nb;
    if (jobs.done / 16 != before / 16 || jobs.done == E) {
      const double el = since(jobs.start);
      acts.progress().note(fmt::format(
          "layer {} experts {}/{} done in {} (ETA {} for the layer's experts; elapsed {})", lp.index, jobs.done, E,
          format_seconds(el), format_seconds(el / static_cast<double>(jobs.done) * static_cast<double>(E - jobs.done)),
          format_seconds(acts.progress().elapsed())));
    }
  }
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
