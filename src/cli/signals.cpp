#include "cli/signals.hpp"

#include <atomic>
#include <csignal>

namespace fp4gptq::cli {

namespace {
std::atomic<int> received{0};  // lock-free: safe to set from a signal handler
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop(int sig) { received.store(sig); }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action: immediate death
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return received.load() != 0; }
int stop_signal() { return received.load(); }

}  // namespace fp4gptq::cli
