// Properties of the GPTQ-NVFP4 solver that follow from the math (DESIGN §5), each with an independent check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "gptq/hessian.hpp"
#include "gptq/solver.hpp"
#include "linalg/context.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "nvfp4/quantizer.hpp"
#include "nvfp4/scale_rules.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::gptq {
namespace {

std::vector<float> randn(size_t n, uint64_t seed, const std::string& stream, double std = 1.0) {
  tools::NormalRng rng(seed, stream);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(std * rng.next());
  return v;
}

// Activations with low-rank structure plus noise, as real LLM inputs have: X = Z·A + 0.1·N.
std::vector<float> correlated_hessian(int64_t cols, int64_t tokens, int64_t rank, uint64_t seed) {
  const auto z = randn(static_cast<size_t>(tokens * rank), seed, "z");
  const auto a = randn(static_cast<size_t>(rank * cols), seed, "a");
  auto x = randn(static_cast<size_t>(tokens * cols), seed, "noise", 0.1);
  const linalg::Context ctx;
  ctx.sgemm(false, false, tokens, cols, rank, 1.0f, z.data(), rank, a.data(), cols, 1.0f, x.data(), cols);
  HessianAccumulator acc(cols);
  acc.add(ctx, x.data(), tokens);
  return acc.hessian(ctx);
}

std::vector<float> identity(int64_t n, float d = 1.0f) {
  std::vector<float> h(static_cast<size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i) h[i * n + i] = d;
  return h;
}

// How many values of q are not e2m1(code) · fp8(their block's scale) · scale_2 (bit for bit, +0 for zeros).
size_t values_not_from_codes_and_scales(const nvfp4::QuantizedMatrix& q) {
  size_t bad = 0;
  for (int64_t row = 0; row < q.rows; ++row)
    for (int64_t i = 0; i < q.cols; ++i) {
      const float eff = numeric::e4m3_to_f32(q.block_scales[row * (q.cols / 16) + i / 16]) * q.scale_2;
      bad += q.dequant[row * q.cols + i] != numeric::e2m1_decode(q.codes[row * q.cols + i]) * eff + 0.0f;
    }
  return bad;
}

TEST(GptqProperties, IdentityHessianGivesExactlyRtn) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 24, cols = 96;
  const auto w = randn(static_cast<size_t>(rows * cols), 3, "w", 0.05);
  const auto h = identity(cols, 2.5f);
  const auto rtn = nvfp4::quantize_rtn(w.data(), rows, cols);
  for (auto mode : {BlockScales::Dynamic, BlockScales::Static}) {
    GptqConfig cfg;
    cfg.block_scales = mode;
    const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, cfg, "m");
    EXPECT_EQ(r.q.codes, rtn.codes);
    EXPECT_EQ(r.q.block_scales, rtn.block_scales);
    EXPECT_EQ(r.q.dequant, rtn.dequant);
    EXPECT_NEAR(r.rel_err, r.rtn_rel_err, 1e-6 * r.rtn_rel_err);
    EXPECT_FALSE(r.fallback);
  }
}

TEST(GptqProperties, BeatsRtnOnCorrelatedHessiansForEverySeed) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 64, cols = 256;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    const auto h = correlated_hessian(cols, 512, 24, seed);
    const auto w = randn(static_cast<size_t>(rows * cols), seed, "w", 0.05);
    for (int variant = 0; variant < 3; ++variant) {
      GptqConfig cfg;
      cfg.block_scales = variant == 1 ? BlockScales::Static : BlockScales::Dynamic;
      cfg.desc_act = variant == 2;
      cfg.block_size = variant == 2 ? 32 : 128;
      const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, cfg, "m");
      EXPECT_LT(r.rel_err, r.rtn_rel_err) << "seed " << seed << " variant " << variant;
      EXPECT_LT(r.rel_err, 0.9 * r.rtn_rel_err) << "a clear gain is expected on correlated inputs";
      // rel_err is tr(ΔW H ΔWᵀ)/tr(W H Wᵀ), evaluated here by direct GEMMs.
      std::vector<float> dw(w.size());
      for (size_t i = 0; i < w.size(); ++i) dw[i] = w[i] - r.q.dequant[i];
      const double direct = quadratic_form_trace(ctx, dw.data(), rows, cols, h.data()) /
                            quadratic_form_trace(ctx, w.data(), rows, cols, h.data());
      EXPECT_NEAR(r.rel_err, direct, 2e-3 * direct) << "seed " << seed;
    }
  }
}

TEST(GptqProperties, DeadColumnsComeOutZero) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 16, cols = 64;
  auto h = correlated_hessian(cols, 200, 8, 7);
  for (int64_t d : {0, 17, 40})
    for (int64_t j = 0; j < cols; ++j) h[d * cols + j] = h[j * cols + d] = 0.0f;
  const auto w = randn(static_cast<size_t>(rows * cols), 7, "w");
  const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, GptqConfig{}, "m");
  EXPECT_EQ(r.dead_columns, 3);
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t d : {0, 17, 40}) {
      EXPECT_EQ(r.q.dequant[row * cols + d], 0.0f);
      EXPECT_EQ(r.q.codes[row * cols + d], 0);
    }
  // scale_2 comes from the weight before dead columns are zeroed
  EXPECT_EQ(r.q.scale_2, nvfp4::global_scale(nvfp4::max_abs(w.data(), w.size())));
}

TEST(GptqProperties, IndefiniteHessianRetriesDampingAndReportsTheDampThatWorked) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 8, cols = 64;
  auto h = identity(cols);
  h[5 * cols + 5] = -0.3f;  // indefinite; mean diag = (63 - 0.3)/64
  const auto w = randn(static_cast<size_t>(rows * cols), 9, "w");
  const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, GptqConfig{}, "m");
  EXPECT_FALSE(r.fallback);
  EXPECT_GT(r.retries, 0);
  EXPECT_FALSE(r.note.empty());
  EXPECT_NEAR(r.damp, 0.01 + 0.01 * r.retries, 1e-9);
  // Independently: Cholesky of H + damp·mean·I succeeds, and fails one step earlier.
  const double mean = (63.0 - 0.3) / 64.0;
  auto chol_ok = [&](double damp) {
    auto a = h;
    for (int64_t i = 0; i < cols; ++i) a[i * cols + i] += static_cast<float>(damp * mean);
    return ctx.cholesky(false, a.data(), cols, cols) == 0;
  };
  EXPECT_TRUE(chol_ok(r.damp));
  EXPECT_FALSE(chol_ok(r.damp - 0.01));
  EXPECT_NEAR(r.damp, 0.31, 0.0051);  // the first damp with damp·mean > 0.3
}

TEST(GptqProperties, HopelessHessianFallsBackToRtn) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 8, cols = 32;
  auto h = identity(cols);
  h[0] = -50.0f;  // no damp up to 1.0·mean(diag) can fix this
  const auto w = randn(static_cast<size_t>(rows * cols), 11, "w");
  const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, GptqConfig{}, "m");
  EXPECT_TRUE(r.fallback);
  EXPECT_EQ(r.retries, 100);
  EXPECT_EQ(r.q.codes, nvfp4::quantize_rtn(w.data(), rows, cols).codes);
  EXPECT_TRUE(std::isfinite(r.rel_err));
}

TEST(GptqProperties, ZeroHessianGivesRtnWithFallbackNeverNaN) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 8, cols = 48;
  const std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  const auto w = randn(static_cast<size_t>(rows * cols), 12, "w");
  const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, GptqConfig{}, "m");
  EXPECT_TRUE(r.fallback);
  const auto rtn = nvfp4::quantize_rtn(w.data(), rows, cols);
  EXPECT_EQ(r.q.codes, rtn.codes);
  EXPECT_EQ(r.q.dequant, rtn.dequant);
  for (float v : r.q.dequant) ASSERT_TRUE(std::isfinite(v));
  EXPECT_FALSE(std::isnan(r.rel_err) || std::isnan(r.rtn_rel_err) || std::isnan(r.loss));
}

TEST(GptqProperties, DescActKeepsGroupIndexAndOneScalePerBlock) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 32, cols = 128;
  const auto h = correlated_hessian(cols, 300, 12, 13);
  const auto w = randn(static_cast<size_t>(rows * cols), 13, "w", 0.1);
  GptqConfig cfg;
  cfg.desc_act = true;
  const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, cfg, "m");
  const auto g_idx = nvfp4::g_idx(cols);
  for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(g_idx[i], i / 16);
  // Static scales from W (no dead columns here), in the original column order.
  EXPECT_EQ(r.q.block_scales, nvfp4::quantize_rtn(w.data(), rows, cols).block_scales);
  // Every value is e2m1(code) · fp8(its block's scale) · scale_2: one scale for each block's 16 values.
  EXPECT_EQ(values_not_from_codes_and_scales(r.q), 0u);
}

// A supplied scale_2 (as from a partner module with a larger amax) is the one the block scales and values are
// made with: every block-scale byte is fp8(block_amax / (6·supplied)) of W and every value e2m1(code) ·
// fp8(scale) · supplied, so bytes and values differ from those with the module's own scale_2. The factor is 3,
// not 2: an FP8 scale halves exactly, so doubling scale_2 would leave every fp8(scale) · scale_2, and every
// value, unchanged. Static block scales on a correlated Hessian; dynamic ones on the identity, where GPTQ feeds
// no error forward, so each block keeps W's amax.
TEST(GptqProperties, SuppliedScale2IsUsed) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 16, cols = 64;
  const auto w = randn(static_cast<size_t>(rows * cols), 14, "w");
  float amax = 0;
  for (float v : w) amax = std::max(amax, std::fabs(v));
  const float own = amax / 2688.0f, supplied = 3.0f * own;
  for (const auto mode : {BlockScales::Static, BlockScales::Dynamic}) {
    const auto h = mode == BlockScales::Static ? correlated_hessian(cols, 256, 8, 14) : identity(cols);
    GptqConfig cfg;
    cfg.block_scales = mode;
    const auto base = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, cfg, "m");
    cfg.scale_2 = supplied;
    const auto r = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, cfg, "m");
    EXPECT_EQ(base.q.scale_2, own);
    EXPECT_EQ(r.q.scale_2, supplied);
    size_t bad_scale = 0;
    for (int64_t row = 0; row < rows; ++row)
      for (int64_t b = 0; b < cols / 16; ++b) {
        float bmax = 0;
        for (int64_t k = 0; k < 16; ++k) bmax = std::max(bmax, std::fabs(w[row * cols + b * 16 + k]));
        bad_scale += r.q.block_scales[row * (cols / 16) + b] != numeric::f32_to_e4m3(bmax / (6.0f * supplied));
      }
    EXPECT_EQ(bad_scale, 0u);
    EXPECT_EQ(values_not_from_codes_and_scales(r.q), 0u);
    EXPECT_NE(r.q.block_scales, base.q.block_scales);
    EXPECT_NE(r.q.dequant, base.q.dequant);
  }
}

TEST(GptqProperties, BadInputNamesTheModule) {
  const linalg::Context ctx;
  Workspace ws;
  const auto h = identity(32);
  auto w = randn(8 * 32, 15, "w");
  test::expect_error([&] { gptq_quantize(ctx, ws, w.data(), 8, 24, h.data(), 24, GptqConfig{}, "layers.3.o_proj"); },
                     {"layers.3.o_proj", "multiple of 16"});
  w[40] = NAN;
  test::expect_error([&] { gptq_quantize(ctx, ws, w.data(), 8, 32, h.data(), 32, GptqConfig{}, "layers.3.o_proj"); },
                     {"layers.3.o_proj", "non-finite weight", "[1, 8]"});
  w[40] = 0;
  auto bad_h = h;
  bad_h[33] = INFINITY;
  test::expect_error(
      [&] { gptq_quantize(ctx, ws, w.data(), 8, 32, bad_h.data(), 32, GptqConfig{}, "layers.3.o_proj"); },
      {"layers.3.o_proj", "Hessian", "[1, 1]"});
  test::expect_error([&] { gptq_quantize(ctx, ws, w.data(), 8, 32, h.data(), 48, GptqConfig{}, "layers.3.o_proj"); },
                     {"layers.3.o_proj", "32 input columns", "[48, 48]"});
  GptqConfig cfg;
  cfg.block_size = 100;
  test::expect_error([&] { gptq_quantize(ctx, ws, w.data(), 8, 32, h.data(), 32, cfg, "m"); }, {"block size 100"});
}

// rel_err's denominator and rtn_rel_err from 256 of 2048 rows (the default output_error_rows) against every row,
// on a correlated H with a dead column, for rows of very different scales (log-normal σ 1 with four outliers
// 30× the rest, as LLM output channels have; σ 2) and for rows alike. The estimates stay within 5% of the
// exact values (seen: 0.1% and 0.7% for the spread rows, 3.1% for rows alike, where the 128 sampled rows'
// own variation is all there is), the quantized weights are the same, and GPTQ's numerator is exact.
TEST(GptqProperties, SampledOutputErrorsEstimateTheExactOnes) {
  const linalg::Context ctx;
  Workspace ws;
  const int64_t rows = 2048, cols = 256;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    auto h = correlated_hessian(cols, 512, 24, seed);
    for (int64_t i = 0; i < cols; ++i) h[5 * cols + i] = h[i * cols + 5] = 0.0f;  // column 5 dead
    auto w = randn(static_cast<size_t>(rows * cols), seed, "w", 0.05);
    // Seed 1: log-normal σ 1 with the outliers; 2: σ 2; 3: rows alike (i.i.d. weights).
    const float sigma = seed == 1 ? 1.0f : seed == 2 ? 2.0f : 0.0f, outlier = seed == 1 ? 30.0f : 1.0f;
    const auto scale = randn(static_cast<size_t>(rows), seed, "row scale");
    for (int64_t r = 0; r < rows; ++r) {
      const float f = std::exp(sigma * scale[r]) * (r % 509 == 7 ? outlier : 1.0f);
      for (int64_t i = 0; i < cols; ++i) w[r * cols + i] *= f;
    }
    GptqConfig exact_cfg;
    exact_cfg.output_error_rows = 0;
    const auto sampled = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, GptqConfig{}, "m");
    const auto exact = gptq_quantize(ctx, ws, w.data(), rows, cols, h.data(), cols, exact_cfg, "m");
    EXPECT_EQ(sampled.error_rows, 256);
    EXPECT_EQ(exact.error_rows, rows);
    EXPECT_EQ(sampled.q.codes, exact.q.codes);
    EXPECT_EQ(sampled.loss, exact.loss);
    EXPECT_NEAR(sampled.rel_err, exact.rel_err, 0.05 * exact.rel_err) << "seed " << seed;
    EXPECT_NEAR(sampled.rtn_rel_err, exact.rtn_rel_err, 0.05 * exact.rtn_rel_err) << "seed " << seed;
    std::vector<float> dw(w.size()), wm = w;  // the exact one is the definition (W 0 at the dead column)
    for (int64_t r = 0; r < rows; ++r) wm[r * cols + 5] = 0.0f;
    for (size_t i = 0; i < w.size(); ++i) dw[i] = wm[i] - exact.q.dequant[i];
    const double direct = quadratic_form_trace(ctx, dw.data(), rows, cols, h.data()) /
                          quadratic_form_trace(ctx, wm.data(), rows, cols, h.data());
    EXPECT_NEAR(exact.rel_err, direct, 2e-3 * direct);
    std::printf("seed %llu: rel_err %.5g sampled %.5g (%+.2f%%), rtn_rel_err %.5g sampled %.5g (%+.2f%%)\n",
                static_cast<unsigned long long>(seed), exact.rel_err, sampled.rel_err,
                100 * (sampled.rel_err / exact.rel_err - 1), exact.rtn_rel_err, sampled.rtn_rel_err,
                100 * (sampled.rtn_rel_err / exact.rtn_rel_err - 1));
  }
}

}  // namespace
}  // namespace fp4gptq::gptq

namespace fp4gptq::gptq {
namespace {

// q/k/v share one input: solved as a group (one factorisation of H) each gives exactly what it gives alone,
// with a dead column, act-order, the scale search and a supplied shared scale_2 alike.
TEST(GptqProperties, GroupSharingOneFactorisationEqualsSolvingEachAlone) {
  const linalg::Context ctx;
  const int64_t cols = 64;
  auto h = correlated_hessian(cols, 200, 6, 21);
  for (int64_t i = 0; i < cols; ++i) h[7 * cols + i] = h[i * cols + 7] = 0.0f;  // column 7: dead
  const std::vector<int64_t> rows = {32, 16, 16};
  std::vector<std::vector<float>> w;
  for (size_t m = 0; m < rows.size(); ++m) w.push_back(randn(static_cast<size_t>(rows[m] * cols), 40 + m, "w", 0.05));
  for (const bool desc_act : {false, true}) {
    GptqConfig cfg;
    cfg.desc_act = desc_act;
    cfg.scale_rule.search = nvfp4::BlockScaleSearch::Mse;
    std::vector<GroupModule> group;
    for (size_t m = 0; m < rows.size(); ++m) {
      group.push_back({w[m].data(), rows[m], cfg, "m" + std::to_string(m)});
      if (m == 1) group.back().config.scale_2 = 0.1f / 2688.0f;
    }
    Workspace ws;
    std::vector<double> seconds;
    const auto together = gptq_quantize_group(ctx, ws, group, cols, h.data(), &seconds);
    ASSERT_EQ(together.size(), rows.size());
    ASSERT_EQ(seconds.size(), rows.size());
    for (size_t m = 0; m < rows.size(); ++m) {
      Workspace alone_ws;
      const auto alone =
          gptq_quantize(ctx, alone_ws, w[m].data(), rows[m], cols, h.data(), cols, group[m].config, group[m].name);
      EXPECT_EQ(together[m].q.codes, alone.q.codes) << m;
      EXPECT_EQ(together[m].q.block_scales, alone.q.block_scales) << m;
      EXPECT_EQ(together[m].q.dequant, alone.q.dequant) << m;
      EXPECT_EQ(together[m].q.scale_2, alone.q.scale_2) << m;
      EXPECT_EQ(together[m].rel_err, alone.rel_err) << m;
      EXPECT_EQ(together[m].rtn_rel_err, alone.rtn_rel_err) << m;
      EXPECT_EQ(together[m].dead_columns, 1) << m;
    }
  }
  // No calibration token at all: every module of the group falls back to round-to-nearest, as alone.
  const std::vector<float> zero(static_cast<size_t>(cols * cols), 0.0f);
  Workspace zws;
  const auto fallback = gptq_quantize_group(
      ctx, zws, {{w[0].data(), rows[0], GptqConfig{}, "q"}, {w[2].data(), rows[2], GptqConfig{}, "v"}}, cols,
      zero.data());
  for (const auto& r : fallback) {
    EXPECT_TRUE(r.fallback);
    EXPECT_NE(r.note.find("Hessian is zero"), std::string::npos) << r.note;
  }
  EXPECT_EQ(fallback[1].q.codes, nvfp4::quantize_rtn(w[2].data(), rows[2], cols).codes);
  std::vector<GroupModule> mixed = {{w[0].data(), rows[0], GptqConfig{}, "q"},
                                    {w[1].data(), rows[1], GptqConfig{}, "k"}};
  mixed[1].config.desc_act = true;
  Workspace ws;
  test::expect_error([&] { gptq_quantize_group(ctx, ws, mixed, cols, h.data()); }, {"k", "share act-order"});
}

}  // namespace
}  // namespace fp4gptq::gptq
