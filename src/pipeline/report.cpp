#include "pipeline/report.hpp"

namespace fp4gptq::pipeline {

void Report::add_module(const std::string& module, const nlohmann::ordered_json& stats, bool fallback) {
  rows_[module] = stats;
  ++modules_;
  fallbacks_ += fallback;
}

void Report::add_skipped(const std::string& module, const std::string& reason) {
  skipped_[module] = reason;
  ++skipped_count_;
}

double Report::mean(const std::string& stat) const {
  if (modules_ == 0) return 0;
  double sum = 0;
  for (const auto& [name, row] : rows_.items()) sum += row.at(stat).get<double>();
  return sum / static_cast<double>(modules_);
}

nlohmann::ordered_json time_split_json(const TimeSplit& s) {
  return {{"forward", s.forward_s}, {"hessian", s.hessian_s}, {"solve", s.solve_s}, {"io", s.io_s}, {"comm", s.comm_s}};
}

nlohmann::ordered_json Report::json(const std::string& model_dir, const RunTotals& t) const {
  const bool calibrated = method_.calibrated();
  nlohmann::ordered_json summary;
  summary["quantized_modules"] = modules_;
  if (calibrated) summary["fallbacks"] = fallbacks_;
  summary["skipped_modules"] = skipped_count_;
  for (const auto& stat : method_.summary_means()) summary["mean_" + stat] = mean(stat);
  summary["seconds"] = t.seconds;
  summary["peak_rss_bytes"] = t.peak_rss;
  if (calibrated) {
    const auto& s = t.split;
    summary["time_split_s"] = time_split_json(s);
    summary["flops"] = {{"forward", s.forward_flops}, {"hessian", s.hessian_flops}, {"solve", s.solve_flops}};
  }
  nlohmann::ordered_json report;
  report["method"] = method_.name();
  report["model"] = model_dir;
  if (calibrated) {
    report["calibration"] = {{"samples", t.samples}, {"tokens", t.tokens}};
    for (const auto& [k, v] : t.calibration_provenance.items()) report["calibration"][k] = v;
  }
  report["summary"] = summary;
  report["modules"] = rows_;
  report["skipped"] = skipped_;
  return report;
}

nlohmann::ordered_json Report::state() const {
  return {{"modules", rows_},
          {"skipped", skipped_},
          {"counts", {{"modules", modules_}, {"fallbacks", fallbacks_}, {"skipped", skipped_count_}}}};
}

void Report::restore(const nlohmann::ordered_json& state) {
  rows_ = state.at("modules");
  skipped_ = state.at("skipped");
  const auto& c = state.at("counts");
  modules_ = c.at("modules").get<int64_t>();
  fallbacks_ = c.at("fallbacks").get<int64_t>();
  skipped_count_ = c.at("skipped").get<int64_t>();
}

}  // namespace fp4gptq::pipeline
