#pragma once
// Parallel loops over a Context's threads. Ranges and task order depend only on n and the thread count, so
// results combined in range order are deterministic for a given --threads.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "linalg/context.hpp"

namespace fp4gptq::linalg {

// Splits [0, n) into one contiguous range per thread of `ctx` (at least min_per_thread each) and runs
// fn(begin, end, range_index) on each, the first range on the calling thread.
template <typename F>
void parallel_ranges(const Context& ctx, int64_t n, int64_t min_per_thread, F&& fn) {
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(ctx.threads(), n / std::max<int64_t>(min_per_thread, 1)));
  if (t == 1) {
    fn(int64_t{0}, n, int64_t{0});
    return;
  }
  std::vector<std::thread> workers;
  for (int64_t k = 1; k < t; ++k) workers.emplace_back([&, k] { fn(n * k / t, n * (k + 1) / t, k); });
  fn(int64_t{0}, n / t, int64_t{0});
  for (auto& w : workers) w.join();
}

// Runs fn(task, worker, worker_ctx) for tasks 0..n-1 on up to ctx.threads() threads (the calling thread is
// worker 0), taken in increasing order. Each worker gets a one-thread copy of ctx, so independent jobs (e.g.
// MoE experts' GPTQ solves) run side by side instead of splitting each BLAS call. A task's result must not
// depend on which worker ran it. When tasks throw, the remaining tasks are skipped and the exception of the
// lowest task is rethrown once every worker has stopped.
void parallel_tasks(const Context& ctx, int64_t n,
                    const std::function<void(int64_t task, int worker, const Context& worker_ctx)>& fn);

}  // namespace fp4gptq::linalg
