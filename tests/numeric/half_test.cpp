// fp16 / bf16 codecs: every bit pattern round-trips through FP32, and FP32 -> 16-bit rounding is checked at
// every midpoint between neighbouring codes (ties to the even code, one ulp either side to the nearer code).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "numeric/half.hpp"

namespace fp4gptq::numeric {
namespace {

bool is_nan16(uint16_t h, bool bf16) {
  return bf16 ? ((h & 0x7f80) == 0x7f80 && (h & 0x7f)) : ((h & 0x7c00) == 0x7c00 && (h & 0x3ff));
}

void check_roundtrip(bool bf16) {
  const auto enc = bf16 ? static_cast<uint16_t (*)(float)>(f32_to_bf16) : static_cast<uint16_t (*)(float)>(f32_to_f16);
  const auto dec = bf16 ? static_cast<float (*)(uint16_t)>(bf16_to_f32) : static_cast<float (*)(uint16_t)>(f16_to_f32);
  const uint16_t quiet = bf16 ? 0x40 : 0x200;
  for (uint32_t b = 0; b < 65536; ++b) {
    const auto h = static_cast<uint16_t>(b);
    const float f = dec(h);
    if (is_nan16(h, bf16)) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << b;
      EXPECT_EQ(enc(f), h | quiet) << "NaN is kept and quieted, pattern " << std::hex << b;
    } else {
      EXPECT_EQ(enc(f), h) << "pattern " << std::hex << b;
    }
  }
}

// For every pair of adjacent positive finite codes (a, b): the midpoint rounds to the one with an even
// mantissa, and the FP32 neighbours of the midpoint round to the nearer code.
void check_midpoints(bool bf16) {
  const auto enc = bf16 ? static_cast<uint16_t (*)(float)>(f32_to_bf16) : static_cast<uint16_t (*)(float)>(f32_to_f16);
  const auto dec = bf16 ? static_cast<float (*)(uint16_t)>(bf16_to_f32) : static_cast<float (*)(uint16_t)>(f16_to_f32);
  const uint16_t inf = bf16 ? 0x7f80 : 0x7c00;
  int checked = 0;
  for (uint16_t a = 0; a < inf; ++a) {
    const uint16_t b = a + 1;
    const double lo = dec(a);
    // For the last finite code, b is +Inf and the midpoint is the overflow bound: half an ulp above lo.
    const double hi = b == inf ? lo + (lo - dec(a - 1)) : static_cast<double>(dec(b));
    const double mid_d = (lo + hi) / 2;
    const float mid = static_cast<float>(mid_d);
    ASSERT_EQ(static_cast<double>(mid), mid_d) << "midpoint must be exact in FP32";
    const uint16_t even = (a & 1) ? b : a;
    EXPECT_EQ(enc(mid), even) << "tie between " << std::hex << a << " and " << b;
    EXPECT_EQ(enc(-mid), even | 0x8000) << "negative tie " << std::hex << a;
    EXPECT_EQ(enc(std::nextafter(mid, 0.0f)), a) << "below tie " << std::hex << a;
    EXPECT_EQ(enc(std::nextafter(mid, INFINITY)), b) << "above tie " << std::hex << a;
    ++checked;
  }
  EXPECT_EQ(checked, inf);
}

TEST(Half, EveryF16PatternRoundTrips) { check_roundtrip(false); }
TEST(Half, EveryBF16PatternRoundTrips) { check_roundtrip(true); }
TEST(Half, F16RoundsToNearestEvenAtEveryMidpoint) { check_midpoints(false); }
TEST(Half, BF16RoundsToNearestEvenAtEveryMidpoint) { check_midpoints(true); }

TEST(Half, HandValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds up to Inf
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // exactly half of it: tie to even (0)
  EXPECT_EQ(f32_to_f16(0x1.8p-25f), 0x0001);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // 1 + 2^-8: tie, even stays
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // 1 + 3·2^-8: tie, rounds up to even
  EXPECT_EQ(f32_to_bf16(3.4e38f), 0x7f80);      // beyond bf16 max rounds to Inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
}

TEST(Half, BulkConversionsEqualScalar) {
  std::vector<float> src;
  for (uint32_t b = 0; b < 65536; b += 7) src.push_back(f16_to_f32(static_cast<uint16_t>(b)) * 1.2345f);
  std::vector<uint16_t> h(src.size()), bf(src.size());
  f32_to_f16(src.data(), h.data(), src.size());
  f32_to_bf16(src.data(), bf.data(), src.size());
  std::vector<float> back(src.size()), back_bf(src.size());
  f16_to_f32(h.data(), back.data(), h.size());
  bf16_to_f32(bf.data(), back_bf.data(), bf.size());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(h[i], f32_to_f16(src[i]));
    EXPECT_EQ(bf[i], f32_to_bf16(src[i]));
    if (!std::isnan(back[i])) {
      EXPECT_EQ(back[i], f16_to_f32(h[i]));
    }
    if (!std::isnan(back_bf[i])) {
      EXPECT_EQ(back_bf[i], bf16_to_f32(bf[i]));
    }
  }
}

}  // namespace
}  // namespace fp4gptq::numeric
