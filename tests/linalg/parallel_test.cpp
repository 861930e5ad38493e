// parallel_tasks: every task runs exactly once, each worker single-threaded, errors surface after all stop.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "linalg/blas.hpp"
#include "linalg/parallel.hpp"

namespace fp4gptq::linalg {
namespace {

TEST(ParallelTasks, EveryTaskOnceOnSingleThreadedWorkers) {
  set_num_threads(2);
  std::vector<std::atomic<int>> runs(100);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::set<int> workers;
  std::atomic<int> max_threads_seen{0};
  parallel_tasks(100, 2, [&](int64_t t, int w) {
    ++runs[static_cast<size_t>(t)];
    max_threads_seen = std::max(max_threads_seen.load(), num_threads());
    const std::lock_guard<std::mutex> lock(mu);
    threads.insert(std::this_thread::get_id());
    workers.insert(w);
  });
  for (int t = 0; t < 100; ++t) EXPECT_EQ(runs[static_cast<size_t>(t)], 1) << t;
  EXPECT_EQ(max_threads_seen, 1) << "inside a task, parallel_ranges and oneDNN run on the worker alone";
  EXPECT_LE(workers.size(), 2u);
  EXPECT_EQ(threads.size(), workers.size());
  EXPECT_EQ(num_threads(), 2) << "the calling thread's count is restored";
  set_num_threads(0);
}

TEST(ParallelTasks, RethrowsTheLowestFailingTask) {
  std::atomic<int> ran{0};
  try {
    parallel_tasks(50, 2, [&](int64_t t, int) {
      ++ran;
      if (t == 7 || t == 9) throw std::runtime_error("task " + std::to_string(t));
    });
    ADD_FAILURE() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task 7");
  }
  EXPECT_GE(ran.load(), 8);
  int n = 0;
  parallel_tasks(0, 2, [&](int64_t, int) { ++n; });
  EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace fp4gptq::linalg
