#include <fmt/core.h>

#include "cli/commands.hpp"
#include "io/checkpoint_writer.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/progress.hpp"
#include "pipeline/rtn.hpp"

namespace fp4gptq::cli {

Subcommand add_rtn(CLI::App& app) {
  auto* cmd = app.add_subcommand("rtn", "Round-to-nearest NVFP4 of every planned Linear; writes the pseudo-quantized "
                                        "checkpoint (same layout as quantize)");
  auto o = std::make_shared<pipeline::RtnOptions>();
  auto model = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto dtype = std::make_shared<std::string>("float16"), shard = std::make_shared<std::string>();
  auto no_fuse = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Hugging Face model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--out", *out, "Output directory (written under a temporary name, renamed when complete)")->required();
  cmd->add_option("--dtype", *dtype, "dtype of the output tensors: float16 or bfloat16")->capture_default_str();
  cmd->add_option("--max-shard-size", *shard, "Split the main file into shards of at most this size (e.g. 5GB)");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing output directory");
  cmd->add_flag("--no-fuse-scales", *no_fuse, "Per-tensor scale_2 instead of one shared by q/k/v and by gate/up");
  cmd->add_option("--exclude", o->exclude, "Leave modules matching this regex unquantized (repeatable)");
  cmd->add_flag("--quiet", o->quiet, "No progress on stderr");
  return {cmd, [=] {
    o->model_dir = *model;
    o->out_dir = *out;
    o->dtype = pipeline::parse_output_dtype(*dtype);
    o->max_shard_bytes = shard->empty() ? 0 : io::parse_size(*shard);
    o->fuse_scales = !*no_fuse;
    const auto s = pipeline::run_rtn(*o);
    fmt::print("rtn: {} modules quantized ({} left unquantized), mean weight MSE {:.4g}, {}, peak RSS {:.0f} MiB -> {}\n",
               s.quantized_modules, s.skipped_modules, s.mean_weight_mse, pipeline::format_seconds(s.seconds),
               static_cast<double>(s.peak_rss) / (1 << 20), *out);
  }};
}

}  // namespace fp4gptq::cli
