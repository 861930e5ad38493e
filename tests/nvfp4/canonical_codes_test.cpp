// Canonical code recovery (docs/DESIGN.md §7b) against hand-computed grids and against the quantizer itself.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"
#include "nvfp4/canonical_codes.hpp"
#include "nvfp4/packing.hpp"
#include "nvfp4/quantizer.hpp"

namespace fp4gptq::nvfp4 {
namespace {

using numeric::DType;

// recover_codes unpacked: one code per value.
size_t recover(const uint16_t* stored, size_t n, const uint8_t* scales, float scale_2, DType dtype, uint8_t* codes) {
  std::vector<uint8_t> packed(n / 2);
  const size_t r = recover_codes(stored, n, scales, scale_2, dtype, packed.data());
  const auto c = unpack_nibbles(packed.data(), n);
  std::copy(c.begin(), c.end(), codes);
  return r;
}

// Values as the 16-bit patterns of `dtype` (exact for every value used here).
std::vector<uint16_t> bits(std::initializer_list<float> v, DType dtype = DType::F16) {
  std::vector<uint16_t> out;
  for (const float x : v) out.push_back(dtype == DType::F16 ? numeric::f32_to_f16(x) : numeric::f32_to_bf16(x));
  out.resize((out.size() + 15) / 16 * 16, 0);
  return out;
}

TEST(CanonicalCodes, HandComputedBlock) {
  // Block scale 1.0 (0x38) and scale_2 0.5: eff 0.5, grid {0, .25, .5, .75, 1, 1.5, 2, 3}, all exact in fp16.
  const uint8_t scale = 0x38;
  const uint8_t want[16] = {0, 0, 1, 9, 2, 3, 4, 5, 6, 7, 15, 14, 13, 12, 11, 10};
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const auto stored = bits({0, -0.0f, 0.25f, -0.25f, 0.5f, 0.75f, 1, 1.5f, 2, 3, -3, -2, -1.5f, -1, -0.75f, -0.5f}, dtype);
    uint8_t codes[16];
    ASSERT_EQ(recover(stored.data(), 16, &scale, 0.5f, dtype, codes), 16u);
    for (int i = 0; i < 16; ++i) EXPECT_EQ(codes[i], want[i]) << "element " << i;
  }
}

TEST(CanonicalCodes, ValueOffTheGridIsFoundAtItsIndex) {
  const uint8_t scales[2] = {0x38, 0x38};
  std::vector<uint16_t> stored(32, 0);
  stored[21] = numeric::f32_to_f16(0.3f);  // between 0.25 and 0.5 at eff 0.5
  uint8_t codes[32];
  EXPECT_EQ(recover(stored.data(), 32, scales, 0.5f, DType::F16, codes), 21u);
  stored[21] = numeric::f32_to_f16(-0.5f);
  stored[3] = 0x7e00;  // NaN is on no grid
  EXPECT_EQ(recover(stored.data(), 32, scales, 0.5f, DType::F16, codes), 3u);
}

TEST(CanonicalCodes, BelowFp16ResolutionTakesTheSmallestMagnitude) {
  // eff = 2^-30: every product e2m1 · eff is below half the smallest fp16 subnormal (2^-25), so all round to 0
  // and code 0 must be chosen for every stored zero, whatever code the quantizer had.
  const uint8_t scale = 0x38;
  const std::vector<uint16_t> stored(16, 0);
  uint8_t codes[16];
  ASSERT_EQ(recover(stored.data(), 16, &scale, std::ldexp(1.0f, -30), DType::F16, codes), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(codes[i], 0);
  // eff = 2^-25 (half the smallest subnormal): 0.5·eff and 1·eff round to 0 (ties to even), 1.5·eff to 2^-24,
  // 2·eff is 2^-24 itself; so 2^-24 recovers as code 3 (1.5), the smaller magnitude.
  const auto tiny = bits({std::ldexp(1.0f, -24), -std::ldexp(1.0f, -24)});
  ASSERT_EQ(recover(tiny.data(), 16, &scale, std::ldexp(1.0f, -25), DType::F16, codes), 16u);
  EXPECT_EQ(codes[0], 3);
  EXPECT_EQ(codes[1], 11);
}

TEST(CanonicalCodes, RecoversTheQuantizersCodesFromItsRoundedValues) {
  // Random weights quantized, dequantized values rounded to fp16 (what the pseudo checkpoint stores): the
  // recovered codes are the quantizer's, except negative zeros (code 8 -> 0) and where two codes give one
  // stored value (then the smaller magnitude, which must give the same stored value).
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  const int64_t rows = 64, cols = 256;
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = nd(rng);
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const auto q = quantize_rtn(w.data(), rows, cols);
    std::vector<uint16_t> stored(q.dequant.size());
    for (size_t i = 0; i < stored.size(); ++i)
      stored[i] = dtype == DType::F16 ? numeric::f32_to_f16(q.dequant[i]) : numeric::f32_to_bf16(q.dequant[i]);
    std::vector<uint8_t> codes(w.size());
    for (int64_t r = 0; r < rows; ++r)
      ASSERT_EQ(recover(&stored[r * cols], cols, &q.block_scales[r * cols / 16], q.scale_2, dtype, &codes[r * cols]),
                static_cast<size_t>(cols));
    int64_t negative_zeros = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (q.codes[i] == 8) {
        ++negative_zeros;
        EXPECT_EQ(codes[i], 0);
      } else {
        EXPECT_EQ(codes[i], q.codes[i]) << "element " << i;
      }
    }
    EXPECT_GT(negative_zeros, 0);  // the case is exercised
  }
}

TEST(CanonicalCodes, VectorizedPathEqualsThePortableOne) {
  // Quantized random rows stored in fp16, with every kind of block: normal scales, all-zero blocks (scale 1.0),
  // denormal and zero effective scales (tiny scale_2), and a value off the grid.
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t cols = 512;
  for (const DType dtype : {DType::F16, DType::BF16})
    for (const float spread : {1e-3f, 1.0f, 1e-36f}) {
      SCOPED_TRACE(spread);
      std::vector<float> w(cols);
      for (auto& x : w) x = nd(rng) * spread;
      std::fill_n(w.begin() + 32, 16, 0.0f);
      const auto q = quantize_rtn(w.data(), 1, cols);
      std::vector<uint16_t> stored(cols);
      for (int64_t i = 0; i < cols; ++i)
        stored[i] = dtype == DType::F16 ? numeric::f32_to_f16(q.dequant[i]) : numeric::f32_to_bf16(q.dequant[i]);
      std::vector<uint8_t> a(cols / 2), b(cols / 2);
      const size_t ra = recover_codes(stored.data(), cols, q.block_scales.data(), q.scale_2, dtype, a.data(), true);
      const size_t rb = recover_codes(stored.data(), cols, q.block_scales.data(), q.scale_2, dtype, b.data(), false);
      ASSERT_EQ(ra, static_cast<size_t>(cols));
      ASSERT_EQ(rb, static_cast<size_t>(cols));
      EXPECT_EQ(a, b);
      stored[300] ^= 1;  // one ulp off: on no grid point (grid values are far apart at these scales)
      EXPECT_EQ(recover_codes(stored.data(), cols, q.block_scales.data(), q.scale_2, dtype, a.data(), true), 300u);
      EXPECT_EQ(recover_codes(stored.data(), cols, q.block_scales.data(), q.scale_2, dtype, b.data(), false), 300u);
    }
}

}  // namespace
}  // namespace fp4gptq::nvfp4
