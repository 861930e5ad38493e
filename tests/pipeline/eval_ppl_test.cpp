// eval-ppl (DESIGN §8) against the golden models: the expected perplexity is computed here from the
// reference's float64 logits of the same two sequences (each one window).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "calib/calibration.hpp"
#include "pipeline/eval_ppl.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::pipeline {
namespace {

class EvalPplGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalPplGolden, MatchesPerplexityFromReferenceLogits) {
  const auto dir_path = test::golden_dir() / GetParam();
  const io::SafetensorsFile g(dir_path / "golden.safetensors");
  const auto& ii = g.at("input_ids");
  const int64_t B = ii.shape[0], L = ii.shape[1];
  std::vector<int32_t> ids(static_cast<size_t>(B * L));
  std::memcpy(ids.data(), g.bytes(ii).data(), ids.size() * 4);
  const auto& li = g.at("logits_f64");
  const int64_t V = li.shape[2];
  std::vector<double> logits(li.numel());
  std::memcpy(logits.data(), g.bytes(li).data(), logits.size() * 8);
  double nll = 0;
  int64_t n = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t + 1 < L; ++t) {
      const double* l = &logits[(b * L + t) * V];
      double m = l[0];
      for (int64_t v = 1; v < V; ++v) m = std::max(m, l[v]);
      double s = 0;
      for (int64_t v = 0; v < V; ++v) s += std::exp(l[v] - m);
      nll += m + std::log(s) - l[ids[b * L + t + 1]];
      ++n;
    }
  const double expected = std::exp(nll / static_cast<double>(n));

  // The data file: one line per sequence; the stream is cut into windows of L, i.e. the same two sequences,
  // plus a tail shorter than a window that must be dropped.
  test::ScratchDir d;
  {
    std::ofstream f(d / "data.jsonl");
    for (int64_t b = 0; b < B; ++b) {
      f << "{\"input_ids\": [";
      for (int64_t t = 0; t < L; ++t) f << (t ? ", " : "") << ids[b * L + t];
      f << "]}\n";
    }
    f << "{\"input_ids\": [5, 6, 7]}\n";
  }
  const io::ModelDir dir(dir_path);
  std::vector<int32_t> stream;
  for (const auto& s : calib::read_token_jsonl(d / "data.jsonl", V).samples)
    stream.insert(stream.end(), s.begin(), s.end());
  const auto p = eval_perplexity(linalg::Context(), dir, stream, L, model::Compute::F32, numeric::DType::F32, true);
  EXPECT_EQ(p.windows, B);
  EXPECT_EQ(p.scored_tokens, B * (L - 1));
  EXPECT_NEAR(p.ppl, expected, 1e-4 * expected);
  const auto pb = eval_perplexity(linalg::Context(), dir, stream, L, model::Compute::BF16, numeric::DType::BF16, true);
  EXPECT_NEAR(pb.ppl, expected, 2e-2 * expected);
  test::expect_error(
      [&] {
        eval_perplexity(linalg::Context(), dir, std::vector<int32_t>(10, 1), 48, model::Compute::F32,
                        numeric::DType::F32, true);
      },
      {"10 tokens", "window of 48"});
}

INSTANTIATE_TEST_SUITE_P(Models, EvalPplGolden, ::testing::Values("tiny-qwen3", "tiny-llama"), [](const auto& info) {
  return info.param == "tiny-qwen3" ? std::string("qwen3") : std::string("llama");
});

}  // namespace
}  // namespace fp4gptq::pipeline
