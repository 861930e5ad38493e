// W4A4 inputs of a Linear (docs/DESIGN.md §7b): quantized as nvfp4::fake_quantize_input before the product, from
// bf16 values under bf16 compute, with the smallest input global scale where Linears share an input.
#include <gtest/gtest.h>

#include <random>

#include "linalg/context.hpp"
#include "model/linear.hpp"
#include "numeric/half.hpp"
#include "nvfp4/activation_quant.hpp"

namespace fp4gptq::model {
namespace {

constexpr int64_t kRows = 3, kIn = 32;

// An identity weight [kIn, kIn], so the output is the (quantized) input itself.
Linear identity(Compute compute, float gs) {
  std::vector<float> w(kIn * kIn, 0.0f);
  for (int64_t i = 0; i < kIn; ++i) w[i * kIn + i] = 1.0f;
  Linear l(kIn, kIn, compute);
  l.set_weight(w.data());
  l.set_input_quant(gs);
  return l;
}

std::vector<float> input() {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  std::vector<float> x(kRows * kIn);
  for (auto& v : x) v = nd(rng);
  return x;
}

TEST(LinearInputQuant, InputIsQuantizedBeforeTheProduct) {
  const linalg::Context ctx(1);
  const auto x = input();
  std::vector<float> want(x.size()), y(x.size());
  nvfp4::fake_quantize_input(x.data(), kRows, kIn, 256.0f, want.data());
  identity(Compute::F32, 256.0f).forward(ctx, x.data(), kRows, y.data());
  EXPECT_EQ(y, want);
  EXPECT_NE(y, x);  // it did quantize
  // bf16 compute: the engines quantize bf16 activations, so x is rounded to bf16 first.
  std::vector<float> xb(x.size());
  for (size_t i = 0; i < x.size(); ++i) xb[i] = numeric::bf16_to_f32(numeric::f32_to_bf16(x[i]));
  nvfp4::fake_quantize_input(xb.data(), kRows, kIn, 256.0f, want.data());
  identity(Compute::BF16, 256.0f).forward(ctx, x.data(), kRows, y.data());
  EXPECT_EQ(y, want);
}

TEST(LinearInputQuant, SharedInputsTakeTheSmallestGlobalScale) {
  const linalg::Context ctx(1);
  const auto x = input();
  const Linear a = identity(Compute::F32, 256.0f), b = identity(Compute::F32, 1024.0f);
  std::vector<float> ya(x.size()), yb(x.size()), want(x.size());
  Linear::forward_shared(ctx, x.data(), kRows, {{&a, ya.data()}, {&b, yb.data()}});
  nvfp4::fake_quantize_input(x.data(), kRows, kIn, 256.0f, want.data());
  EXPECT_EQ(ya, want);
  EXPECT_EQ(yb, want);
  std::vector<float> other(x.size());
  nvfp4::fake_quantize_input(x.data(), kRows, kIn, 1024.0f, other.data());
  EXPECT_NE(other, want);  // the two scales do give different inputs
}

}  // namespace
}  // namespace fp4gptq::model
