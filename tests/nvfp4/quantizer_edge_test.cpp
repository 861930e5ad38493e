// NVFP4 RTN edge cases with hand-computed expectations (DESIGN §4).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "numeric/fp8_e4m3.hpp"
#include "nvfp4/quantizer.hpp"
#include "nvfp4/scale_rules.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::nvfp4 {
namespace {

TEST(Nvfp4Rtn, AllZeroTensor) {
  const std::vector<float> w(2 * 32, 0.0f);
  const auto q = quantize_rtn(w.data(), 2, 32);
  EXPECT_EQ(q.scale_2, 0.0f);
  EXPECT_EQ(q.block_scales, std::vector<uint8_t>(4, 0x38));  // 1.0
  EXPECT_EQ(q.codes, std::vector<uint8_t>(64, 0));
  for (float v : q.dequant) EXPECT_EQ(v, 0.0f);
}

TEST(Nvfp4Rtn, AllZeroBlockStoresScaleOne) {
  std::vector<float> w(32, 0.0f);
  w[16] = 3.0f;  // block 1 holds the tensor amax; block 0 is all zero
  const auto q = quantize_rtn(w.data(), 1, 32);
  EXPECT_EQ(q.scale_2, 3.0f / 2688.0f);
  EXPECT_EQ(q.block_scales[0], 0x38);
  EXPECT_EQ(q.block_scales[1], 0x7e);  // block amax == tensor amax: scale exactly 448
  EXPECT_EQ(q.codes[16], 7);           // 3 / (448 · 3/2688) = 6 -> code 7
  EXPECT_EQ(q.dequant[16], 448.0f * (3.0f / 2688.0f) * 6.0f);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(q.codes[i], 0);
}

TEST(Nvfp4Rtn, BlockAmaxEqualToTensorAmaxGivesScale448) {
  std::vector<float> w(64);
  for (int i = 0; i < 64; ++i) w[i] = std::sin(0.37f * i) * 2.5f;
  const auto q = quantize_rtn(w.data(), 1, 64);
  float amax = 0;
  int amax_block = 0;
  for (int i = 0; i < 64; ++i)
    if (std::fabs(w[i]) > amax) amax = std::fabs(w[i]), amax_block = i / 16;
  EXPECT_EQ(numeric::e4m3_to_f32(q.block_scales[amax_block]), 448.0f);
}

TEST(Nvfp4Rtn, BlockWhoseScaleUnderflowsHasZeroCodes) {
  std::vector<float> w(32, 0.0f);
  w[0] = 1000.0f;                                                 // block 0 sets scale_2 = 1000/2688
  for (int i = 16; i < 32; ++i) w[i] = (i % 2 ? -1e-4f : 1e-4f);  // s = 1e-4/(6·0.372) ≈ 4.5e-5 < 2^-10
  const auto q = quantize_rtn(w.data(), 1, 32);
  EXPECT_EQ(q.block_scales[1], 0x00);
  for (int i = 16; i < 32; ++i) {
    EXPECT_EQ(q.codes[i], 0) << "no sign bit when the scale underflows";
    EXPECT_EQ(q.dequant[i], 0.0f);
    EXPECT_FALSE(std::signbit(q.dequant[i]));
  }
}

TEST(Nvfp4Rtn, SubnormalBlockScale) {
  std::vector<float> w(32, 0.0f);
  w[0] = 448.0f * 6.0f;  // scale_2 = 1
  w[16] = 0.03f;         // s = 0.005 -> FP8 subnormal 3·2^-9 (0.005859375 is nearer than 2·2^-9)
  const auto q = quantize_rtn(w.data(), 1, 32);
  EXPECT_EQ(q.scale_2, 1.0f);
  EXPECT_EQ(q.block_scales[1], 0x03);
  EXPECT_EQ(q.codes[16], 7);  // 0.03 / 0.005859375 = 5.12 -> 6
  EXPECT_EQ(q.dequant[16], 6.0f * 0.005859375f);
}

TEST(Nvfp4Rtn, NegativeValuesRoundingToZeroAreCode8WithPositiveZero) {
  std::vector<float> w(16, 0.0f);
  w[0] = 6.0f;    // eff = fp8(448)·(6/2688) = 1
  w[1] = -0.2f;   // -> -0 : code 8
  w[2] = -0.25f;  // tie -> 0 : code 8
  w[3] = -0.3f;   // -> -0.5 : code 9
  const auto q = quantize_rtn(w.data(), 1, 16);
  EXPECT_EQ(q.codes[1], 8);
  EXPECT_EQ(q.codes[2], 8);
  EXPECT_EQ(q.codes[3], 9);
  EXPECT_EQ(q.dequant[1], 0.0f);
  EXPECT_FALSE(std::signbit(q.dequant[1]));
  EXPECT_EQ(q.dequant[3], -0.5f);
}

TEST(Nvfp4Rtn, SharedScale2IsUsed) {
  std::vector<float> w(16, 1.0f);
  const auto q = quantize_rtn(w.data(), 1, 16, 2.0f / 2688.0f);  // as if a partner module had amax 2
  EXPECT_EQ(q.scale_2, 2.0f / 2688.0f);
  // s = 1 / (6 · 2/2688) = 224 exactly in FP8; eff = 224 · 2/2688 = 1/6; 1 / (1/6) = 6 -> code 7
  EXPECT_EQ(q.block_scales[0], numeric::f32_to_e4m3(224.0f));
  EXPECT_EQ(q.codes[0], 7);
}

TEST(Nvfp4Layout, GroupIndexIsTheBlockOfEachColumn) {
  EXPECT_EQ(kGlobalScaleDivisor, 2688.0f);
  const auto g = g_idx(48);
  ASSERT_EQ(g.size(), 48u);
  for (int64_t i = 0; i < 48; ++i) EXPECT_EQ(g[i], i < 16 ? 0 : i < 32 ? 1 : 2) << i;
  EXPECT_EQ(block_index(15), 0);
  EXPECT_EQ(block_index(16), 1);
}

TEST(Nvfp4Rtn, RejectsColumnsNotMultipleOf16AndNonFinite) {
  std::vector<float> w(24, 1.0f);
  test::expect_error([&] { quantize_rtn(w.data(), 1, 24, std::nullopt, "layers.0.q_proj.weight"); },
                     {"layers.0.q_proj.weight", "24", "multiple of 16"});
  std::vector<float> bad(32, 1.0f);
  bad[17] = NAN;
  test::expect_error([&] { quantize_rtn(bad.data(), 2, 16, std::nullopt, "w"); }, {"w", "non-finite", "[1, 1]"});
}

TEST(Nvfp4Rtn, RowKernelEqualsMatrixQuantizer) {
  std::vector<float> w(8 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.11f * static_cast<float>(i * i % 97)) * (1 + i % 5);
  const auto q = quantize_rtn(w.data(), 8, 64);
  std::vector<uint8_t> codes(64), scales(4);
  std::vector<float> deq(64);
  quantize_row_rtn(&w[3 * 64], 64, q.scale_2, codes.data(), scales.data(), deq.data());
  EXPECT_TRUE(std::equal(codes.begin(), codes.end(), q.codes.begin() + 3 * 64));
  EXPECT_TRUE(std::equal(scales.begin(), scales.end(), q.block_scales.begin() + 3 * 4));
}

// fill_dequant rebuilds the values from codes and scales bit for bit, including +0 for negative values that
// round to zero (code 8), all-zero blocks and blocks whose scale underflows (tensor amax 1e6, a block of 1e-6).
TEST(Nvfp4Rtn, DequantFromCodesIsBitIdentical) {
  std::vector<float> w(6 * 64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * static_cast<float>(i)) * static_cast<float>(1 + i % 7);
  std::fill_n(&w[64], 16, 0.0f);
  std::fill_n(&w[128], 16, 1e-6f);
  w[0] = 1e6f;
  w[200] = -1e-3f;
  for (const auto search : {BlockScaleSearch::None, BlockScaleSearch::Mse}) {
    const auto q = quantize_rtn(w.data(), 6, 64, std::nullopt, "w", {search, 448.0f});
    auto rebuilt = q;
    rebuilt.dequant.assign(q.dequant.size(), -1.0f);
    fill_dequant(rebuilt);
    ASSERT_EQ(rebuilt.dequant.size(), q.dequant.size());
    EXPECT_EQ(std::memcmp(rebuilt.dequant.data(), q.dequant.data(), q.dequant.size() * sizeof(float)), 0);
    EXPECT_EQ(q.codes[200], 8) << "the case of a negative value rounding to zero is exercised";
  }
}

}  // namespace
}  // namespace fp4gptq::nvfp4
