#pragma once
// The experts of a sparse MoE layer (docs/DESIGN.md §6). Every token is routed (router in FP32); each expert's gate/up
// Hessian comes from the tokens routed to it (every token with moe_calibrate_all), its down Hessian from its
// own activations with its gate/up quantized; an expert with fewer than the minimum tokens falls back to
// round-to-nearest. Experts are independent, so each is done whole ([gate,up] then [down]), several at once
// on the context's threads (each worker single-threaded): the same as all [gate,up] then all [down]. The
// report lists experts in order whichever worker finished first; the layer output is then the MoE forward
// with the real routing and the quantized experts.
#include "model/decoder_layer.hpp"
#include "pipeline/forward_stages.hpp"
#include "pipeline/module_solver.hpp"

namespace fp4gptq::pipeline {

struct ExpertScheduler {
  LayerActivations& acts;
  ModuleSolver& solver;
  TimeSplit& split;
  const linalg::Context& ctx;
  const QuantizeOptions& options;

  // Quantizes every expert of layer lp, whose MLP input is yn, and leaves the layer output in acts.
  void run(const model::LayerPlan& lp, model::DecoderLayer& layer, const ActivationStore& yn);
};

}  // namespace fp4gptq::pipeline
