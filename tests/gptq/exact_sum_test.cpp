// The order-independent Hessian sum (gptq/exact_sum.hpp) and the sharded Hessian of a data-parallel run
// (pipeline/forward_stages.hpp), on ranks simulated by threads of one process.
#include "gptq/exact_sum.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <thread>

#include "gptq/hessian.hpp"
#include "pipeline/forward_stages.hpp"

namespace fp4gptq {
namespace {

// N ranks as N threads: every collective publishes each rank's buffer, waits for all, combines them into a
// rank-local result, waits again, then writes it back.
class ThreadRanks {
 public:
  explicit ThreadRanks(int n) : n_(n), sync_(n), bufs_(static_cast<size_t>(n)) {}
  int size() const { return n_; }
  // Runs fn(comm) on every rank, each on its own thread.
  void run(const std::function<void(const dist::Communicator&)>& fn);

  template <typename T, typename Op>
  void allreduce(int r, T* v, size_t n, Op op) {
    bufs_[static_cast<size_t>(r)] = v;
    sync_.arrive_and_wait();
    std::vector<T> out(v, v + n);
    for (int o = 0; o < n_; ++o)
      if (o != r)
        for (size_t i = 0; i < n; ++i) out[i] = op(out[i], static_cast<const T*>(bufs_[static_cast<size_t>(o)])[i]);
    sync_.arrive_and_wait();
    std::copy(out.begin(), out.end(), v);
  }
  void copy(int r, void* data, size_t bytes, int from, bool to_all) {
    bufs_[static_cast<size_t>(r)] = data;
    sync_.arrive_and_wait();
    if (r != from && to_all) std::memcpy(data, bufs_[static_cast<size_t>(from)], bytes);
    sync_.arrive_and_wait();
  }
  void gather(int r, const double* mine, size_t n, double* all) {
    bufs_[static_cast<size_t>(r)] = const_cast<double*>(mine);
    sync_.arrive_and_wait();
    if (r == 0)
      for (int o = 0; o < n_; ++o) std::memcpy(all + o * n, bufs_[static_cast<size_t>(o)], n * sizeof(double));
    sync_.arrive_and_wait();
  }

 private:
  int n_;
  std::barrier<> sync_;
  std::vector<void*> bufs_;
};

class ThreadComm final : public dist::Communicator {
 public:
  ThreadComm(ThreadRanks& g, int r) : g_(g), r_(r) {}
  int rank() const override { return r_; }
  int size() const override { return g_.size(); }
  [[noreturn]] void abort(int code) const override { std::abort(); }

 protected:
  void do_allreduce_max_i8(int8_t* v, size_t n) const override {
    g_.allreduce(r_, v, n, [](int8_t a, int8_t b) { return std::max(a, b); });
  }
  void do_allreduce_max_f32(float* v, size_t n) const override {
    g_.allreduce(r_, v, n, [](float a, float b) { return std::max(a, b); });
  }
  void do_allreduce_sum_i64(int64_t* v, size_t n) const override {
    g_.allreduce(r_, v, n, [](int64_t a, int64_t b) { return a + b; });
  }
  void do_reduce_sum_i64(int64_t* v, size_t n, int to) const override {
    std::vector<int64_t> mine(v, v + n);
    g_.allreduce(r_, mine.data(), n, [](int64_t a, int64_t b) { return a + b; });
    if (r_ == to) std::copy(mine.begin(), mine.end(), v);
  }
  void do_broadcast(void* data, size_t bytes, int from) const override { g_.copy(r_, data, bytes, from, true); }
  void do_gather(const double* mine, size_t n, double* all) const override { g_.gather(r_, mine, n, all); }

 private:
  ThreadRanks& g_;
  int r_;
};

void ThreadRanks::run(const std::function<void(const dist::Communicator&)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < n_; ++r)
    threads.emplace_back([&, r] {
      const ThreadComm comm(*this, r);
      fn(comm);
    });
  for (auto& t : threads) t.join();
}

constexpr int64_t kDim = 6;

// Matrices whose entries span 2^-70 .. 2^70 with both signs and zeros, so sums cross the 31-bit grid (t raised
// by one and by several) and cancel.
std::vector<std::vector<double>> wide_terms(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> mant(-1.0, 1.0);
  std::uniform_int_distribution<int> expo(-70, 70), pick(0, 9);
  std::vector<std::vector<double>> terms;
  for (int c = 0; c < count; ++c) {
    std::vector<double> m(static_cast<size_t>(kDim * kDim));
    for (auto& v : m) v = pick(rng) == 0 ? 0.0 : static_cast<float>(std::ldexp(mant(rng), expo(rng)));
    terms.push_back(std::move(m));
  }
  return terms;
}

std::vector<float> sum_in_order(const std::vector<std::vector<double>>& terms, const std::vector<int>& order) {
  gptq::ExactSum s(kDim);
  for (const int i : order) s.add(terms[static_cast<size_t>(i)].data());
  return s.matrix(1.0);
}

TEST(ExactSum, TheSameBytesInAnyOrder) {
  const auto terms = wide_terms(40, 7);
  std::vector<int> order(terms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  const auto forward = sum_in_order(terms, order);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    const auto shuffled = sum_in_order(terms, order);
    ASSERT_EQ(std::memcmp(forward.data(), shuffled.data(), forward.size() * sizeof(float)), 0) << "trial " << trial;
  }
}

// Each entry is within count · 2^-31 of its largest term's magnitude (each term is truncated once on the final
// grid) of the sum computed in long double, plus the final rounding to double.
TEST(ExactSum, WithinItsBoundOfAWiderSum) {
  const auto terms = wide_terms(40, 11);
  gptq::ExactSum s(kDim);
  for (const auto& t : terms) s.add(t.data());
  for (int64_t i = 0; i < kDim; ++i)
    for (int64_t j = i; j < kDim; ++j) {
      long double ref = 0, largest = 0;
      for (const auto& t : terms) {
        const double v = t[static_cast<size_t>(i * kDim + j)];
        ref += v;
        largest = std::max<long double>(largest, std::fabs(v));
      }
      const double bound =
          static_cast<double>(terms.size() * std::ldexp(largest, -31) + std::ldexp(std::fabs(ref), -52));
      EXPECT_LE(std::fabs(s.value(i, j) - static_cast<double>(ref)), bound) << i << "," << j;
      EXPECT_EQ(s.value(i, j), s.value(j, i));
    }
}

// Hand-worked grid: 3 has t = 1, so the sum is kept in units of 2^(31-62) = 2^-31.
TEST(ExactSum, KeepsUnitsOfItsGridAndDropsWhatIsBelow) {
  gptq::ExactSum s(1);
  const double a = 3.0, b = std::ldexp(1.0, -30), tiny = std::ldexp(1.0, -40);
  s.add(&a);
  s.add(&b);
  EXPECT_EQ(s.value(0, 0), a + b) << "2^-30 is two units";
  s.add(&tiny);
  EXPECT_EQ(s.value(0, 0), a + b) << "2^-40 is below the unit: truncated";
  const double c = std::ldexp(1.0, 100) + std::ldexp(1.0, 80);  // t = 4: units of 2^62
  s.add(&c);
  EXPECT_EQ(s.value(0, 0), c) << "the grid raised by three: 3 + 2^-30 truncates to nothing";
  const double neg = -c;
  s.add(&neg);
  EXPECT_EQ(s.value(0, 0), 0.0);
}

TEST(ExactSum, NonFiniteTermsMakeTheEntryNaN) {
  gptq::ExactSum s(2);
  std::vector<float> m = {1, std::numeric_limits<float>::infinity(), 0, 2};
  s.add(m.data());
  const auto h = s.matrix(0.5);
  EXPECT_EQ(h[0], 0.5f);
  EXPECT_TRUE(std::isnan(h[1]) && std::isnan(h[2])) << "the symmetric pair";
  EXPECT_EQ(h[3], 1.0f);
}

TEST(ExactSum, RanksSplitTheTermsAnyWayAndAgree) {
  const auto terms = wide_terms(30, 5);
  std::vector<int> all(terms.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  const auto one = sum_in_order(terms, all);
  for (const std::vector<int>& cuts :
       {std::vector<int>{0, 11, 11, 30}, std::vector<int>{0, 15, 30}, std::vector<int>{0, 1, 2, 29, 30}}) {
    ThreadRanks ranks(static_cast<int>(cuts.size()) - 1);
    std::vector<std::vector<float>> got(static_cast<size_t>(ranks.size()));
    ranks.run([&](const dist::Communicator& comm) {
      gptq::ExactSum s(kDim);
      for (int i = cuts[static_cast<size_t>(comm.rank())]; i < cuts[static_cast<size_t>(comm.rank()) + 1]; ++i)
        s.add(terms[static_cast<size_t>(i)].data());
      s.sum_over_ranks(comm);
      got[static_cast<size_t>(comm.rank())] = s.matrix(1.0);
    });
    for (const auto& g : got) EXPECT_EQ(std::memcmp(g.data(), one.data(), one.size() * sizeof(float)), 0);
  }
}

// The Hessian of rows split into shards: on one rank and on three (shards 0-1, none, 2-4) the same bytes,
// within FP32 accumulation error of 2/N Σ x xᵀ in double, with N and max|x| over all ranks.
TEST(ShardedHessian, TheSameOnEveryRankCountAndCloseToTheDoubleSum) {
  constexpr int64_t dim = 24, per_shard = 37, shards = 5;
  std::mt19937 rng(9);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(shards * per_shard * dim));
  for (auto& v : x) v = nd(rng);
  x[5] = 40.0f;  // an outlier: the amax
  const linalg::Context ctx(1);
  auto run = [&](const dist::Communicator& comm, int64_t first, int64_t last) {
    pipeline::ShardedHessian h(dim, gptq::HessianDType::F32);
    for (int64_t s = first; s < last; ++s)  // each shard in two pieces
      for (const int64_t r0 : {int64_t{0}, int64_t{20}}) {
        const int64_t rows = r0 == 0 ? 20 : per_shard - 20;
        h.add(ctx, s, x.data() + (s * per_shard + r0) * dim, rows);
      }
    return h.finish(ctx, comm);
  };
  const auto one = run(dist::serial(), 0, shards);
  EXPECT_EQ(one.tokens, shards * per_shard);
  EXPECT_EQ(one.input_amax, 40.0f);
  for (int64_t i = 0; i < dim; ++i)
    for (int64_t j = 0; j < dim; ++j) {
      double ref = 0;
      for (int64_t r = 0; r < shards * per_shard; ++r)
        ref += static_cast<double>(x[static_cast<size_t>(r * dim + i)]) * x[static_cast<size_t>(r * dim + j)];
      ref *= 2.0 / static_cast<double>(shards * per_shard);
      EXPECT_NEAR(one.hessian[static_cast<size_t>(i * dim + j)], ref, 1e-5 * (1 + std::fabs(ref))) << i << "," << j;
    }
  ThreadRanks ranks(3);
  const int64_t cuts[] = {0, 2, 2, 5};
  std::vector<pipeline::InputStats> got(3);
  ranks.run([&](const dist::Communicator& comm) {
    got[static_cast<size_t>(comm.rank())] = run(comm, cuts[comm.rank()], cuts[comm.rank() + 1]);
  });
  for (const auto& g : got) {
    EXPECT_EQ(g.tokens, one.tokens);
    EXPECT_EQ(g.input_amax, one.input_amax);
    EXPECT_EQ(std::memcmp(g.hessian.data(), one.hessian.data(), one.hessian.size() * sizeof(float)), 0);
  }
}

// One FP32 shard on one rank skips the exact sum (the partial is the only term): the same bytes as the exact
// sum of that partial, and as two ranks of which one holds the shard, for rows whose squares span 2^-40..2^40.
TEST(ShardedHessian, OneShardOnOneRankIsTheExactSumOfItsPartial) {
  constexpr int64_t dim = 20, rows = 45;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-20, 20);
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (auto& v : x) v = std::ldexp(mant(rng), expo(rng));
  const linalg::Context ctx(1);
  auto sharded = [&](const dist::Communicator& comm, bool has_shard) {
    pipeline::ShardedHessian h(dim, gptq::HessianDType::F32);
    if (has_shard) {
      h.add(ctx, 0, x.data(), 30);
      h.add(ctx, 0, x.data() + 30 * dim, rows - 30);
    }
    return h.finish(ctx, comm);
  };
  const auto direct = sharded(dist::serial(), true);
  gptq::HessianAccumulator acc(dim);
  acc.add(ctx, x.data(), 30);
  acc.add(ctx, x.data() + 30 * dim, rows - 30);
  gptq::ExactSum sum(dim);
  acc.add_to(ctx, sum);
  const auto exact = sum.matrix(2.0 / rows);
  ASSERT_EQ(direct.hessian.size(), exact.size());
  EXPECT_EQ(std::memcmp(direct.hessian.data(), exact.data(), exact.size() * sizeof(float)), 0);
  ThreadRanks ranks(2);
  std::vector<pipeline::InputStats> got(2);
  ranks.run(
      [&](const dist::Communicator& comm) { got[static_cast<size_t>(comm.rank())] = sharded(comm, comm.rank() == 1); });
  for (const auto& g : got) {
    EXPECT_EQ(g.tokens, rows);
    EXPECT_EQ(std::memcmp(g.hessian.data(), exact.data(), exact.size() * sizeof(float)), 0);
  }
}

}  // namespace
}  // namespace fp4gptq
