#pragma once
// Perplexity exactly as docs/DESIGN.md §8: the data file's ids (all lines, file order) form one stream cut into
// non-overlapping windows of seqlen tokens (the tail dropped); every token but the first of each window is
// scored; ppl = exp(mean NLL). Works on original and pseudo-quantized directories alike (through the index).
#include <cstdint>
#include <vector>

#include "io/model_dir.hpp"
#include "linalg/context.hpp"
#include "model/linear.hpp"
#include "numeric/dtype.hpp"

namespace fp4gptq::pipeline {

struct Perplexity {
  double ppl = 0, mean_nll = 0;
  int64_t windows = 0, scored_tokens = 0;
};

Perplexity eval_perplexity(const linalg::Context& ctx, const io::ModelDir& dir, const std::vector<int32_t>& stream,
                           int64_t seqlen, model::Compute compute, numeric::DType act_dtype, bool quiet);

}  // namespace fp4gptq::pipeline
