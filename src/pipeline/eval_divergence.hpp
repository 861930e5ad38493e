#pragma once
// eval: how far a (quantized) model's next-token distributions are from the original's, as llama.cpp's
// llama-perplexity --kl-divergence (docs/DESIGN.md §8b). The windows are eval-ppl's; for every scored token
// KL(P_base ‖ P_model) = Σ_v p_v (log p_v − log q_v), streamed over vocabulary chunks, and whether both models'
// most likely tokens agree. Each model is streamed layer by layer; the base may come from a base-logits file.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "io/model_dir.hpp"
#include "linalg/context.hpp"
#include "model/linear.hpp"
#include "numeric/dtype.hpp"
#include "pipeline/eval_ppl.hpp"

namespace fp4gptq::pipeline {

struct DivergenceInputs {
  const io::ModelDir* model = nullptr;  // the model judged; null: only the base (to save its logits)
  const io::ModelDir* base = nullptr;   // the original; null: base_logits
  std::filesystem::path base_logits;    // the base's stored distributions instead of running it
  std::filesystem::path save_base_logits;
  bool overwrite = false;        // of save_base_logits
  std::vector<int32_t> stream;   // the tokens; may be empty with base_logits (then the file's)
  int64_t seqlen = 0;            // 0 with base_logits: the file's
  model::Compute compute = model::Compute::BF16;
  numeric::DType act_dtype = numeric::DType::BF16;
  bool quiet = false;
};

struct Divergence {
  Perplexity base, model;  // model's is empty without a model
  double ppl_ratio = 0;    // model / base
  int64_t seqlen = 0, tokens = 0;  // window length, scored tokens
  double kld_mean = 0, kld_ci95 = 0;  // mean and the half-width of its 95% interval (1.96 · sd / √n)
  double kld_median = 0, kld_p99 = 0, kld_max = 0;
  double top1 = 0, top1_ci95 = 0;  // share of tokens whose most likely next token is the same in both
};

Divergence eval_divergence(const linalg::Context& ctx, const DivergenceInputs& in);

}  // namespace fp4gptq::pipeline
