#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"

namespace fp4gptq::cli {

Subcommand add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export",
                                 "Convert a pseudo-quantized checkpoint into a packed NVFP4 one (compressed-tensors or "
                                 "modelopt) without re-quantizing: the codes are recovered from its weights and scales");
  auto c = std::make_shared<ExportConfig>();
  auto from = std::make_shared<std::string>(), out = std::make_shared<std::string>(),
       shard = std::make_shared<std::string>();
  auto dtype = std::make_shared<DType>(DType::Float16);
  cmd->add_option("--from", *from, "Pseudo-quantized directory (written by quantize or rtn)")->required();
  cmd->add_option("--out", *out, "Output directory (built under a temporary name, renamed when complete)")->required();
  add_format_options(cmd, c->format, c->activations)->required();
  cmd->add_option("--model", c->model_dir,
                  "The original model directory: unquantized tensors are copied from it in their own dtype (default: "
                  "from --from, as they are there)");
  auto* dtype_opt = add_dtype_option(cmd, "--dtype", *dtype, {DType::Float16, DType::BFloat16},
                                     "Cast the unquantized tensors to float16 or bfloat16 (default: keep their dtype)");
  cmd->add_option("--max-shard-size", *shard, "Split the output into shards of at most this size (e.g. 5GB)");
  cmd->add_flag("--overwrite", c->overwrite,
                "Replace an existing output directory that fp4gptq wrote (never an input, nor a directory without the "
                ".fp4gptq-output marker)");
  cmd->add_flag("--quiet", c->quiet, "No progress on stderr");
  return {cmd, [=] {
            ExportConfig cfg = *c;
            if (cfg.format == Format::Pseudo)
              throw Error("--format pseudo: export writes a packed format (compressed-tensors or modelopt)");
            if (dtype_opt->count()) cfg.dtype = *dtype;
            cfg.max_shard_bytes = shard->empty() ? 0 : parse_size(*shard, "--max-shard-size");
            cfg.cancelled = stop_requested;
            install_stop_handlers();
            const auto r = export_checkpoint(*from, *out, cfg);
            fmt::print("export: {} modules, {:.1f} MB read -> {:.1f} MB written in {:.2f}s -> {}\n", r.modules,
                       static_cast<double>(r.input_bytes) / 1e6, static_cast<double>(r.output_bytes) / 1e6, r.seconds,
                       *out);
          }};
}

}  // namespace fp4gptq::cli
