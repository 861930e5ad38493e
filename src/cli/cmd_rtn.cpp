#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace fp4gptq::cli {

Subcommand add_rtn(CLI::App& app) {
  auto* cmd = app.add_subcommand("rtn",
                                 "Round-to-nearest NVFP4 of every planned Linear; writes the pseudo-quantized "
                                 "checkpoint (same layout as quantize)");
  auto c = std::make_shared<QuantizeConfig>();
  auto model = std::make_shared<std::string>(), out = std::make_shared<std::string>(),
       shard = std::make_shared<std::string>();
  auto no_fuse = std::make_shared<bool>(false), overwrite = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Hugging Face model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--out", *out, "Output directory (written under a temporary name, renamed when complete)")
      ->required();
  add_output_options(cmd, *c, *shard, *no_fuse);
  cmd->add_flag("--overwrite", *overwrite,
                "Replace an existing output directory that fp4gptq wrote (never the input, nor a directory without "
                "the .fp4gptq-output marker)");
  return {cmd, [=] {
            const std::filesystem::path out_dir(*out);
            QuantizeConfig cfg = *c;
            prepare_output(cfg, out_dir, *overwrite, {*model});
            cfg.algorithm = Algorithm::RTN;
            cfg.max_shard_bytes = shard->empty() ? 0 : parse_size(*shard, "--max-shard-size");
            cfg.fuse_scales = !*no_fuse;
            auto lm = CausalLM::from_pretrained(*model, cfg);
            const auto r = lm.quantize();
            lm.save_quantized(out_dir, *overwrite);
            fmt::print(
                "rtn: {} modules quantized ({} left unquantized), mean weight MSE {:.4g}, {:.1f}s, peak RSS {:.0f} MiB "
                "-> {}\n",
                r.modules, r.skipped, r.mean_weight_mse, r.seconds, static_cast<double>(r.peak_rss_bytes) / (1 << 20),
                *out);
          }};
}

}  // namespace fp4gptq::cli
