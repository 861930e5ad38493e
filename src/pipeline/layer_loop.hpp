#pragma once
// The one layer loop of every method (docs/DESIGN.md §2): walks the decoder layers and their true-sequential groups
// ([q,k,v] → [o] → [gate,up] → [down]) and hands each group's modules to the method through a ModuleSolver.
// For a calibrated method it first computes the group's inputs from the layer with the earlier groups
// quantized (LayerActivations), accumulates one Hessian per distinct input, and afterwards runs the layer with
// its quantized weights for the next layer's inputs (AutoGPTQ); an uncalibrated method gets no forward pass at
// all. Each layer's tensors are written as soon as it is done; the rest of the model after the last layer.
#include <optional>

#include "calib/calibration.hpp"
#include "io/model_dir.hpp"
#include "model/decoder_layer.hpp"
#include "pipeline/forward_stages.hpp"
#include "pipeline/method.hpp"
#include "pipeline/module_solver.hpp"
#include "pipeline/output_format.hpp"
#include "pipeline/quantize.hpp"
#include "pipeline/resume_journal.hpp"

namespace fp4gptq::pipeline {

class LayerLoop {
 public:
  // `calib` is required by a calibrated method and ignored otherwise. With a `journal` (calibrated methods), a
  // run continues after the layers an earlier, killed run finished and journals each layer it finishes.
  LayerLoop(const linalg::Context& ctx, const Method& method, OutputFormat& out, const io::ModelDir& src,
            const model::ModelPlan& plan, const QuantizeOptions& options, const calib::CalibrationSet* calib,
            ResumeJournal* journal = nullptr, const dist::Communicator& comm = dist::serial());

  // Quantizes every layer, writes the whole checkpoint (finishing the output) and returns its summary.
  QuantizeSummary run();

 private:
  nlohmann::ordered_json rank_figures(double seconds) const;  // collective
  void uncalibrated_layer(const model::LayerPlan& lp);
  void sequential_layer(const model::LayerPlan& lp, model::DecoderLayer& layer);
  void at_once_layer(const model::LayerPlan& lp, model::DecoderLayer& layer);
  // Solves group g with its inputs `in`; swaps the quantized weights into the layer (apply) or keeps them in
  // pending_ until the whole layer is solved.
  void solve_group(const model::LayerPlan& lp, model::DecoderLayer& layer, model::SeqGroup g, const ActivationStore& in,
                   bool apply = true);

  const linalg::Context& ctx_;
  const Method& method_;
  OutputFormat& out_;
  const io::ModelDir& src_;
  const model::ModelPlan& plan_;
  const QuantizeOptions& o_;
  const calib::CalibrationSet* calib_;
  ResumeJournal* journal_;
  const dist::Communicator& comm_;
  Progress progress_;
  Report report_;
  TimeSplit split_;
  ModuleSolver solver_;
  gptq::Workspace ws_;
  std::optional<LayerActivations> acts_;
  std::vector<std::pair<const model::PlannedLinear*, std::vector<float>>> pending_;
  bool warned_sparse_at_once_ = false;
};

}  // namespace fp4gptq::pipeline
