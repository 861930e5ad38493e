#include "pipeline/log.hpp"

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>

#include "fp4gptq/log.hpp"

namespace fp4gptq {

namespace {

std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}
LogSink& sink() {
  static LogSink s;
  return s;
}

// Copies the sink under the lock and calls it outside, so a slow sink never blocks set_log_sink; the message
// lock keeps lines from two threads whole.
bool emit(LogLevel level, const std::string& line) {
  static std::mutex one_at_a_time;
  LogSink s;
  {
    const std::lock_guard<std::mutex> lock(sink_mutex());
    s = sink();
  }
  if (!s) return false;
  const std::lock_guard<std::mutex> lock(one_at_a_time);
  s(level, line);
  return true;
}

}  // namespace

void set_log_sink(LogSink s) {
  const std::lock_guard<std::mutex> lock(sink_mutex());
  sink() = std::move(s);
}

namespace pipeline {

void log_info(const std::string& line) {
  if (!emit(LogLevel::Info, line)) fmt::print(stderr, "{}\n", line);
}

void log_warning(const std::string& line) {
  if (!emit(LogLevel::Warning, line)) spdlog::warn("{}", line);
}

}  // namespace pipeline
}  // namespace fp4gptq
