#pragma once
// Perplexity exactly as docs/DESIGN.md §8: the data file's ids (all lines, file order) form one stream cut into
// non-overlapping windows of seqlen tokens (the tail dropped); every token but the first of each window is
// scored; ppl = exp(mean NLL). Works on original, pseudo-quantized and packed directories alike (through the
// index). The forward over the windows is shared with eval (eval_divergence.hpp).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "calib/activation_store.hpp"
#include "io/model_dir.hpp"
#include "linalg/context.hpp"
#include "model/layer_plan.hpp"
#include "model/linear.hpp"
#include "numeric/dtype.hpp"

namespace fp4gptq::pipeline {

struct Perplexity {
  double ppl = 0, mean_nll = 0;
  int64_t windows = 0, scored_tokens = 0;
};

Perplexity eval_perplexity(const linalg::Context& ctx, const io::ModelDir& dir, const std::vector<int32_t>& stream,
                           int64_t seqlen, model::Compute compute, numeric::DType act_dtype, bool quiet);

// The number of whole windows of seqlen in the stream; `task` names the command in the errors (seqlen < 2,
// fewer tokens than one window).
int64_t window_count(const std::vector<int32_t>& stream, int64_t seqlen, const std::string& task);

// Windows per forward chunk (about 4096 tokens, at least one window).
inline int64_t windows_per_chunk(int64_t seqlen) { return std::max<int64_t>(1, 4096 / seqlen); }

// The first `windows` windows of the stream through every decoder layer, one layer in memory at a time: the
// hidden states before the final norm, [windows · seqlen, hidden], in act_dtype. Progress as `task`.
calib::ActivationStore final_hidden_states(const linalg::Context& ctx, const io::ModelDir& dir,
                                           const model::ModelPlan& plan, const std::vector<int32_t>& stream,
                                           int64_t seqlen, int64_t windows, model::Compute compute,
                                           numeric::DType act_dtype, const std::string& task, bool quiet);

// Log-sum-exp of one row streamed over vocabulary chunks (max-shifted, so any chunking agrees to rounding).
// With `other` and `t`, also t = Σ e^{l_v − max}·(l_v − other_v) on the same shift (eval's KL divergence).
struct RunningLogSumExp {
  double max = -std::numeric_limits<double>::infinity(), sum = 0;
  void add(const float* l, int64_t n, const float* other = nullptr, double* t = nullptr) {
    double m = max;
    for (int64_t v = 0; v < n; ++v) m = std::max(m, static_cast<double>(l[v]));
    const double rescale = std::exp(max - m);
    double s = sum * rescale;
    if (t) *t *= rescale;
    for (int64_t v = 0; v < n; ++v) {
      const double e = std::exp(static_cast<double>(l[v]) - m);
      s += e;
      if (t) *t += e * (static_cast<double>(l[v]) - other[v]);
    }
    max = m;
    sum = s;
  }
  double value() const { return max + std::log(sum); }
};

}  // namespace fp4gptq::pipeline
