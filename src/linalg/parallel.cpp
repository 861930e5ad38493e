#include "linalg/parallel.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace fp4gptq::linalg {

void parallel_tasks(const Context& ctx, int64_t n, const std::function<void(int64_t, int, const Context&)>& fn) {
  const int workers = static_cast<int>(std::clamp<int64_t>(ctx.threads(), 1, std::max<int64_t>(n, 1)));
  const Context single = ctx.with_threads(1);
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  int64_t failed_task = n;
  std::exception_ptr error;
  auto work = [&](int worker) {
    for (int64_t t; !failed.load() && (t = next.fetch_add(1)) < n;) {
      try {
        fn(t, worker, single);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mu);
        if (t < failed_task) {
          failed_task = t;
          error = std::current_exception();
        }
        failed = true;
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(work, w);
    work(0);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace fp4gptq::linalg
