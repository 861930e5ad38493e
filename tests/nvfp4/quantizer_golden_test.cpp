// NVFP4 RTN against ../shared/golden/nvfp4.safetensors (independent reference): bit for bit on codes, packed
// nibbles, block-scale bytes, scale_2 and dequantized values.
#include <gtest/gtest.h>

#include <cstring>

#include "io/safetensors_reader.hpp"
#include "nvfp4/packing.hpp"
#include "nvfp4/quantizer.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::nvfp4 {
namespace {

class Nvfp4Golden : public ::testing::TestWithParam<std::string> {};

template <typename T>
std::vector<T> raw(const io::SafetensorsFile& f, const std::string& name) {
  const auto b = f.bytes(f.at(name));
  std::vector<T> out(b.size() / sizeof(T));
  std::memcpy(out.data(), b.data(), b.size());
  return out;
}

TEST_P(Nvfp4Golden, BitExact) {
  const io::SafetensorsFile g(test::golden_dir() / "nvfp4.safetensors");
  const std::string c = GetParam();
  const auto& wi = g.at(c + ".w");
  ASSERT_EQ(wi.shape.size(), 2u);
  const auto w = g.read_f32(wi);
  const auto q = quantize_rtn(w.data(), wi.shape[0], wi.shape[1], std::nullopt, c);

  const float s2 = raw<float>(g, c + ".scale_2").at(0);
  EXPECT_EQ(std::memcmp(&q.scale_2, &s2, 4), 0) << q.scale_2 << " vs " << s2;
  EXPECT_EQ(q.codes, raw<uint8_t>(g, c + ".codes"));
  EXPECT_EQ(q.block_scales, raw<uint8_t>(g, c + ".block_scale"));
  EXPECT_EQ(pack_nibbles(q.codes.data(), q.codes.size()), raw<uint8_t>(g, c + ".packed"));
  const auto deq = raw<uint32_t>(g, c + ".dequant");
  ASSERT_EQ(deq.size(), q.dequant.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < deq.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &q.dequant[i], 4);
    mismatches += bits != deq[i];
  }
  EXPECT_EQ(mismatches, 0u);
  // The golden codes must differ from trivial answers (the test can fail).
  EXPECT_NE(q.codes, std::vector<uint8_t>(q.codes.size(), q.codes.empty() ? 0 : q.codes[0] + 1));
}

INSTANTIATE_TEST_SUITE_P(Cases, Nvfp4Golden,
                         ::testing::Values("randn.f16", "randn.bf16", "heavy_tail.f16", "heavy_tail.bf16", "wide.f16",
                                           "wide.bf16", "edge.f16", "edge.bf16", "all_zero.f16", "all_zero.bf16"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& ch : s)
                             if (ch == '.') ch = '_';
                           return s;
                         });

}  // namespace
}  // namespace fp4gptq::nvfp4
