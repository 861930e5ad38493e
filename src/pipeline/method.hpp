#pragma once
// A quantization method: what turns one module's weight (and, for calibrated methods, its input's Hessian)
// into NVFP4. The layer loop (layer_loop.hpp) does not know which method runs: it walks the layers and groups,
// runs the calibration forward passes only when the method is calibrated, and hands every module to solve().
// GPTQ (gptq_method.hpp) and round-to-nearest (rtn.hpp) are the two methods; a new one is one new class.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gptq/solver.hpp"
#include "linalg/context.hpp"
#include "model/layer_plan.hpp"
#include "nvfp4/quantizer.hpp"

namespace fp4gptq::pipeline {

// What calibration saw of a module's input; empty for an uncalibrated method.
struct ModuleInput {
  const std::vector<float>* hessian = nullptr;  // H [in, in] (docs/DESIGN.md §5)
  int64_t tokens = 0;                           // calibration tokens behind H
  float input_amax = 0;                         // max |x| of the input
  std::string rtn_reason;                       // non-empty: round-to-nearest, for this reason (a starved expert)
};

struct ModuleResult {
  nvfp4::QuantizedMatrix q;      // codes, FP8 block scales, scale_2, dequantized weight (FP32)
  nlohmann::ordered_json stats;  // the module's row of quantization_report.json; "time_s" is filled in by the loop
  bool fallback = false;         // the method fell back (e.g. GPTQ to round-to-nearest)
  double flops = 0;              // of the solve (docs/DESIGN.md §5 accounting)
  std::string log;               // its progress line (empty: none); `warning` makes it a warning with `note`
  bool warning = false;
  std::string note;
};

// The method's fields of quantize_config.json (docs/DESIGN.md §7).
struct MethodFields {
  const char* algorithm = "";
  bool desc_act = false, static_groups = true, true_sequential = false;
  double damp_percent = 0;
  const char* block_scales = "static";
  std::optional<int64_t> block_size;  // GPTQ's lazy-batch width; none for round-to-nearest
  bool fuse_scales = true;            // the run's scale_2 choice (set by the layer loop)
  nvfp4::ScaleRule scale_rule;        // the run's block-scale search and scale_2's K (set by the layer loop)
};

class Method {
 public:
  // name: the report's "method" ("gptq", "rtn"); calibrated: whether the method needs calibration (forward
  // passes, Hessians and the quantized layer outputs); summary_means: report stats averaged into the summary
  // as mean_<stat>.
  Method(const char* name, bool calibrated, std::vector<std::string> summary_means)
      : name_(name), calibrated_(calibrated), means_(std::move(summary_means)) {}
  virtual ~Method() = default;
  const char* name() const { return name_; }
  bool calibrated() const { return calibrated_; }
  const std::vector<std::string>& summary_means() const { return means_; }
  // Quantizes module m's FP32 weight w [out, in] on the chosen scale_2. Called from several threads at once
  // (MoE experts), each with its own workspace: must touch no shared state.
  virtual ModuleResult solve(const linalg::Context& ctx, gptq::Workspace& ws, const model::PlannedLinear& m,
                             const std::vector<float>& w, float scale_2, const ModuleInput& in) const = 0;
  // The modules of one input (mods[i] with weight weights[i] on scale_2[i], all reading `in`): by default one
  // solve() each; a method may share work between them (GPTQ factors their Hessian once). seconds[i] gets
  // module i's time.
  virtual std::vector<ModuleResult> solve_group(const linalg::Context& ctx, gptq::Workspace& ws,
                                                const std::vector<const model::PlannedLinear*>& mods,
                                                const std::vector<std::vector<float>>& weights,
                                                const std::vector<float>& scale_2, const ModuleInput& in,
                                                std::vector<double>& seconds) const;
  virtual MethodFields fields() const = 0;

 private:
  const char* name_;
  bool calibrated_;
  std::vector<std::string> means_;
};

}  // namespace fp4gptq::pipeline
