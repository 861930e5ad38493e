#include "linalg/parallel.hpp"

#include <atomic>
#include <exception>
#include <mutex>

namespace fp4gptq::linalg {

void parallel_tasks(int64_t n, int workers, const std::function<void(int64_t, int)>& fn) {
  workers = static_cast<int>(std::clamp<int64_t>(workers, 1, std::max<int64_t>(n, 1)));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  int64_t failed_task = n;
  std::exception_ptr error;
  auto work = [&](int worker) {
    const SingleThreaded single;
    for (int64_t t; !failed.load() && (t = next.fetch_add(1)) < n;) {
      try {
        fn(t, worker);
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
  set_blas_threads(1);
  {
    std::vector<std::jthread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(work, w);
    work(0);
  }
  set_blas_threads(0);
  if (error) std::rethrow_exception(error);
}

}  // namespace fp4gptq::linalg
