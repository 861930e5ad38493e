// E2M1: the DESIGN §4 tie table, values between codes, signs, and the NVFP4 per-value quantizer.
#include <gtest/gtest.h>

#include <cmath>

#include "numeric/e2m1.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::numeric {
namespace {

TEST(E2M1, TiePointsRoundAsTheTable) {
  // tie point -> code: ties go to the even code (0, 1, 2, 4 ...), per the table of DESIGN §4.
  const std::pair<float, int> ties[] = {{0.25f, 0}, {0.75f, 2}, {1.25f, 2}, {1.75f, 4},
                                        {2.5f, 4},  {3.5f, 6},  {5.0f, 6}};
  for (auto [v, code] : ties) {
    EXPECT_EQ(e2m1_encode(v), code) << v;
    EXPECT_EQ(e2m1_encode(-v), code | 8) << -v;  // the sign bit is set for negatives, also at 0
  }
}

TEST(E2M1, ValuesBetweenCodesRoundToTheNearer) {
  for (int c = 0; c < 7; ++c) {
    const float lo = kE2M1Values[c], hi = kE2M1Values[c + 1];
    const float mid = (lo + hi) / 2;
    EXPECT_EQ(e2m1_encode(std::nextafter(mid, lo)), c);
    EXPECT_EQ(e2m1_encode(std::nextafter(mid, hi)), c + 1);
    EXPECT_EQ(e2m1_encode(lo + (hi - lo) * 0.3f), c);
    EXPECT_EQ(e2m1_encode(lo + (hi - lo) * 0.7f), c + 1);
    EXPECT_EQ(e2m1_encode(lo), c);
  }
  EXPECT_EQ(e2m1_encode(6.0f), 7);
  EXPECT_EQ(e2m1_encode(1000.0f), 7);  // clamps to 6
  EXPECT_EQ(e2m1_encode(-1000.0f), 15);
}

TEST(E2M1, NegativeValuesRoundingToZeroKeepTheSign) {
  EXPECT_EQ(e2m1_encode(-0.1f), 8);
  EXPECT_EQ(e2m1_encode(-0.25f), 8);
  EXPECT_EQ(e2m1_encode(0.1f), 0);
  EXPECT_EQ(e2m1_decode(8), 0.0f);
  EXPECT_FALSE(std::signbit(e2m1_decode(8)));  // code 8 decodes to +0
  EXPECT_EQ(e2m1_decode(15), -6.0f);
  EXPECT_EQ(e2m1_decode(9), -0.5f);
}

TEST(E2M1, QuantizedValueIsTheDecodedCode) {
  for (float a = 0.0f; a < 8.0f; a += 0.03125f)
    for (const float v : {a, -a}) {
      float q = -1;
      const uint8_t code = nvfp4::quantize_value(v, 1.0f, &q);
      EXPECT_EQ(code, e2m1_encode(v)) << v;
      EXPECT_EQ(q, e2m1_decode(code)) << v;
      EXPECT_FALSE(std::signbit(q) && q == 0.0f) << v;
    }
}

TEST(E2M1, QuantizeValueUsesATrueDivisionAndPositiveZero) {
  float v = -1;
  EXPECT_EQ(nvfp4::quantize_value(-0.001f, 1.0f, &v), 8);
  EXPECT_FALSE(std::signbit(v));
  EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(nvfp4::quantize_value(2.6f, 0.5f, &v), 7);  // 5.2 -> 6
  EXPECT_EQ(v, 3.0f);
  EXPECT_EQ(nvfp4::quantize_value(-5.0f, 0.0f, &v), 0);  // underflowed scale: code 0, +0
  EXPECT_EQ(v, 0.0f);
  EXPECT_FALSE(std::signbit(v));
}

}  // namespace
}  // namespace fp4gptq::numeric

#include "numeric/fast_exp.hpp"

namespace fp4gptq::numeric {
namespace {

TEST(FastExp, RelativeErrorBelow2e7AndClamped) {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0137) {
    const double e = std::exp(x);
    worst = std::max(
        worst, std::fabs(fast_exp(static_cast<float>(x)) - std::exp(static_cast<double>(static_cast<float>(x)))) / e);
  }
  EXPECT_LT(worst, 2e-7);
  EXPECT_EQ(fast_exp(0.0f), 1.0f);
  EXPECT_TRUE(std::isfinite(fast_exp(1000.0f)));
  EXPECT_GE(fast_exp(-1000.0f), 0.0f);
  EXPECT_LT(fast_exp(-1000.0f), 1e-37f);
}

}  // namespace
}  // namespace fp4gptq::numeric
