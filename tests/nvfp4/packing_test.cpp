#include <gtest/gtest.h>

#include "nvfp4/packing.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::nvfp4 {
namespace {

TEST(Packing, Element2kInLowNibble) {
  const uint8_t codes[] = {0x1, 0xf, 0x8, 0x3};
  const auto p = pack_nibbles(codes, 4);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], 0xf1);
  EXPECT_EQ(p[1], 0x38);
  EXPECT_EQ(unpack_nibbles(p.data(), 4), std::vector<uint8_t>(codes, codes + 4));
}

TEST(Packing, AllCodePairsRoundTrip) {
  std::vector<uint8_t> codes;
  for (int b = 0; b < 16; ++b)
    for (int a = 0; a < 16; ++a) codes.insert(codes.end(), {static_cast<uint8_t>(a), static_cast<uint8_t>(b)});
  const auto p = pack_nibbles(codes.data(), codes.size());
  for (size_t k = 0; k < p.size(); ++k) EXPECT_EQ(p[k], k);  // pair (a, b) packs to b·16 + a == k
  EXPECT_EQ(unpack_nibbles(p.data(), codes.size()), codes);
}

TEST(Packing, OddCountRejected) {
  const uint8_t codes[3] = {};
  test::expect_error([&] { pack_nibbles(codes, 3); }, {"even"});
}

}  // namespace
}  // namespace fp4gptq::nvfp4
