#include "linalg/context.hpp"

#include <algorithm>
#include <thread>

namespace fp4gptq::linalg {

Context::Context(int threads, const Backend& backend)
    : threads_(threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
      backend_(&backend) {}

}  // namespace fp4gptq::linalg
