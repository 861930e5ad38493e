// The decoder forward pass against tests/data/golden/tiny-qwen3 and tiny-llama (an independent implementation
// of the transformers code): FP32 compute within 1e-4·max|value| on every hidden state and the logits; bf16
// matmuls within 2e-2·max|logit| on the logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "model/causal_lm.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::model {
namespace {

struct Golden {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<float>> hidden;
  std::vector<float> logits;
};

Golden load(const std::string& name) {
  const io::SafetensorsFile g(test::golden_dir() / name / "golden.safetensors");
  Golden out;
  const auto& ii = g.at("input_ids");
  std::vector<int32_t> flat(ii.numel());
  std::memcpy(flat.data(), g.bytes(ii).data(), flat.size() * 4);
  for (int64_t b = 0; b < ii.shape[0]; ++b)
    out.ids.emplace_back(flat.begin() + b * ii.shape[1], flat.begin() + (b + 1) * ii.shape[1]);
  for (int i = 0; g.find("hidden." + std::to_string(i)); ++i)
    out.hidden.push_back(g.read_f32(g.at("hidden." + std::to_string(i))));
  out.logits = g.read_f32(g.at("logits"));
  return out;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Largest |a - b| relative to max|b|.
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d / max_abs(b);
}

// FP32 compute: every hidden state and the logits within 1e-4 of that tensor's max |value|.
void expect_fp32_match(const std::string& name, const std::function<void(const ModelPlan&)>& check_plan = {}) {
  const auto g = load(name);
  const io::ModelDir dir(test::golden_dir() / name);
  const auto plan = make_plan(ModelConfig::parse(dir.config(), "config.json"));
  if (check_plan) check_plan(plan);
  std::vector<std::vector<float>> hidden;
  const auto logits = forward_logits(linalg::Context(), dir, plan, g.ids, Compute::F32,
                                     [&](int64_t, const std::vector<float>& h) { hidden.push_back(h); });
  ASSERT_EQ(hidden.size(), g.hidden.size());
  for (size_t i = 0; i < hidden.size(); ++i) EXPECT_LT(rel_diff(hidden[i], g.hidden[i]), 1e-4) << "hidden." << i;
  EXPECT_LT(rel_diff(logits, g.logits), 1e-4);
}

class ForwardGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardGolden, Fp32MatchesEveryHiddenStateAndLogits) { expect_fp32_match(GetParam()); }

TEST(ForwardGoldenMoe, Fp32MatchesEveryHiddenStateAndLogits) {
  // Layers 0 and 2 sparse (8 experts, top-2, norm_topk_prob), layer 1 dense (mlp_only_layers), tied embeddings.
  expect_fp32_match("tiny-qwen3moe", [](const ModelPlan& plan) {
    ASSERT_TRUE(plan.layers[0].sparse && !plan.layers[1].sparse && plan.layers[2].sparse);
  });
}

TEST_P(ForwardGolden, Bf16MatmulsMatchLogits) {
  const auto g = load(GetParam());
  const io::ModelDir dir(test::golden_dir() / GetParam());
  const auto plan = make_plan(ModelConfig::parse(dir.config(), "config.json"));
  const auto logits = forward_logits(linalg::Context(), dir, plan, g.ids, Compute::BF16);
  const double d = rel_diff(logits, g.logits);
  EXPECT_LT(d, 2e-2);
  EXPECT_GT(d, 0.0) << "bf16 matmuls round, so the result cannot be exact";
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardGolden, ::testing::Values("tiny-qwen3", "tiny-llama"), [](const auto& info) {
  return info.param == "tiny-qwen3" ? std::string("qwen3") : std::string("llama");
});

}  // namespace
}  // namespace fp4gptq::model
