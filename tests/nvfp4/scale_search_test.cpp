// Block-scale search and scale_2's K (DESIGN §4b) against hand-computed candidate sets and a brute force over
// every FP8 code, written here from the E4M3 and E2M1 tables.
#include <gtest/gtest.h>

#include <cmath>

#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "nvfp4/quantizer.hpp"
#include "nvfp4/scale_rules.hpp"
#include "nvfp4/scale_search.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::nvfp4 {
namespace {

std::vector<float> candidate_values(uint8_t code) {
  uint8_t c[kMaxCandidates];
  const int n = scale_candidates(code, c);
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(numeric::e4m3_to_f32(c[i]));
  return v;
}

TEST(ScaleSearch, CandidatesAreTheFp8ValuesWithinAQuarter) {
  // E4M3 has 8 values per octave: around 1.0 they are 0.75 + k/16 below and 1 + k/8 above.
  EXPECT_EQ(candidate_values(numeric::kE4M3One),
            (std::vector<float>{0.75f, 0.8125f, 0.875f, 0.9375f, 1.0f, 1.125f, 1.25f}));
  // 448 is the largest finite code (0x7F is NaN): nothing above it.
  EXPECT_EQ(candidate_values(0x7E), (std::vector<float>{352, 384, 416, 448}));
  // The smallest subnormal 2^-9 has no neighbour within the window (0 is not a scale).
  EXPECT_EQ(candidate_values(0x01), (std::vector<float>{std::ldexp(1.0f, -9)}));
  EXPECT_EQ(candidate_values(0x00), (std::vector<float>{0.0f}));
}

// Σ (x − q)² of a block on the effective scale of FP8 code c, from the E2M1 grid directly.
double block_error(const float* x, uint8_t c, float scale_2) {
  const float eff = numeric::e4m3_to_f32(c) * scale_2;
  double e = 0;
  for (int i = 0; i < 16; ++i) {
    const double q = eff == 0 ? 0.0 : numeric::e2m1_decode(numeric::e2m1_encode(x[i] / eff)) * eff;
    e += (x[i] - q) * (x[i] - q);
  }
  return e;
}

TEST(ScaleSearch, MseScaleIsTheBestCodeOfTheWindow) {
  tools::NormalRng rng(7, "blocks");
  int changed = 0;
  for (int trial = 0; trial < 400; ++trial) {
    float x[16], amax = 0;
    for (auto& v : x) amax = std::max(amax, std::fabs(v = static_cast<float>(rng.next() * 0.02)));
    const float scale_2 = 0.08f / 2688.0f;
    const uint8_t rule = block_scale_code(amax, scale_2);
    const uint8_t got = mse_block_scale(x, amax, scale_2);
    // Brute force over every finite positive code within [0.75, 1.25] of the rule's value.
    const float v0 = numeric::e4m3_to_f32(rule);
    double best_err = block_error(x, rule, scale_2);
    for (int c = 1; c < 0x7F; ++c) {
      const float v = numeric::e4m3_to_f32(static_cast<uint8_t>(c));
      if (v < 0.75f * v0 || v > 1.25f * v0 || c == rule) continue;
      const double e = block_error(x, static_cast<uint8_t>(c), scale_2);
      best_err = std::min(best_err, e);
    }
    EXPECT_NEAR(block_error(x, got, scale_2), best_err, 1e-6 * best_err) << "trial " << trial;
    EXPECT_LE(block_error(x, got, scale_2), block_error(x, rule, scale_2));
    changed += got != rule;
  }
  EXPECT_GT(changed, 100);  // the search is not the amax rule in disguise
}

TEST(ScaleSearch, RtnWithSearchNeverLosesAndDefaultIsTheRule) {
  tools::NormalRng rng(3, "w");
  std::vector<float> w(8 * 64);
  for (auto& v : w) v = static_cast<float>(rng.next() * 0.05);
  const auto plain = quantize_rtn(w.data(), 8, 64);
  const auto rule = quantize_rtn(w.data(), 8, 64, std::nullopt, "w", ScaleRule{BlockScaleSearch::None, 448.0f});
  EXPECT_EQ(plain.codes, rule.codes);
  EXPECT_EQ(plain.block_scales, rule.block_scales);
  const auto mse = quantize_rtn(w.data(), 8, 64, std::nullopt, "w", ScaleRule{BlockScaleSearch::Mse, 448.0f});
  EXPECT_EQ(mse.scale_2, plain.scale_2);
  double e_plain = 0, e_mse = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    e_plain += std::pow(w[i] - plain.dequant[i], 2);
    e_mse += std::pow(w[i] - mse.dequant[i], 2);
  }
  EXPECT_LT(e_mse, 0.95 * e_plain);
  EXPECT_NE(mse.block_scales, plain.block_scales);
}

TEST(ScaleSearch, Scale2MaxGivesTheBlockScalesHeadroom) {
  std::vector<float> w(32);
  for (int i = 0; i < 32; ++i) w[i] = 0.1f * std::cos(0.7f * i);
  float amax = 0;
  for (float v : w) amax = std::max(amax, std::fabs(v));
  const auto q = quantize_rtn(w.data(), 1, 32, std::nullopt, "w", ScaleRule{BlockScaleSearch::None, 256.0f});
  EXPECT_EQ(q.scale_2, amax / 1536.0f);  // 6 · 256
  EXPECT_EQ(global_scale(amax), amax / 2688.0f);
  // The block holding the tensor amax gets scale 256 (no longer 448).
  const int b = static_cast<int>((std::max_element(w.begin(), w.end(), [](float a, float c) {
                                   return std::fabs(a) < std::fabs(c);
                                 }) - w.begin()) / 16);
  EXPECT_EQ(numeric::e4m3_to_f32(q.block_scales[b]), 256.0f);
}

}  // namespace
}  // namespace fp4gptq::nvfp4
