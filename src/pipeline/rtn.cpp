#include "pipeline/rtn.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>

#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "nvfp4/quantizer.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

nlohmann::ordered_json quantize_config(const RtnOptions& o) {
  return {{"bits", 4},
          {"group_size", 16},
          {"desc_act", false},
          {"static_groups", true},
          {"sym", true},
          {"damp_percent", 0.0},
          {"true_sequential", false},
          {"quant_method", "nvfp4"},
          {"algorithm", "rtn"},
          {"block_scales", "static"},
          {"fuse_scales", o.fuse_scales},
          {"model_file_base_name", io::kModelFileBase},
          {"pseudo_quantized", true}};
}

}  // namespace

RtnSummary run_rtn(const RtnOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  io::ModelDir src(o.model_dir);
  const auto plan = model::plan_model(src, model::ModuleFilter(o.exclude));

  io::CheckpointWriter out(o.out_dir, o.overwrite,
                           make_checkpoint_plan(src, plan, o.dtype, o.max_shard_bytes, /*with_input_amax=*/false));
  Progress progress("rtn", static_cast<int64_t>(plan.layers.size()), o.quiet);
  RtnSummary summary;
  nlohmann::ordered_json modules = nlohmann::ordered_json::object();
  nlohmann::ordered_json skipped = nlohmann::ordered_json::object();
  std::set<std::string> done;  // tensors already written
  const auto by_layer = tensors_by_layer(src, static_cast<int64_t>(plan.layers.size()));
  double mse_sum = 0;

  for (const auto& layer : plan.layers) {
    progress.layer_started(layer.index, layer.sparse ? "(MoE)" : "");
    // Fused global scales: the amax over the quantized modules that share one input (DESIGN §4).
    std::map<std::string, float> group_amax;
    if (o.fuse_scales)
      for (const auto& m : layer.linears)
        if (m.quantize) {
          float& a = group_amax[m.input_key];
          a = std::max(a, weight_amax(src, m));
        }
    for (const auto& m : layer.linears) {
      if (!m.quantize) {
        spdlog::warn("{} left unquantized: {}", m.module, m.skip_reason);
        skipped[m.module] = m.skip_reason;
        ++summary.skipped_modules;
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const auto w = model::read_weight(src, m);
      const float s2 = o.fuse_scales ? nvfp4::global_scale(group_amax.at(m.input_key))
                                     : nvfp4::global_scale(nvfp4::max_abs(w.data(), w.size()));
      const auto q = nvfp4::quantize_rtn(w.data(), m.out, m.in, s2, m.module);
      write_weight(out, m, q.dequant.data(), o.dtype);
      write_module_scales(out, m, q);
      done.insert(m.tensor);
      double se = 0, max_err = 0;
      for (size_t i = 0; i < w.size(); ++i) {
        const double d = static_cast<double>(w[i]) - q.dequant[i];
        se += d * d;
        max_err = std::max(max_err, std::abs(d));
      }
      const double mse = se / static_cast<double>(w.size());
      mse_sum += mse;
      ++summary.quantized_modules;
      modules[m.module] = {{"weight_mse", mse}, {"max_abs_err", max_err}, {"scale_2", q.scale_2},
                           {"time_s", seconds_since(t0)}};
    }
    // Everything else of the layer (norms, biases, router, unquantized Linears, extra tensors): cast as is.
    write_remaining(out, src, by_layer.layers[layer.index], done, o.dtype);
    progress.layer_done(layer.index, std::to_string(layer.linears.size()) + " Linears");
  }
  write_remaining(out, src, by_layer.others, done, o.dtype);

  out.write_json("config.json", output_config(src.config(), o.dtype));
  out.write_json("quantize_config.json", quantize_config(o));
  for (const auto& f : side_files(o.model_dir)) out.copy_file(f);
  summary.seconds = seconds_since(start);
  summary.peak_rss = peak_rss_bytes();
  summary.mean_weight_mse = summary.quantized_modules ? mse_sum / static_cast<double>(summary.quantized_modules) : 0;
  nlohmann::ordered_json report;
  report["method"] = "rtn";
  report["model"] = o.model_dir.string();
  report["summary"] = {{"quantized_modules", summary.quantized_modules},
                       {"skipped_modules", summary.skipped_modules},
                       {"mean_weight_mse", summary.mean_weight_mse},
                       {"seconds", summary.seconds},
                       {"peak_rss_bytes", summary.peak_rss}};
  report["modules"] = modules;
  report["skipped"] = skipped;
  out.write_json("quantization_report.json", report);
  out.commit();
  return summary;
}

}  // namespace fp4gptq::pipeline
