#include "cli/options.hpp"

#include <map>

#include "cli/signals.hpp"

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

CLI::Option* add_format_options(CLI::App* cmd, Format& format, Activations& activations) {
  cmd->add_option("--activations", activations,
                  "Packed formats: none (W4A16), or nvfp4 (W4A4: static input global scales from the calibration "
                  "input amax)")
      ->transform(CLI::CheckedTransformer(activations_names()))
      ->default_str("none");
  return cmd->add_option("--format", format,
                         "Checkpoint written: pseudo (NVFP4 weights dequantized to --dtype, plus the scales file), "
                         "compressed-tensors (llm-compressor's nvfp4-pack-quantized, for vLLM) or modelopt (TensorRT "
                         "Model Optimizer's NVFP4 export, for TensorRT-LLM and vLLM)")
      ->transform(CLI::CheckedTransformer(format_names()));
}

void add_output_options(CLI::App* cmd, QuantizeConfig& cfg, std::string& shard, bool& no_fuse) {
  add_format_options(cmd, cfg.format, cfg.activations)->default_str("pseudo");
  add_dtype_option(cmd, "--dtype", cfg.dtype, {DType::Float16, DType::BFloat16},
                   "dtype of the output tensors: float16 or bfloat16 (packed formats: what the quantized weights "
                   "are rounded to for calibration; unquantized tensors keep their own dtype unless --dtype is given)")
      ->each([&cfg](const std::string&) { cfg.keep_input_dtype = false; });
  cmd->add_option("--max-shard-size", shard, "Split the main file into shards of at most this size (e.g. 5GB)");
  cmd->add_option("--model-file-base-name", cfg.model_file_base_name,
                  "Base name of the checkpoint files (<base>.safetensors, <base>_scales.safetensors)")
      ->capture_default_str();
  cmd->add_flag("--no-fuse-scales", no_fuse, "Per-tensor scale_2 instead of one shared by q/k/v and by gate/up");
  cmd->add_option("--block-scale-search", cfg.block_scale_search,
                  "FP8 block scales: none (the amax rule, ModelOpt's) or mse (the code within 0.75-1.25x of it with "
                  "the smallest error: GPTQ's loss with the in-block error propagation, rtn's squared error)")
      ->transform(CLI::CheckedTransformer(block_scale_search_names()))
      ->default_str("none");
  cmd->add_option("--scale2-max", cfg.scale2_max,
                  "K of scale_2 = amax / (6 K), in [1, 448]: below 448 the block scales get headroom above the amax "
                  "rule (e.g. 256)")
      ->capture_default_str();
  cmd->add_option("--exclude", cfg.exclude, "Leave modules matching this regex unquantized (repeatable)");
  cmd->add_flag("--allow-nonfinite", cfg.allow_nonfinite,
                "Copy NaN/Inf values of tensors that are not quantized as they are (warned) instead of failing");
  cmd->add_flag("--quiet", cfg.quiet, "No progress on stderr");
}

void add_text_options(CLI::App* cmd, TextOptions& t) {
  cmd->add_option("--tokenizer", t.tokenizer,
                  "tokenizer.json (or a directory holding it) for text data (default: the model directory's)");
  cmd->add_option("--bos", t.bos,
                  "Special tokens of text: file (tokenizer.json's post-processor, as the tokenizers library), auto "
                  "(as transformers: Llama/Gemma classes follow tokenizer_config.json's add_bos_token), always, never")
      ->transform(CLI::CheckedTransformer(bos_policy_names()))
      ->default_str("file");
  cmd->add_option("--text-field", t.text_field, "The JSONL field holding each document's text")->capture_default_str();
}

Tokenizer load_tokenizer(const TextOptions& t, const std::string& model_dir) {
  return Tokenizer::from_pretrained(t.tokenizer.empty() ? model_dir : t.tokenizer, t.bos);
}

void prepare_output(QuantizeConfig& cfg, const std::filesystem::path& out_dir, bool overwrite,
                    const std::vector<std::filesystem::path>& inputs) {
  std::error_code ec;
  if (!overwrite && std::filesystem::is_directory(out_dir, ec) && !std::filesystem::is_empty(out_dir, ec))
    throw Error(out_dir.string() +
                ": output directory already exists and is not empty (pass --overwrite to replace it)");
  check_output_dir(out_dir, overwrite, inputs);
  cfg.staging_dir = staging_dir_for(out_dir);
  cfg.work_dir = cfg.staging_dir.parent_path();
  cfg.cancelled = stop_requested;
  install_stop_handlers();
}

}  // namespace fp4gptq::cli
