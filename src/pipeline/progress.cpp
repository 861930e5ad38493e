#include "pipeline/progress.hpp"

#include <fmt/core.h>

#include <fstream>
#include <string>

#include "pipeline/log.hpp"

namespace fp4gptq::pipeline {

std::string format_seconds(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto t = static_cast<int64_t>(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
}

uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  return 0;
}

Progress::Progress(std::string task, int64_t total_layers, bool quiet)
    : task_(std::move(task)), total_(total_layers), quiet_(quiet), start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::layer_started(int64_t layer, const std::string& what) const {
  if (quiet_) return;
  log_info(fmt::format("[{}] layer {}/{}{} (elapsed {})", task_, layer + 1, total_, what.empty() ? "" : " " + what,
                       format_seconds(elapsed())));
}

void Progress::layer_done(int64_t layer, const std::string& what) {
  ++done_;
  if (quiet_) return;
  const double e = elapsed();
  const double eta = done_ ? e / static_cast<double>(done_) * static_cast<double>(total_ - done_) : 0.0;
  log_info(fmt::format("[{}] layer {}/{} done: {} (elapsed {}, ETA {})", task_, layer + 1, total_, what,
                       format_seconds(e), format_seconds(eta)));
}

void Progress::note(const std::string& what) const {
  if (!quiet_) log_info(fmt::format("[{}] {}", task_, what));
}

}  // namespace fp4gptq::pipeline
