#include "pipeline/module_solver.hpp"

#include <fmt/core.h>

#include <map>

#include "nvfp4/scale_rules.hpp"
#include "pipeline/log.hpp"

namespace fp4gptq::pipeline {

std::vector<float> choose_scale_2(const std::vector<const model::PlannedLinear*>& mods,
                                  const std::vector<std::vector<float>>& weights, bool fuse, float scale2_max) {
  std::map<std::string, float> amax;
  auto key = [&](size_t i) -> const std::string& { return fuse ? mods[i]->input_key : mods[i]->module; };
  for (size_t i = 0; i < mods.size(); ++i) {
    float& a = amax[key(i)];
    a = std::max(a, nvfp4::max_abs(weights[i].data(), weights[i].size()));
  }
  std::vector<float> s(mods.size());
  for (size_t i = 0; i < mods.size(); ++i) s[i] = nvfp4::global_scale(amax.at(key(i)), scale2_max);
  return s;
}

std::vector<const model::PlannedLinear*> ModuleSolver::take(const model::LayerPlan& lp, model::SeqGroup g,
                                                            int64_t expert) {
  std::vector<const model::PlannedLinear*> mods;
  for (const auto& m : lp.linears) {
    if (m.group != g || (expert >= 0 && m.expert != expert)) continue;
    if (m.quantize) {
      mods.push_back(&m);
    } else {
      log_warning(fmt::format("{} left unquantized: {}", m.module, m.skip_reason));
      report_.add_skipped(m.module, m.skip_reason);
    }
  }
  return mods;
}

std::vector<SolvedModule> ModuleSolver::solve(const linalg::Context& ctx, gptq::Workspace& ws,
                                              const std::vector<const model::PlannedLinear*>& mods,
                                              const ModuleInput& in, TimeSplit& split, const std::vector<bool>& mine) {
  auto t = Clock::now();
  std::vector<std::vector<float>> weights;  // another rank's modules only for a scale_2 shared with them
  for (size_t i = 0; i < mods.size(); ++i)
    weights.push_back(mine.empty() || mine[i] || fuse_ ? model::read_weight(src_, *mods[i]) : std::vector<float>{});
  auto scale_2 = choose_scale_2(mods, weights, fuse_, scale2_max_);
  split.io_s += since(t);
  auto solved = mods;
  if (!mine.empty()) {  // keep the flagged modules, their weights and scale_2
    size_t k = 0;
    for (size_t i = 0; i < mods.size(); ++i) {
      if (!mine[i]) continue;
      if (k != i) solved[k] = mods[i], weights[k] = std::move(weights[i]), scale_2[k] = scale_2[i];
      ++k;
    }
    solved.resize(k), weights.resize(k), scale_2.resize(k);
    if (k == 0) return {};
  }

  ctx.check_cancelled();
  std::vector<double> seconds;
  auto results = method_.solve_group(ctx, ws, solved, weights, scale_2, in, seconds);
  solved_here_ += static_cast<int64_t>(solved.size());
  std::vector<SolvedModule> out;
  for (size_t i = 0; i < solved.size(); ++i) {
    t = Clock::now();
    SolvedModule s{solved[i], std::move(results[i]), 0};
    out_.as_stored(*solved[i], s.r.q.dequant);  // what the checkpoint holds, and what the next inputs see
    s.seconds = seconds[i] + since(t);
    s.r.stats["time_s"] = s.seconds;
    split.solve_s += s.seconds;
    split.solve_flops += s.r.flops;
    out.push_back(std::move(s));
  }
  for (const auto& s : out) write(s, in.input_amax, split);
  return out;
}

void ModuleSolver::rebuild_stored(SolvedModule& s) const {
  nvfp4::fill_dequant(s.r.q);
  out_.as_stored(*s.m, s.r.q.dequant);
}

void ModuleSolver::write(const SolvedModule& s, float input_amax, TimeSplit& split) {
  const std::lock_guard<std::mutex> lock(mu_);
  const auto t = Clock::now();
  out_.write_module(*s.m, s.r.q, input_amax);
  split.io_s += since(t);
  if (s.r.log.empty()) return;
  const std::string line = s.r.log + " " + format_seconds(s.seconds);
  if (s.r.warning)
    log_warning(fmt::format("{}: {}", line, s.r.note));
  else
    progress_.note(line);
}

}  // namespace fp4gptq::pipeline
