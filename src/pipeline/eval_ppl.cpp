#include "pipeline/eval_ppl.hpp"

#include "fp4gptq/error.hpp"
#include "model/causal_lm.hpp"
#include "model/decoder_layer.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

int64_t window_count(const std::vector<int32_t>& stream, int64_t seqlen, const std::string& task) {
  if (seqlen < 2)
    throw Error(task + ": seqlen " + std::to_string(seqlen) +
                " is too short: at least 2 tokens per window are needed to score one");
  const int64_t windows = static_cast<int64_t>(stream.size()) / seqlen;
  if (windows == 0)
    throw Error(task + ": the data holds " + std::to_string(stream.size()) + " tokens, fewer than one window of " +
                std::to_string(seqlen));
  return windows;
}

calib::ActivationStore final_hidden_states(const linalg::Context& ctx, const io::ModelDir& dir,
                                           const model::ModelPlan& plan, const std::vector<int32_t>& stream,
                                           int64_t seqlen, int64_t windows, model::Compute compute,
                                           numeric::DType act_dtype, const std::string& task, bool quiet) {
  const auto& cfg = plan.config;
  const int64_t H = cfg.hidden_size, per_chunk = windows_per_chunk(seqlen);
  calib::ActivationStore x(act_dtype, windows * seqlen, H);
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    const int64_t nw = std::min(per_chunk, windows - w0);
    const std::vector<int32_t> ids(stream.begin() + w0 * seqlen, stream.begin() + (w0 + nw) * seqlen);
    x.store(w0 * seqlen, nw * seqlen, model::embed_tokens(dir, cfg, ids).data());
  }
  const model::RopeTable rope(cfg, seqlen);
  Progress progress(task, static_cast<int64_t>(plan.layers.size()), quiet);
  std::vector<float> in, out;
  for (const auto& lp : plan.layers) {
    const model::DecoderLayer layer(cfg, lp, dir, compute);
    for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
      ctx.check_cancelled();
      const int64_t nw = std::min(per_chunk, windows - w0);
      in.resize(static_cast<size_t>(nw * seqlen * H));
      out.resize(in.size());
      x.load(w0 * seqlen, nw * seqlen, in.data());
      layer.forward(ctx, in.data(), std::vector<int64_t>(static_cast<size_t>(nw), seqlen), rope, out.data());
      x.store(w0 * seqlen, nw * seqlen, out.data());
    }
    dir.release_all();
    progress.layer_done(lp.index, "");
  }
  return x;
}

Perplexity eval_perplexity(const linalg::Context& ctx, const io::ModelDir& dir, const std::vector<int32_t>& stream,
                           int64_t seqlen, model::Compute compute, numeric::DType act_dtype, bool quiet) {
  const int64_t windows = window_count(stream, seqlen, "eval-ppl");
  const auto plan = model::plan_model(dir);
  const auto& cfg = plan.config;
  const auto x = final_hidden_states(ctx, dir, plan, stream, seqlen, windows, compute, act_dtype, "eval-ppl", quiet);

  // Σ NLL of every token but the first of each window: logsumexp over the vocabulary (streamed over vocab
  // chunks) minus the target's logit.
  const model::LmHead head(dir, cfg, compute);
  const int64_t H = cfg.hidden_size, per_chunk = windows_per_chunk(seqlen);
  std::vector<float> in, logits;
  double nll_sum = 0;
  int64_t scored = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    const int64_t nw = std::min(per_chunk, windows - w0), n = nw * seqlen;
    in.resize(static_cast<size_t>(n * H));
    x.load(w0 * seqlen, n, in.data());
    head.final_norm(in.data(), n);
    std::vector<RunningLogSumExp> lse(static_cast<size_t>(n));
    std::vector<double> target(static_cast<size_t>(n), 0.0);
    for (int64_t v0 = 0; v0 < cfg.vocab_size; v0 += model::LmHead::kVocabChunk) {
      const int64_t nv = std::min(model::LmHead::kVocabChunk, cfg.vocab_size - v0);
      logits.resize(static_cast<size_t>(n * nv));
      head.logits(ctx, in.data(), n, v0, nv, logits.data());
      for (int64_t r = 0; r < n; ++r) {
        const float* l = &logits[r * nv];
        lse[r].add(l, nv);
        if (r % seqlen == seqlen - 1) continue;
        const int32_t next = stream[static_cast<size_t>(w0 * seqlen + r + 1)];
        if (next >= v0 && next < v0 + nv) target[r] = l[next - v0];
      }
    }
    for (int64_t r = 0; r < n; ++r)
      if (r % seqlen != seqlen - 1) {
        nll_sum += lse[r].value() - target[r];
        ++scored;
      }
  }
  Perplexity p;
  p.windows = windows;
  p.scored_tokens = scored;
  p.mean_nll = nll_sum / static_cast<double>(scored);
  p.ppl = std::exp(p.mean_nll);
  return p;
}

}  // namespace fp4gptq::pipeline
