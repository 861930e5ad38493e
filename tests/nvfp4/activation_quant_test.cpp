// W4A4 input quantization (vLLM's ref_nvfp4_quant semantics) on hand-computed blocks.
#include <gtest/gtest.h>

#include "nvfp4/activation_quant.hpp"

namespace fp4gptq::nvfp4 {
namespace {

TEST(ActivationQuant, HandComputedBlock) {
  // gs = 256: block amax 6 -> s = fp8(256 · 6·(1/6)) = 256, step s/gs = 1 (all exact), so values round to the
  // E2M1 grid itself, ties to the even code.
  const float x[16] = {6, -6, 0.2f, 0.25f, 0.3f, 0.75f, 1.25f, 1.3f, 1.75f, 2.5f, 2.6f, 3.5f, 5, 5.1f, -0.76f, 0};
  const float want[16] = {6, -6, 0, 0, 0.5f, 1, 1, 1.5f, 2, 2, 3, 4, 4, 6, -1, 0};
  float out[16];
  fake_quantize_input(x, 1, 16, 256.0f, out);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], want[i]) << "element " << i;
}

TEST(ActivationQuant, ScaleIsRoundedToFp8AndZeroBlocksStayZero) {
  // gs = 1: block amax 3 -> s = fp8(0.5) = 0.5; step 0.5: 3 -> 6·0.5, 1.1 -> 1.1/0.5 = 2.2 -> 2 -> 1.0.
  float x[32] = {3, 1.1f};
  float out[32];
  fake_quantize_input(x, 2, 16, 1.0f, out);
  EXPECT_EQ(out[0], 3.0f);
  EXPECT_EQ(out[1], 1.0f);
  for (int i = 16; i < 32; ++i) EXPECT_EQ(out[i], 0.0f);  // the all-zero second row
}

}  // namespace
}  // namespace fp4gptq::nvfp4
