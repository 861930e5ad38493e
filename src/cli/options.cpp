#include "cli/options.hpp"

#include <map>

namespace fp4gptq::cli {

CLI::Option* add_dtype_option(CLI::App* cmd, const std::string& flag, DType& target,
                              std::initializer_list<DType> allowed, const std::string& help) {
  std::map<std::string, DType> names;
  std::string default_name;
  for (const auto& [name, t] : dtype_names())
    for (const auto a : allowed)
      if (t == a) {
        names.emplace(name, t);
        if (t == target && (default_name.empty() || name.size() > default_name.size())) default_name = name;
      }
  return cmd->add_option(flag, target, help)->transform(CLI::CheckedTransformer(names))->default_str(default_name);
}

void add_output_options(CLI::App* cmd, QuantizeConfig& cfg, std::string& shard, bool& no_fuse) {
  add_dtype_option(cmd, "--dtype", cfg.dtype, {DType::Float16, DType::BFloat16},
                   "dtype of the output tensors: float16 or bfloat16");
  cmd->add_option("--max-shard-size", shard, "Split the main file into shards of at most this size (e.g. 5GB)");
  cmd->add_flag("--no-fuse-scales", no_fuse, "Per-tensor scale_2 instead of one shared by q/k/v and by gate/up");
  cmd->add_option("--exclude", cfg.exclude, "Leave modules matching this regex unquantized (repeatable)");
  cmd->add_flag("--quiet", cfg.quiet, "No progress on stderr");
}

void check_output(const std::filesystem::path& out_dir, bool overwrite) {
  std::error_code ec;
  if (!overwrite && std::filesystem::is_directory(out_dir, ec) && !std::filesystem::is_empty(out_dir, ec))
    throw Error(out_dir.string() +
                ": output directory already exists and is not empty (pass --overwrite to replace it)");
  check_output_dir(out_dir, overwrite);
}

std::filesystem::path work_dir_for(const std::filesystem::path& out_dir) {
  return std::filesystem::absolute(out_dir).parent_path();
}

}  // namespace fp4gptq::cli
