#pragma once
// Progress on stderr (or the log sink, pipeline/log.hpp): "layer k/N", what is being done, elapsed time and ETA. Silent with --quiet.
#include <chrono>
#include <string>

namespace fp4gptq::pipeline {

class Progress {
 public:
  Progress(std::string task, int64_t total_layers, bool quiet);
  void layer_started(int64_t layer, const std::string& what) const;
  void layer_done(int64_t layer, const std::string& what);  // ETA from the mean time per finished layer
  void note(const std::string& what) const;
  double elapsed() const;

 private:
  std::string task_;
  int64_t total_;
  bool quiet_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_;
};

std::string format_seconds(double s);  // "42.1s", "3m07s", "1h02m"
uint64_t peak_rss_bytes();             // VmHWM of this process, 0 if unknown

}  // namespace fp4gptq::pipeline
