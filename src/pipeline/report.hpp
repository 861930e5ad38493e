#pragma once
// quantization_report.json (docs/DESIGN.md §7): one row per quantized module in the order the loop reports them (the
// method's stats), the modules left unquantized with the reason, and a summary; calibrated runs add the
// calibration size, the time split and the FLOPs.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "pipeline/method.hpp"
#include "pipeline/timing.hpp"

namespace fp4gptq::pipeline {

// A time split's seconds as the report writes them: {forward, hessian, solve, io, comm}.
nlohmann::ordered_json time_split_json(const TimeSplit& s);

struct RunTotals {
  int64_t samples = 0, tokens = 0;  // calibration
  nlohmann::ordered_json calibration_provenance = nlohmann::ordered_json::object();
  double seconds = 0;
  uint64_t peak_rss = 0;
  TimeSplit split;
};

class Report {
 public:
  explicit Report(const Method& method) : method_(method) {}
  void add_module(const std::string& module, const nlohmann::ordered_json& stats, bool fallback);
  void add_skipped(const std::string& module, const std::string& reason);

  int64_t modules() const { return modules_; }
  int64_t fallbacks() const { return fallbacks_; }
  int64_t skipped() const { return skipped_count_; }
  double mean(const std::string& stat) const;  // over the quantized modules, in report order

  nlohmann::ordered_json json(const std::string& model_dir, const RunTotals& totals) const;
  // Everything added so far, and back (a resumed run continues the report of the run it resumes).
  nlohmann::ordered_json state() const;
  void restore(const nlohmann::ordered_json& state);

 private:
  const Method& method_;
  int64_t modules_ = 0, fallbacks_ = 0, skipped_count_ = 0;
  nlohmann::ordered_json rows_ = nlohmann::ordered_json::object(), skipped_ = nlohmann::ordered_json::object();
};

}  // namespace fp4gptq::pipeline
