// Which rank solves each module of a dense group (pipeline/spread_solve.hpp): worked by hand for the shapes of
// Qwen3-8B and of a small model, and the properties every assignment keeps.
#include "pipeline/spread_solve.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace fp4gptq::pipeline {
namespace {

std::vector<model::PlannedLinear> modules(const std::vector<std::pair<int64_t, int64_t>>& shapes) {
  std::vector<model::PlannedLinear> m(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) m[i].out = shapes[i].first, m[i].in = shapes[i].second;
  return m;
}

std::vector<int> owners(const std::vector<model::PlannedLinear>& m, int ranks) {
  std::vector<const model::PlannedLinear*> p;
  for (const auto& x : m) p.push_back(&x);
  return spread_over_ranks(p, ranks);
}

TEST(SpreadOverRanks, Qwen3AttentionInputs) {
  // q [4096, 4096], k and v [1024, 4096]: q alone on rank 0, k and v (together a half of q) on rank 1.
  const auto qkv = modules({{4096, 4096}, {1024, 4096}, {1024, 4096}});
  EXPECT_EQ(owners(qkv, 1), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(owners(qkv, 2), (std::vector<int>{0, 1, 1}));
  EXPECT_EQ(owners(qkv, 3), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(owners(qkv, 8), (std::vector<int>{0, 1, 2})) << "more ranks than modules: the rest idle";
}

TEST(SpreadOverRanks, EqualSizesGoInOrderAndTiesToTheLowerRank) {
  // q, k, v of one size on two ranks: q → 0, k → 1, then both hold one: v → 0.
  EXPECT_EQ(owners(modules({{128, 128}, {128, 128}, {128, 128}}), 2), (std::vector<int>{0, 1, 0}));
  // The largest first whatever its place: [64], [256], [128], [64] on 2 ranks: 256 → 0, 128 → 1, 64 → 1
  // (load 128 < 256), the last 64 → 1 (192 < 256).
  EXPECT_EQ(owners(modules({{64, 16}, {256, 16}, {128, 16}, {64, 16}}), 2), (std::vector<int>{1, 0, 1, 1}));
}

TEST(SpreadOverRanks, NoRankHoldsMoreThanTheLeastLoadedPlusTheLargestModule) {
  const auto m = modules({{640, 32}, {96, 32}, {512, 32}, {512, 32}, {32, 32}, {256, 32}, {1024, 32}});
  for (int n = 1; n <= 9; ++n) {
    const auto o = owners(m, n);
    std::vector<int64_t> load(static_cast<size_t>(n), 0);
    for (size_t i = 0; i < m.size(); ++i) {
      ASSERT_GE(o[i], 0);
      ASSERT_LT(o[i], n);
      load[static_cast<size_t>(o[i])] += m[i].out * m[i].in;
    }
    const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
    // The busiest rank's last module went to the least loaded rank of the moment (Graham's LPT argument).
    EXPECT_LE(*hi - *lo, 1024 * 32) << n << " ranks";
  }
}

}  // namespace
}  // namespace fp4gptq::pipeline
