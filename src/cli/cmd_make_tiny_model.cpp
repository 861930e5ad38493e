#include <fmt/core.h>
#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "cli/commands.hpp"
#include "fp4gptq/fp4gptq.hpp"
#include "model/config.hpp"
#include "tools/tiny_model.hpp"

namespace fp4gptq::cli {

Subcommand add_make_tiny_model(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-tiny-model",
                                 "Write a Hugging Face model directory with seeded random weights, plus a "
                                 "calibration JSONL of random token ids");
  auto o = std::make_shared<tools::TinyModelOptions>();
  auto out = std::make_shared<std::string>();
  auto calib = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "Output model directory")->required();
  cmd->add_option("--arch", o->arch,
                  "Architecture: " + fmt::format("{}", fmt::join(model::supported_architectures(), ", ")))
      ->capture_default_str();
  cmd->add_option("--layers", o->layers, "Decoder layers")->capture_default_str();
  cmd->add_option("--hidden", o->hidden, "hidden_size")->capture_default_str();
  cmd->add_option("--intermediate", o->intermediate, "intermediate_size (dense MLP)")->capture_default_str();
  cmd->add_option("--heads", o->heads, "num_attention_heads")->capture_default_str();
  cmd->add_option("--kv-heads", o->kv_heads, "num_key_value_heads")->capture_default_str();
  cmd->add_option("--head-dim", o->head_dim, "head_dim")->capture_default_str();
  auto* vocab = cmd->add_option("--vocab", o->vocab, "vocab_size")->capture_default_str();
  auto tokenizer = std::make_shared<std::string>();
  cmd->add_option("--tokenizer", *tokenizer,
                  "A tokenizer.json to put in the model directory (with the tokenizer_config.json beside it, if any), "
                  "so text calibration works; vocab_size becomes its vocabulary rounded up to a multiple of 64 "
                  "unless --vocab is given");
  cmd->add_option("--experts", o->experts, "num_experts (MoE)")->capture_default_str();
  cmd->add_option("--experts-per-tok", o->experts_per_tok, "num_experts_per_tok (MoE)")->capture_default_str();
  cmd->add_option("--moe-intermediate", o->moe_intermediate, "moe_intermediate_size (MoE)")->capture_default_str();
  cmd->add_option("--decoder-sparse-step", o->decoder_sparse_step, "decoder_sparse_step (MoE)")->capture_default_str();
  cmd->add_option("--mlp-only-layers", o->mlp_only_layers, "Dense layers of a MoE model")->delimiter(',');
  cmd->add_flag("--fused-experts", o->fused_experts,
                "MoE experts as fused 3D tensors (mlp.experts.gate_up_proj [E, 2*I, H], mlp.experts.down_proj "
                "[E, H, I]) with the same values as the per-expert layout");
  cmd->add_option("--dtype", o->dtype, "Weight dtype: bfloat16 or float16")->capture_default_str();
  cmd->add_flag("--tie-embeddings", o->tie_embeddings, "tie_word_embeddings (no lm_head.weight)");
  cmd->add_flag("--attention-bias", o->attention_bias, "attention_bias (Llama/Qwen3)");
  cmd->add_option("--shards", o->shards, "Number of safetensors shards (with model.safetensors.index.json)")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  cmd->add_option("--calib-samples", o->calib_samples, "Calibration samples (lines)")->capture_default_str();
  cmd->add_option("--calib-seqlen", o->calib_seqlen, "Tokens per calibration sample")->capture_default_str();
  cmd->add_option("--calib", *calib, "Calibration JSONL path (default: <out>/calibration.jsonl)");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing output directory");
  return {cmd, [=] {
            o->calib_path = *calib;
            std::optional<Tokenizer> tok;
            if (!tokenizer->empty()) {
              tok = Tokenizer::from_pretrained(*tokenizer);  // a bad file fails before anything is written
              if (vocab->count() == 0) o->vocab = (tok->vocab_size() + 63) / 64 * 64;
              if (o->vocab < tok->vocab_size())
                throw Error("--vocab " + std::to_string(o->vocab) + " is smaller than " + *tokenizer + "'s vocabulary (" +
                            std::to_string(tok->vocab_size()) + ")");
              const std::filesystem::path src(*tokenizer);
              o->tokenizer_file = std::filesystem::is_directory(src) ? src / "tokenizer.json" : src;
            }
            tools::make_tiny_model(*out, *o);
            fmt::print("wrote {} ({} {} layers, hidden {}) and calibration {}\n", *out, o->arch, o->layers, o->hidden,
                       calib->empty() ? *out + "/calibration.jsonl" : *calib);
          }};
}

}  // namespace fp4gptq::cli
