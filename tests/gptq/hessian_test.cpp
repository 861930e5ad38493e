// The Hessian accumulator against a direct double-precision evaluation of H = 2/N Σ x xᵀ.
#include <gtest/gtest.h>

#include <cmath>

#include "gptq/hessian.hpp"
#include "linalg/context.hpp"
#include "numeric/half.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::gptq {
namespace {

std::vector<float> rows_of(int64_t n, int64_t dim, uint64_t seed) {
  tools::NormalRng rng(seed, "x");
  std::vector<float> x(static_cast<size_t>(n * dim));
  for (auto& v : x) v = static_cast<float>(rng.next());
  return x;
}

std::vector<double> reference(const std::vector<float>& x, int64_t dim, const std::vector<uint8_t>& keep) {
  std::vector<double> h(static_cast<size_t>(dim * dim), 0.0);
  int64_t n = 0;
  for (size_t r = 0; r < keep.size(); ++r) {
    if (!keep[r]) continue;
    ++n;
    for (int64_t i = 0; i < dim; ++i)
      for (int64_t j = 0; j < dim; ++j) h[i * dim + j] += static_cast<double>(x[r * dim + i]) * x[r * dim + j];
  }
  for (auto& v : h) v *= 2.0 / static_cast<double>(n);
  return h;
}

void expect_close(const std::vector<float>& h, const std::vector<double>& ref, double rel) {
  double scale = 0;
  for (double v : ref) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < h.size(); ++i) ASSERT_NEAR(h[i], ref[i], rel * scale) << i;
}

TEST(Hessian, F32RowsInBatchesWithPadding) {
  const linalg::Context ctx;
  const int64_t dim = 48, n = 300;
  const auto x = rows_of(n, dim, 1);
  std::vector<uint8_t> keep(static_cast<size_t>(n), 1);
  for (int64_t r = 0; r < n; r += 7) keep[r] = 0;
  for (auto dtype : {HessianDType::F32, HessianDType::F64}) {
    HessianAccumulator acc(dim, dtype);
    acc.add(ctx, x.data(), 100, keep.data());  // two batches == one
    acc.add(ctx, x.data() + 100 * dim, n - 100, keep.data() + 100);
    int64_t kept = 0;
    for (auto k : keep) kept += k;
    EXPECT_EQ(acc.tokens(), kept);
    const auto h = acc.hessian(ctx);
    expect_close(h, reference(x, dim, keep), 1e-5);
    for (int64_t i = 0; i < dim; ++i)
      for (int64_t j = 0; j < dim; ++j) ASSERT_EQ(h[i * dim + j], h[j * dim + i]);
  }
}

TEST(Hessian, Bf16RowsThroughOneDnn) {
  const linalg::Context ctx;
  const int64_t dim = 64, n = 257;
  auto x = rows_of(n, dim, 2);
  std::vector<uint16_t> xb(x.size());
  numeric::f32_to_bf16(x.data(), xb.data(), x.size());
  numeric::bf16_to_f32(xb.data(), x.data(), x.size());  // the exact values the bf16 rows hold
  std::vector<uint8_t> keep(static_cast<size_t>(n), 1);
  keep[3] = keep[100] = 0;
  for (auto dtype : {HessianDType::F32, HessianDType::F64}) {
    HessianAccumulator acc(dim, dtype);
    acc.add_bf16(ctx, xb.data(), n, keep.data());
    EXPECT_EQ(acc.tokens(), n - 2);
    expect_close(acc.hessian(ctx), reference(x, dim, keep), 1e-5);
  }
}

TEST(Hessian, NoTokensGivesZero) {
  const linalg::Context ctx;
  HessianAccumulator acc(32);
  const std::vector<float> x(32 * 4, 1.0f);
  const std::vector<uint8_t> none(4, 0);
  acc.add(ctx, x.data(), 4, none.data());
  EXPECT_EQ(acc.tokens(), 0);
  for (float v : acc.hessian(ctx)) ASSERT_EQ(v, 0.0f);
  test::expect_error([] { HessianAccumulator bad(0); }, {"positive"});
}

}  // namespace
}  // namespace fp4gptq::gptq
