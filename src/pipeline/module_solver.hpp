#pragma once
// What the layer loop does with the modules of one true-sequential group (or one expert's part of it): pick
// the quantized ones (the others are reported as skipped), read their weights, choose scale_2 (docs/DESIGN.md §4),
// let the method solve each, round to what the output stores, write them and report them.
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "io/model_dir.hpp"
#include "pipeline/method.hpp"
#include "pipeline/output_format.hpp"
#include "pipeline/progress.hpp"
#include "pipeline/report.hpp"
#include "pipeline/timing.hpp"

namespace fp4gptq::pipeline {

struct SolvedModule {
  const model::PlannedLinear* m = nullptr;
  ModuleResult r;  // r.q.dequant holds the weight as stored (as_stored)
  double seconds = 0;
};

// scale_2 = amax / (6·scale2_max) of each of `mods` (weights[i] is mods[i]'s FP32 weight): from the amax of
// the original weights of the modules sharing one input (q/k/v; gate/up) when `fuse`, else of the module's own.
std::vector<float> choose_scale_2(const std::vector<const model::PlannedLinear*>& mods,
                                  const std::vector<std::vector<float>>& weights, bool fuse, float scale2_max);

class ModuleSolver {
 public:
  ModuleSolver(const io::ModelDir& src, const Method& method, OutputFormat& out, Report& report,
               const Progress& progress, bool fuse_scales, float scale2_max)
      : src_(src),
        method_(method),
        out_(out),
        report_(report),
        progress_(progress),
        fuse_(fuse_scales),
        scale2_max_(scale2_max) {}

  // The modules of layer `lp` in group g (of one expert when expert >= 0) that are quantized; the others are
  // reported as skipped, with a warning.
  std::vector<const model::PlannedLinear*> take(const model::LayerPlan& lp, model::SeqGroup g, int64_t expert = -1);

  // Solves `mods`, which read the same input `in`, and writes them to the output (logged). Thread-safe: the
  // output and the log are serialised; times go to `split`. With `mine` (one flag per module), only the
  // flagged modules are solved and returned (in order); scale_2 is still chosen from all of `mods`.
  std::vector<SolvedModule> solve(const linalg::Context& ctx, gptq::Workspace& ws,
                                  const std::vector<const model::PlannedLinear*>& mods, const ModuleInput& in,
                                  TimeSplit& split, const std::vector<bool>& mine = {});

  // Adds a solved module's row to the report (the caller picks the order). Not thread-safe.
  void report(const SolvedModule& s) { report_.add_module(s.m->module, s.r.stats, s.r.fallback); }

  // Writes a module solved elsewhere (another rank) to the output, logged as solve() does.
  void write(const SolvedModule& s, float input_amax, TimeSplit& split);

  // s.r.q.dequant as solve() leaves it (the weight as stored), rebuilt from the codes, block scales and scale_2
  // of a module solved on another rank.
  void rebuild_stored(SolvedModule& s) const;

  // How many modules solve() solved in this process (the report's per-rank figure).
  int64_t solved_here() const { return solved_here_; }

 private:
  const io::ModelDir& src_;
  const Method& method_;
  OutputFormat& out_;
  Report& report_;
  const Progress& progress_;
  bool fuse_;
  float scale2_max_;
  std::mutex mu_;
  std::atomic<int64_t> solved_here_{0};
};

}  // namespace fp4gptq::pipeline
