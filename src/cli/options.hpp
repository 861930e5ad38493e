#pragma once
// Option helpers shared by the subcommands: enumerated flags checked by CLI11 against the API's one table
// of spellings, the output options of quantize and rtn.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "fp4gptq/fp4gptq.hpp"

namespace fp4gptq::cli {

// An option taking one of `allowed` float types, spelled as in dtype_names().
CLI::Option* add_dtype_option(CLI::App* cmd, const std::string& flag, DType& target,
                              std::initializer_list<DType> allowed, const std::string& help);

// --format and --activations (quantize, rtn, export); returns --format.
CLI::Option* add_format_options(CLI::App* cmd, Format& format, Activations& activations);

// --format, --activations, --dtype, --max-shard-size (its text in `shard`, parsed after parsing), --no-fuse-scales
// (into `no_fuse`), --block-scale-search, --scale2-max, --exclude and --quiet: what quantize and rtn share.
void add_output_options(CLI::App* cmd, QuantizeConfig& cfg, std::string& shard, bool& no_fuse);

// --tokenizer, --bos, --text-field: how text data is read (quantize, eval-ppl, eval, tokenize).
struct TextOptions {
  std::string tokenizer;  // empty: the model directory
  BosPolicy bos = BosPolicy::File;
  std::string text_field = "text";
};
void add_text_options(CLI::App* cmd, TextOptions& t);
Tokenizer load_tokenizer(const TextOptions& t, const std::string& model_dir);

// Before any work: refuses an output that check_output_dir refuses (an existing non-empty directory is named
// with the flag that replaces it), with `inputs` (model directory, calibration file) never touched; then
// sets where the run stages (beside the output, so the final rename stays on one filesystem) and its
// cancellation hook (SIGINT/SIGTERM, signals.hpp).
void prepare_output(QuantizeConfig& cfg, const std::filesystem::path& out_dir, bool overwrite,
                    const std::vector<std::filesystem::path>& inputs);

}  // namespace fp4gptq::cli
