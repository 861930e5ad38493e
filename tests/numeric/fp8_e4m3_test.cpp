// FP8 E4M3 (OCP "E4M3FN"): all 256 codes decode as the spec says and re-encode to themselves; rounding is to
// nearest even at every midpoint; out-of-range values saturate to ±448.
#include <gtest/gtest.h>

#include <cmath>

#include "numeric/fp8_e4m3.hpp"

namespace fp4gptq::numeric {
namespace {

TEST(E4M3, HandDecodedCodes) {
  EXPECT_EQ(e4m3_to_f32(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(e4m3_to_f32(0x80)));
  EXPECT_EQ(e4m3_to_f32(0x01), 0.001953125f);  // 2^-9, smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x07), 0.013671875f);  // 7·2^-9, largest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), 0.015625f);     // 2^-6, smallest normal
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0x3f), 1.875f);
  EXPECT_EQ(e4m3_to_f32(0x40), 2.0f);
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x77), 240.0f);  // 1.875 · 2^7
  EXPECT_EQ(e4m3_to_f32(0xb8), -1.0f);
  EXPECT_EQ(e4m3_to_f32(0xfe), -448.0f);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xff)));
}

TEST(E4M3, All256CodesFollowTheSpecAndReencode) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    const float v = e4m3_to_f32(static_cast<uint8_t>(c));
    if (e == 15 && m == 7) {
      EXPECT_TRUE(std::isnan(v));
      ++nans;
      continue;
    }
    // OCP spec: subnormal (e = 0): (-1)^s · 2^(1-7) · m/8; normal: (-1)^s · 2^(e-7) · (1 + m/8).
    const double expect =
        (s ? -1.0 : 1.0) * (e == 0 ? std::pow(2.0, -6) * m / 8.0 : std::pow(2.0, e - 7) * (1.0 + m / 8.0));
    EXPECT_EQ(static_cast<double>(v), expect) << "code " << c;
    EXPECT_EQ(f32_to_e4m3(v), c) << "code " << c << " must re-encode to itself";
  }
  EXPECT_EQ(nans, 2);
}

TEST(E4M3, RoundsToNearestEvenBetweenEveryPairOfCodes) {
  for (int a = 0; a < 0x7e; ++a) {
    const float lo = e4m3_to_f32(static_cast<uint8_t>(a)), hi = e4m3_to_f32(static_cast<uint8_t>(a + 1));
    const float mid = (lo + hi) / 2;  // exact: at most 5 significant bits
    const int even = (a & 1) ? a + 1 : a;
    EXPECT_EQ(f32_to_e4m3(mid), even) << "tie between codes " << a << " and " << a + 1;
    EXPECT_EQ(f32_to_e4m3(-mid), even | 0x80);
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 0.0f)), a);
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, INFINITY)), a + 1);
  }
}

TEST(E4M3, SaturatesAndKeepsNaN) {
  EXPECT_EQ(f32_to_e4m3(448.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3(449.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3(464.0f), 0x7e);
  EXPECT_EQ(f32_to_e4m3(1e30f), 0x7e);
  EXPECT_EQ(f32_to_e4m3(INFINITY), 0x7e);
  EXPECT_EQ(f32_to_e4m3(-1e30f), 0xfe);
  EXPECT_EQ(f32_to_e4m3(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_e4m3(0x1p-10f), 0x00);    // half the smallest subnormal: tie to even 0
  EXPECT_EQ(f32_to_e4m3(0x1.2p-10f), 0x01);  // just above: smallest subnormal
  EXPECT_EQ(f32_to_e4m3(1e-9f), 0x00);
  EXPECT_EQ(f32_to_e4m3(0.0146484375f), 0x08);  // between 7·2^-9 and 2^-6 (tie) -> even code 8
}

}  // namespace
}  // namespace fp4gptq::numeric
