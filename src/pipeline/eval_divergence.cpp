#include "pipeline/eval_divergence.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "fp4gptq/error.hpp"
#include "model/causal_lm.hpp"
#include "model/layer_plan.hpp"
#include "pipeline/base_logits.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One scored token's running statistics over the vocabulary chunks. With p the base's distribution (from
// logits or stored log-probabilities: both are normalised here) and q the model's:
//   KL(p ‖ q) = Σ_v p_v (l_v − m_v) − lse(l) + lse(m)
// where Σ p_v (l_v − m_v) = t / s with s = Σ exp(l_v − max l) and t = Σ exp(l_v − max l)(l_v − m_v), both
// rescaled whenever the running max grows.
struct TokenStats {
  RunningLogSumExp p, q;
  double t = 0;
  float best_p = kNegInf, best_q = kNegInf;
  int32_t top_p = 0, top_q = 0;
  double target_p = 0, target_q = 0;

  void add(const float* l, const float* m, int64_t v0, int64_t n, int32_t next) {
    p.add(l, n, m, m ? &t : nullptr);
    for (int64_t v = 0; v < n; ++v)
      if (l[v] > best_p) best_p = l[v], top_p = static_cast<int32_t>(v0 + v);
    if (next >= v0 && next < v0 + n) target_p = l[next - v0];
    if (!m) return;
    q.add(m, n);
    for (int64_t v = 0; v < n; ++v)
      if (m[v] > best_q) best_q = m[v], top_q = static_cast<int32_t>(v0 + v);
    if (next >= v0 && next < v0 + n) target_q = m[next - v0];
  }
  double base_lse() const { return p.value(); }
  double kl() const { return t / p.sum - p.value() + q.value(); }
};

// The exact extremes of one base token's logits, for its stored code range (pass A of saving).
struct LogitRange {
  float lo = std::numeric_limits<float>::infinity(), hi = kNegInf;
  double lse = 0;
  LogProbCodes codes() const { return {lo - lse, hi - lse}; }
};

struct Model {
  model::ModelPlan plan;
  calib::ActivationStore hidden;
  std::unique_ptr<model::LmHead> head;
};

void run_model(const linalg::Context& ctx, const io::ModelDir& dir, const DivergenceInputs& in, int64_t windows,
               const char* task, Model& m) {
  m.hidden = final_hidden_states(ctx, dir, m.plan, in.stream, in.seqlen, windows, in.compute, in.act_dtype, task,
                                 in.quiet);
  m.head = std::make_unique<model::LmHead>(dir, m.plan.config, in.compute);
}

double quantile(std::vector<double> v, double q) {  // nearest rank
  const auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - (q > 0 ? 1 : 0);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

Divergence eval_divergence(const linalg::Context& ctx, const DivergenceInputs& input) {
  DivergenceInputs in = input;
  std::optional<BaseLogitsReader> stored;
  if (!in.base) {
    if (in.base_logits.empty()) throw Error("eval: no base: give the original model or a base-logits file");
    stored.emplace(in.base_logits);
    const auto& h = stored->header();
    if (in.seqlen != 0 && in.seqlen != h.seqlen)
      throw Error(in.base_logits.string() + ": stored with seqlen " + std::to_string(h.seqlen) + ", not " +
                  std::to_string(in.seqlen));
    in.seqlen = h.seqlen;
    auto ids = stored->ids();
    if (!in.stream.empty()) {
      const auto windows = static_cast<int64_t>(in.stream.size()) / in.seqlen;
      if (windows != h.windows || !std::equal(ids.begin(), ids.end(), in.stream.begin()))
        throw Error(in.base_logits.string() + ": stored for other tokens (" + std::to_string(h.windows) +
                    " windows of " + std::to_string(h.seqlen) + ") than the data gives (" + std::to_string(windows) +
                    " windows)");
    }
    in.stream = std::move(ids);
  }
  const int64_t windows = window_count(in.stream, in.seqlen, "eval"), seqlen = in.seqlen;

  // Everything that can be refused is checked before the forward passes, which may take hours.
  std::optional<Model> base, model;
  if (in.base) base.emplace(Model{model::plan_model(*in.base), {}, nullptr});
  if (in.model) model.emplace(Model{model::plan_model(*in.model), {}, nullptr});
  const int64_t vocab = base ? base->plan.config.vocab_size : stored->header().vocab;
  if (model && model->plan.config.vocab_size != vocab)
    throw Error("eval: " + in.model->config_path().string() + " has vocab_size " +
                std::to_string(model->plan.config.vocab_size) + " but the base has " + std::to_string(vocab) +
                ": the models must share a vocabulary");
  for (const int32_t id : in.stream)
    if (id < 0 || id >= vocab)
      throw Error("eval: token id " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                  std::to_string(vocab) + ")");
  std::optional<BaseLogitsWriter> save;
  if (!in.save_base_logits.empty()) {
    if (!base) throw Error("eval: saving base logits needs the base model, not a base-logits file");
    save.emplace(in.save_base_logits, BaseLogitsHeader{vocab, seqlen, windows}, in.stream, in.overwrite);
  }
  if (base) run_model(ctx, *in.base, in, windows, "eval: base", *base);
  if (model) run_model(ctx, *in.model, in, windows, "eval: model", *model);

  const int64_t per_chunk = windows_per_chunk(seqlen), V = model::LmHead::kVocabChunk;
  std::vector<float> xb, xm, lb, lm;
  std::vector<uint16_t> codes;
  std::vector<double> kl;
  kl.reserve(static_cast<size_t>(windows * (seqlen - 1)));
  double nll_base = 0, nll_model = 0;
  int64_t agree = 0;
  auto load = [&](const Model& m, int64_t w0, int64_t n, std::vector<float>& x) {
    x.resize(static_cast<size_t>(n * m.plan.config.hidden_size));
    m.hidden.load(w0 * seqlen, n, x.data());
    m.head->final_norm(x.data(), n);
  };
  const int64_t chunks = (windows + per_chunk - 1) / per_chunk;
  const Progress progress("eval: heads", 0, in.quiet);
  for (int64_t w0 = 0, done = 0; w0 < windows; w0 += per_chunk, ++done) {
    ctx.check_cancelled();
    if (chunks >= 10 && done % (chunks / 10) == 0)
      progress.note(fmt::format("tokens {}/{}, {}", w0 * seqlen, windows * seqlen, format_seconds(progress.elapsed())));
    const int64_t nw = std::min(per_chunk, windows - w0), n = nw * seqlen;
    auto scored = [&](int64_t r) { return r % seqlen != seqlen - 1; };
    auto record = [&](int64_t r) { return (w0 + r / seqlen) * (seqlen - 1) + r % seqlen; };
    auto next = [&](int64_t r) { return in.stream[static_cast<size_t>(w0 * seqlen + r + 1)]; };
    if (base) load(*base, w0, n, xb);
    if (model) load(*model, w0, n, xm);

    // Saving, pass A: each token's exact log-sum-exp, extremes, top token and NLL, for its record head.
    std::vector<LogitRange> range(save ? static_cast<size_t>(n) : 0);
    std::vector<double> stored_nll(static_cast<size_t>(n), 0.0);
    std::vector<int32_t> stored_top(static_cast<size_t>(n), 0);
    if (save) {
      std::vector<TokenStats> a(static_cast<size_t>(n));
      for (int64_t v0 = 0; v0 < vocab; v0 += V) {
        const int64_t nv = std::min(V, vocab - v0);
        lb.resize(static_cast<size_t>(n * nv));
        base->head->logits(ctx, xb.data(), n, v0, nv, lb.data());
        for (int64_t r = 0; r < n; ++r) {
          if (!scored(r)) continue;
          const float* l = &lb[r * nv];
          a[r].add(l, nullptr, v0, nv, next(r));
          for (int64_t v = 0; v < nv; ++v) {
            range[r].lo = std::min(range[r].lo, l[v]);
            range[r].hi = std::max(range[r].hi, l[v]);
          }
        }
      }
      for (int64_t r = 0; r < n; ++r) {
        if (!scored(r)) continue;
        range[r].lse = a[r].base_lse();
        stored_nll[r] = range[r].lse - a[r].target_p;
        stored_top[r] = a[r].top_p;
        save->set_head(record(r), stored_nll[r], stored_top[r], range[r].codes());
      }
    }

    // The comparison pass: the base's logits (or its stored log-probabilities) beside the model's.
    std::vector<TokenStats> st(static_cast<size_t>(n));
    for (int64_t v0 = 0; v0 < vocab; v0 += V) {
      const int64_t nv = std::min(V, vocab - v0);
      lb.resize(static_cast<size_t>(n * nv));
      if (base) base->head->logits(ctx, xb.data(), n, v0, nv, lb.data());
      if (model) {
        lm.resize(lb.size());
        model->head->logits(ctx, xm.data(), n, v0, nv, lm.data());
      }
      codes.resize(static_cast<size_t>(nv));
      for (int64_t r = 0; r < n; ++r) {
        if (!scored(r)) continue;
        float* l = &lb[r * nv];
        if (save) {  // what a later --base-logits run will read
          const LogProbCodes c = range[r].codes();
          for (int64_t v = 0; v < nv; ++v) l[v] = c.decode(codes[v] = c.encode(l[v] - range[r].lse));
          save->set_codes(record(r), v0, nv, codes.data());
        } else if (stored) {
          stored->log_probs(record(r), v0, nv, l);
        }
        st[r].add(l, model ? &lm[r * nv] : nullptr, v0, nv, next(r));
      }
    }
    for (int64_t r = 0; r < n; ++r) {
      if (!scored(r)) continue;
      const auto& s = st[r];
      const bool exact = base && !save;
      const double nb = exact ? s.base_lse() - s.target_p : stored ? stored->nll(record(r)) : stored_nll[r];
      const int32_t tb = exact ? s.top_p : stored ? stored->top1(record(r)) : stored_top[r];
      nll_base += nb;
      if (!model) continue;
      nll_model += s.q.value() - s.target_q;
      kl.push_back(s.kl());
      agree += tb == s.top_q;
    }
  }
  if (save) save->finish();

  Divergence d;
  d.seqlen = seqlen;
  d.tokens = windows * (seqlen - 1);
  const auto tokens = static_cast<double>(d.tokens);
  auto perplexity = [&](double nll_sum) {
    Perplexity p;
    p.windows = windows;
    p.scored_tokens = d.tokens;
    p.mean_nll = nll_sum / tokens;
    p.ppl = std::exp(p.mean_nll);
    return p;
  };
  d.base = perplexity(nll_base);
  if (!model) return d;
  d.model = perplexity(nll_model);
  d.ppl_ratio = d.model.ppl / d.base.ppl;
  double sum = 0, sq = 0;
  for (const double k : kl) sum += k;
  d.kld_mean = sum / tokens;
  for (const double k : kl) sq += (k - d.kld_mean) * (k - d.kld_mean);
  const double sd = d.tokens > 1 ? std::sqrt(sq / (tokens - 1)) : 0.0;
  d.kld_ci95 = 1.96 * sd / std::sqrt(tokens);
  d.kld_median = quantile(kl, 0.5);
  d.kld_p99 = quantile(kl, 0.99);
  d.kld_max = *std::max_element(kl.begin(), kl.end());
  d.top1 = static_cast<double>(agree) / tokens;
  d.top1_ci95 = 1.96 * std::sqrt(d.top1 * (1 - d.top1) / tokens);
  return d;
}

}  // namespace fp4gptq::pipeline
