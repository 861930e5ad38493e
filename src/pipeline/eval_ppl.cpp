#include "pipeline/eval_ppl.hpp"

#include <cmath>
#include <limits>

#include "calib/activation_store.hpp"
#include "fp4gptq/error.hpp"
#include "model/causal_lm.hpp"
#include "model/decoder_layer.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

namespace {

// Σ NLL of every token but the first of each window, from the final hidden states in x: logsumexp over the
// vocabulary (streamed over vocab chunks) minus the target's logit. Returns (sum, tokens scored).
std::pair<double, int64_t> score(const linalg::Context& ctx, const io::ModelDir& dir, const model::ModelConfig& cfg,
                                 const calib::ActivationStore& x, const std::vector<int32_t>& stream, int64_t seqlen,
                                 int64_t windows, int64_t per_chunk, model::Compute compute) {
  const int64_t H = cfg.hidden_size;
  std::vector<float> in;
  double nll_sum = 0;
  int64_t scored = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    const int64_t nw = std::min(per_chunk, windows - w0), n = nw * seqlen;
    in.resize(static_cast<size_t>(n * H));
    x.load(w0 * seqlen, n, in.data());
    std::vector<double> run_max(static_cast<size_t>(n), -std::numeric_limits<double>::infinity()),
        run_sum(run_max.size(), 0.0), target(run_max.size(), 0.0);
    model::lm_head_chunks(ctx, dir, cfg, in.data(), n, compute, [&](int64_t v0, int64_t nv, const float* logits) {
      for (int64_t r = 0; r < n; ++r) {
        const float* l = logits + r * nv;
        double m = run_max[r];
        for (int64_t v = 0; v < nv; ++v) m = std::max(m, static_cast<double>(l[v]));
        double s = run_sum[r] * std::exp(run_max[r] - m);
        for (int64_t v = 0; v < nv; ++v) s += std::exp(static_cast<double>(l[v]) - m);
        run_max[r] = m;
        run_sum[r] = s;
        if (r % seqlen != seqlen - 1) {
          const int32_t next = stream[static_cast<size_t>(w0 * seqlen + r + 1)];
          if (next >= v0 && next < v0 + nv) target[r] = l[next - v0];
        }
      }
    });
    for (int64_t r = 0; r < n; ++r)
      if (r % seqlen != seqlen - 1) {
        nll_sum += run_max[r] + std::log(run_sum[r]) - target[r];
        ++scored;
      }
  }
  return {nll_sum, scored};
}

}  // namespace

Perplexity eval_perplexity(const linalg::Context& ctx, const io::ModelDir& dir, const std::vector<int32_t>& stream,
                           int64_t seqlen, model::Compute compute, numeric::DType act_dtype, bool quiet) {
  if (seqlen < 2)
    throw Error("eval-ppl: seqlen " + std::to_string(seqlen) +
                " is too short: at least 2 tokens per window are needed to score one");
  const auto plan = model::plan_model(dir);
  const auto& cfg = plan.config;
  const int64_t windows = static_cast<int64_t>(stream.size()) / seqlen;
  if (windows == 0)
    throw Error("eval-ppl: the data holds " + std::to_string(stream.size()) + " tokens, fewer than one window of " +
                std::to_string(seqlen));
  const int64_t H = cfg.hidden_size, rows = windows * seqlen;
  const int64_t per_chunk = std::max<int64_t>(1, 4096 / seqlen);  // windows per forward chunk

  calib::ActivationStore x(act_dtype, rows, H);
  for (int64_t w0 = 0; w0 < windows; w0 += per_chunk) {
    const int64_t nw = std::min(per_chunk, windows - w0);
    const std::vector<int32_t> ids(stream.begin() + w0 * seqlen, stream.begin() + (w0 + nw) * seqlen);
    x.store(w0 * seqlen, nw * seqlen, model::embed_tokens(dir, cfg, ids).data());
  }
  const model::RopeTable rope(cfg, seqlen);
  Progress progress("eval-ppl", static_cast<int64_t>(plan.layers.size()), quiet);
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

  const auto [nll_sum, scored] = score(ctx, dir, cfg, x, stream, seqlen, windows, per_chunk, compute);
  Perplexity p;
  p.windows = windows;
  p.scored_tokens = scored;
  p.mean_nll = nll_sum / static_cast<double>(scored);
  p.ppl = std::exp(p.mean_nll);
  return p;
}

}  // namespace fp4gptq::pipeline
