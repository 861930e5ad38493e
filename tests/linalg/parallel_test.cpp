// parallel_tasks: every task runs exactly once, each worker on a one-thread context, errors surface after
// all stop. parallel_ranges: ranges cover [0, n) exactly, one per context thread.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "linalg/parallel.hpp"

namespace fp4gptq::linalg {
namespace {

TEST(ParallelTasks, EveryTaskOnceOnSingleThreadedWorkers) {
  const Context ctx(2);
  std::vector<std::atomic<int>> runs(100);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::set<int> workers;
  std::atomic<int> max_threads_seen{0};
  parallel_tasks(ctx, 100, [&](int64_t t, int w, const Context& wctx) {
    ++runs[static_cast<size_t>(t)];
    max_threads_seen = std::max(max_threads_seen.load(), wctx.threads());
    const std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    workers.insert(w);
  });
  for (int t = 0; t < 100; ++t) EXPECT_EQ(runs[static_cast<size_t>(t)], 1) << t;
  EXPECT_EQ(max_threads_seen, 1) << "inside a task, BLAS, oneDNN and parallel_ranges run on the worker alone";
  EXPECT_LE(workers.size(), 2u);
  EXPECT_EQ(threads.size(), workers.size());
  EXPECT_EQ(ctx.threads(), 2) << "the caller's context is unchanged";
}

TEST(ParallelTasks, RethrowsTheLowestFailingTask) {
  const Context ctx(2);
  std::atomic<int> ran{0};
  try {
    parallel_tasks(ctx, 50, [&](int64_t t, int, const Context&) {
      ++ran;
      if (t == 7 || t == 9) throw std::runtime_error("task " + std::to_string(t));
    });
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task 7");
  }
  EXPECT_GE(ran.load(), 8);
  int n = 0;
  parallel_tasks(ctx, 0, [&](int64_t, int, const Context&) { ++n; });
  EXPECT_EQ(n, 0);
}

TEST(ParallelRanges, CoverEveryIndexOncePerContextThreads) {
  for (const int threads : {1, 2, 3}) {
    const Context ctx(threads);
    std::vector<std::atomic<int>> hits(1000);
    std::atomic<int> ranges{0};
    parallel_ranges(ctx, 1000, 10, [&](int64_t b, int64_t e, int64_t) {
      ++ranges;
      for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
    });
    for (size_t i = 0; i < hits.size(); ++i) ASSERT_EQ(hits[i], 1) << i;
    EXPECT_EQ(ranges, threads);
  }
}

TEST(Context, ZeroThreadsMeansEveryCore) {
  EXPECT_EQ(Context(0).threads(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_EQ(Context(3).with_threads(1).threads(), 1);
  EXPECT_STREQ(Context().backend().name(), "cpu");
}

}  // namespace
}  // namespace fp4gptq::linalg
