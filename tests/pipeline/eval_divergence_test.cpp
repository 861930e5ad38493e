// eval (DESIGN §8b): a model against its base. The expected KL divergence is computed here in float64 from
// the independent reference's logits of the original (golden logits_f64) and from the full-vocabulary logits
// of the RTN model's forward; the base-logits file is checked against the exact log-softmax value by value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "fp4gptq/fp4gptq.hpp"
#include "io/model_dir.hpp"
#include "model/causal_lm.hpp"
#include "pipeline/base_logits.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;

struct Golden {
  int64_t B = 0, L = 0, V = 0;
  std::vector<int32_t> ids;
  std::vector<double> logits;  // [B, L, V] of the reference, float64
};

Golden read_golden(const fs::path& dir) {
  const io::SafetensorsFile g(dir / "golden.safetensors");
  Golden r;
  const auto& ii = g.at("input_ids");
  r.B = ii.shape[0], r.L = ii.shape[1];
  r.ids.resize(static_cast<size_t>(r.B * r.L));
  std::memcpy(r.ids.data(), g.bytes(ii).data(), r.ids.size() * 4);
  const auto& li = g.at("logits_f64");
  r.V = li.shape[2];
  r.logits.resize(li.numel());
  std::memcpy(r.logits.data(), g.bytes(li).data(), r.logits.size() * 8);
  return r;
}

std::vector<double> log_softmax(const double* l, int64_t V) {
  double m = l[0], s = 0;
  for (int64_t v = 1; v < V; ++v) m = std::max(m, l[v]);
  for (int64_t v = 0; v < V; ++v) s += std::exp(l[v] - m);
  std::vector<double> out(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) out[v] = l[v] - m - std::log(s);
  return out;
}

int64_t argmax(const double* l, int64_t V) { return std::max_element(l, l + V) - l; }

void write_ids(const fs::path& p, const Golden& g) {
  std::ofstream f(p);
  for (int64_t b = 0; b < g.B; ++b) {
    f << "{\"input_ids\": [";
    for (int64_t t = 0; t < g.L; ++t) f << (t ? ", " : "") << g.ids[b * g.L + t];
    f << "]}\n";
  }
}

CompareConfig f32_config(int64_t seqlen) {
  CompareConfig c;
  c.eval.seqlen = seqlen;
  c.eval.compute = Compute::F32;
  c.eval.quiet = true;
  return c;
}

class EvalDivergence : public ::testing::Test {
 protected:
  void SetUp() override {
    base = test::golden_dir() / "tiny-qwen3";
    g = read_golden(base);
    write_ids(d / "data.jsonl", g);
    QuantizeConfig q;
    q.algorithm = Algorithm::RTN;
    q.quiet = true;
    q.work_dir = d.path();
    auto m = CausalLM::from_pretrained(base, q);
    m.quantize();
    m.save_quantized(d / "rtn");
  }
  test::ScratchDir d;
  fs::path base;
  Golden g;
};

TEST_F(EvalDivergence, ModelAgainstItselfIsZero) {
  for (const auto compute : {Compute::F32, Compute::BF16}) {
    auto c = f32_config(g.L);
    c.eval.compute = compute;
    const auto r = compare_models(d / "rtn", d / "rtn", d / "data.jsonl", c);
    EXPECT_EQ(r.tokens, g.B * (g.L - 1));
    EXPECT_EQ(r.kld_mean, 0.0);
    EXPECT_EQ(r.kld_max, 0.0);
    EXPECT_EQ(r.top1, 1.0);
    EXPECT_EQ(r.ppl_ratio, 1.0);
    // The perplexities are eval-ppl's.
    EvalConfig e = c.eval;
    EXPECT_EQ(r.model.ppl, evaluate_perplexity(d / "rtn", d / "data.jsonl", e).ppl);
  }
}

TEST_F(EvalDivergence, RtnAgainstOriginalMatchesReferenceLogits) {
  // The RTN model's full logits of the same sequences (one batch, not eval's chunked store).
  const io::ModelDir rtn(d / "rtn");
  const auto plan = model::plan_model(rtn);
  std::vector<std::vector<int32_t>> seqs;
  for (int64_t b = 0; b < g.B; ++b) seqs.emplace_back(g.ids.begin() + b * g.L, g.ids.begin() + (b + 1) * g.L);
  const auto q32 = model::forward_logits(linalg::Context(), rtn, plan, seqs, model::Compute::F32);
  const int64_t V = g.V;
  double kl_sum = 0, kl_max = 0, nll_b = 0, nll_q = 0;
  int64_t agree = 0, n = 0;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t t = 0; t + 1 < g.L; ++t) {
      const int64_t row = b * g.L + t;
      std::vector<double> ql(q32.begin() + row * V, q32.begin() + (row + 1) * V);
      const auto lp = log_softmax(&g.logits[row * V], V), lq = log_softmax(ql.data(), V);
      double kl = 0;
      for (int64_t v = 0; v < V; ++v) kl += std::exp(lp[v]) * (lp[v] - lq[v]);
      kl_sum += kl, kl_max = std::max(kl_max, kl);
      const int32_t next = g.ids[row + 1];
      nll_b -= lp[next], nll_q -= lq[next];
      agree += argmax(&g.logits[row * V], V) == argmax(ql.data(), V);
      ++n;
    }
  const double kl_mean = kl_sum / static_cast<double>(n);
  ASSERT_GT(kl_mean, 1e-5);  // RTN changes the distributions measurably

  const auto r = compare_models(d / "rtn", base, d / "data.jsonl", f32_config(g.L));
  EXPECT_EQ(r.tokens, n);
  EXPECT_NEAR(r.kld_mean, kl_mean, 1e-3 * kl_mean);
  EXPECT_NEAR(r.kld_max, kl_max, 1e-3 * kl_max);
  EXPECT_NEAR(r.base.mean_nll, nll_b / static_cast<double>(n), 1e-5);
  EXPECT_NEAR(r.model.mean_nll, nll_q / static_cast<double>(n), 1e-5);
  EXPECT_NEAR(r.ppl_ratio, std::exp((nll_q - nll_b) / static_cast<double>(n)), 1e-5);
  EXPECT_NEAR(r.top1, static_cast<double>(agree) / static_cast<double>(n), 1.5 / static_cast<double>(n));
  EXPECT_LE(r.kld_median, r.kld_p99);
  EXPECT_LE(r.kld_p99, r.kld_max);
  EXPECT_GT(r.kld_ci95, 0.0);
}

TEST_F(EvalDivergence, StoredBaseLogitsRoundTrip) {
  auto c = f32_config(g.L);
  c.save_base_logits = d / "base.lp";
  const auto saved = compare_models(d / "rtn", base, d / "data.jsonl", c);
  const auto direct = compare_models(d / "rtn", base, d / "data.jsonl", f32_config(g.L));
  EXPECT_NEAR(saved.kld_mean, direct.kld_mean, 1e-3 * direct.kld_mean);
  EXPECT_EQ(saved.base.ppl, direct.base.ppl);  // the NLL is stored exactly
  EXPECT_FALSE(fs::exists(d / "base.lp.partial"));

  // Every stored log-probability within half a step (≤ 40/131070 nats) of the reference's.
  const pipeline::BaseLogitsReader file(d / "base.lp");
  EXPECT_EQ(file.header().vocab, g.V);
  EXPECT_EQ(file.header().windows, g.B);
  EXPECT_EQ(file.ids(), g.ids);
  std::vector<float> lp(static_cast<size_t>(g.V));
  double worst = 0;
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t t = 0; t + 1 < g.L; ++t) {
      const int64_t rec = b * (g.L - 1) + t, row = b * g.L + t;
      file.log_probs(rec, 0, g.V, lp.data());
      const auto exact = log_softmax(&g.logits[row * g.V], g.V);
      for (int64_t v = 0; v < g.V; ++v) worst = std::max(worst, std::fabs(lp[v] - exact[v]));
      EXPECT_EQ(file.top1(rec), argmax(&g.logits[row * g.V], g.V));
    }
  EXPECT_LT(worst, 40.0 / 131070 + 2e-4);  // half a code step, plus f32 logits against the f64 reference

  // Read back without the base (and without the data: the file holds the tokens): the same figures.
  auto rc = f32_config(0);
  rc.base_logits = d / "base.lp";
  const auto read = compare_models(d / "rtn", "", "", rc);
  EXPECT_EQ(read.kld_mean, saved.kld_mean);
  EXPECT_EQ(read.top1, saved.top1);
  EXPECT_EQ(read.base.ppl, saved.base.ppl);
  EXPECT_EQ(read.model.ppl, saved.model.ppl);

  // A saved file is not replaced unless asked to; a directory is never one.
  const auto size = fs::file_size(d / "base.lp");
  test::expect_error([&] { compare_models(d / "rtn", base, d / "data.jsonl", c); }, {"base.lp", "exists"});
  fs::resize_file(d / "base.lp", 100);
  c.overwrite = true;
  compare_models("", base, d / "data.jsonl", c);
  EXPECT_EQ(fs::file_size(d / "base.lp"), size);
  EXPECT_FALSE(fs::exists(d / "base.lp.partial"));
  c.save_base_logits = d.path();
  test::expect_error([&] { compare_models(d / "rtn", base, d / "data.jsonl", c); }, {"is a directory"});
}

TEST_F(EvalDivergence, BadInputsAreClearErrors) {
  const auto c = f32_config(g.L);
  test::expect_error([&] { compare_models(d / "rtn", "", d / "data.jsonl", c); }, {"no base"});
  test::expect_error([&] { compare_models(d / "rtn", d / "nowhere", d / "data.jsonl", c); }, {"nowhere"});
  // Another vocabulary.
  tools::TinyModelOptions o;
  o.vocab = 640;
  tools::make_tiny_model(d / "other", o);
  test::expect_error([&] { compare_models(d / "other", base, d / "data.jsonl", c); }, {"vocab_size 640", "512"});
  // Another tokenizer.
  fs::create_directories(d / "tok_a");
  fs::create_directories(d / "tok_b");
  for (const auto* name : {"config.json", "model.safetensors"}) {
    fs::copy_file(base / name, d / "tok_a" / name);
    fs::copy_file(base / name, d / "tok_b" / name);
  }
  std::ofstream(d / "tok_a" / "tokenizer.json") << "{\"a\": 1}";
  std::ofstream(d / "tok_b" / "tokenizer.json") << "{\"b\": 2}";
  test::expect_error([&] { compare_models(d / "tok_a", d / "tok_b", d / "data.jsonl", c); },
                     {"tokenizer.json", "share a tokenizer"});
  // Damaged or mismatched base-logits files.
  auto s = c;
  s.save_base_logits = d / "base.lp";
  compare_models("", base, d / "data.jsonl", s);
  auto r = f32_config(0);
  r.base_logits = d / "base.lp";
  test::expect_error([&] { compare_models(d / "rtn", "", d / "missing.jsonl", r); }, {"missing.jsonl"});
  {
    std::ofstream f(d / "short.jsonl");
    f << "{\"input_ids\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}\n";
  }
  r.eval.seqlen = 5;
  test::expect_error([&] { compare_models(d / "rtn", "", d / "short.jsonl", r); }, {"seqlen 48", "not 5"});
  r.eval.seqlen = 0;
  test::expect_error([&] { compare_models(d / "rtn", "", d / "short.jsonl", r); }, {"other tokens"});
  fs::resize_file(d / "base.lp", fs::file_size(d / "base.lp") - 7);
  test::expect_error([&] { compare_models(d / "rtn", "", "", r); }, {"base.lp", "truncated"});
  std::ofstream(d / "junk.lp") << "not a base-logits file at all, but long enough for a header............";
  r.base_logits = d / "junk.lp";
  test::expect_error([&] { compare_models(d / "rtn", "", "", r); }, {"junk.lp", "bad magic"});
  r.base_logits = d / "absent.lp";
  test::expect_error([&] { compare_models(d / "rtn", "", "", r); }, {"absent.lp"});
}

}  // namespace
}  // namespace fp4gptq
