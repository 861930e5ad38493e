#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace fp4gptq::cli {

// Long: one statement per option of `quantize`.
Subcommand add_quantize(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize",
                                 "GPTQ-quantize every planned Linear to NVFP4 with calibration data and "
                                 "write the pseudo-quantized checkpoint");
  auto c = std::make_shared<QuantizeConfig>();
  auto model = std::make_shared<std::string>(), calib = std::make_shared<std::string>(),
       out = std::make_shared<std::string>(), block_scales = std::make_shared<std::string>("dynamic"),
       shard = std::make_shared<std::string>(), act_memory = std::make_shared<std::string>();
  auto nsamples = std::make_shared<int64_t>(128), seqlen = std::make_shared<int64_t>(2048);
  auto seed = std::make_shared<int64_t>(-1);
  auto mode = std::make_shared<CalibMode>(CalibMode::Auto);
  auto text = std::make_shared<TextOptions>();
  auto no_true_seq = std::make_shared<bool>(false), no_fuse = std::make_shared<bool>(false),
       overwrite = std::make_shared<bool>(false), resume = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Hugging Face model directory (config.json + *.safetensors)")->required();
  cmd->add_option("--calib", *calib,
                  "Calibration data: token-id JSONL ({\"input_ids\": [...], \"attention_mask\": [...]?} per line), "
                  "text JSONL ({\"text\": ...} per line) or plain UTF-8 text (.txt), encoded with the model's "
                  "tokenizer.json")
      ->required();
  cmd->add_option("--out", *out, "Output directory (built under a temporary name, renamed when complete)")->required();
  cmd->add_option("--nsamples", *nsamples, "Calibration samples: the first N lines / documents (all: 0), or N windows")
      ->capture_default_str();
  cmd->add_option("--seqlen", *seqlen,
                  "Truncate each sample to its first L tokens (0: no truncation); the window length in windows mode")
      ->capture_default_str();
  cmd->add_option("--seed", *seed,
                  "Pick --nsamples lines / documents at random with this seed instead of the first ones; the windows' "
                  "seed in windows mode (default 0)");
  cmd->add_option("--calib-mode", *mode,
                  "Text calibration: documents (AutoGPTQ: each document a sample, truncated to --seqlen), windows "
                  "(GPTQ's C4/wikitext loaders: random --seqlen-token windows of documents longer than that, or of "
                  "the whole .txt), auto (documents for JSONL, windows for .txt)")
      ->transform(CLI::CheckedTransformer(calib_mode_names()))
      ->default_str("auto");
  add_text_options(cmd, *text);
  cmd->add_option("--damp", c->damp_percent,
                  "Damping: damp · mean(diag H) added to the diagonal (retried +0.01 up to 1.0)")
      ->capture_default_str();
  cmd->add_option("--block-size", c->block_size, "GPTQ lazy-batch width in columns (a multiple of 16)")
      ->capture_default_str();
  cmd->add_option("--block-scales", *block_scales,
                  "dynamic: a block's FP8 scale from its error-updated weights when GPTQ reaches it; static: all from "
                  "the original weights first")
      ->check(CLI::IsMember({"dynamic", "static"}))
      ->capture_default_str();
  cmd->add_flag("--desc-act", c->desc_act, "Act-order: columns by descending diag(H) (implies static block scales)");
  cmd->add_flag("--no-true-sequential", *no_true_seq,
                "Take every group's inputs from the unquantized layer (default: [q,k,v] -> [o] -> [gate,up] -> [down], "
                "each from the layer with the earlier groups quantized)");
  cmd->add_option("--moe-min-tokens", c->moe_min_tokens,
                  "MoE: an expert routed fewer calibration tokens falls back to round-to-nearest (flagged in the "
                  "report); -1: 10% of an expert's expected share, tokens x top-k / experts")
      ->capture_default_str();
  cmd->add_option("--shard-tokens", c->shard_tokens,
                  "Calibration tokens per shard (whole samples): the unit of the split over MPI ranks and of the "
                  "Hessians' exact partial sums; the output depends on it, not on the rank count")
      ->capture_default_str();
  cmd->add_flag("--moe-calibrate-all", c->moe_calibrate_all,
                "MoE: accumulate every token into every expert's Hessians (outputs still use the real routing)");
  cmd->add_option("--max-act-memory", *act_memory,
                  "Keep at most this much calibration activation in RAM (e.g. 8G); the rest goes to files under "
                  "--offload-dir (unlinked, nothing is left behind)");
  cmd->add_option("--offload-dir", c->offload_dir,
                  "Directory for offloaded activations (default: the system temp dir)");
  add_dtype_option(cmd, "--act-dtype", c->act_dtype, {DType::BFloat16, DType::Float32},
                   "Calibration activations kept as bfloat16 or float32");
  cmd->add_option("--compute", c->compute, "Matmuls: bf16 (FP32 accumulation) or f32")
      ->transform(CLI::CheckedTransformer(compute_names()))
      ->default_str("bf16");
  add_dtype_option(cmd, "--hessian-dtype", c->hessian_dtype, {DType::Float32, DType::Float64},
                   "Hessian accumulation: f32 or f64");
  add_output_options(cmd, *c, *shard, *no_fuse);
  cmd->add_flag("--overwrite", *overwrite,
                "Replace an existing output directory that fp4gptq wrote (never an input, nor a directory without "
                "the .fp4gptq-output marker)");
  cmd->add_option("--checkpoint-every", c->checkpoint_every,
                  "A resume point after every N-th decoder layer (each writes one layer's activations to disk); 0: "
                  "none")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--resume", *resume,
                "Continue a killed run to the same --out at its last finished decoder layer (refused if options or "
                "inputs changed); without it, a killed run's leftovers are removed");
  cmd->add_option("--threads", c->threads, "Threads (0: all cores); results are identical for the same count")
      ->capture_default_str();
  return {cmd, [=] {
            const std::filesystem::path out_dir(*out);
            QuantizeConfig cfg = *c;
            prepare_output(cfg, out_dir, *overwrite, {*model, *calib});  // fail before the long work
            cfg.resume = *resume;
            cfg.max_shard_bytes = shard->empty() ? 0 : parse_size(*shard, "--max-shard-size");
            cfg.max_act_bytes = act_memory->empty() ? 0 : parse_size(*act_memory, "--max-act-memory");
            cfg.static_groups = *block_scales == "static";
            cfg.true_sequential = !*no_true_seq;
            cfg.fuse_scales = !*no_fuse;
            const auto seed_opt = *seed >= 0 ? std::optional<uint64_t>(*seed) : std::nullopt;
            if (*mode == CalibMode::Windows && calibration_format(*calib, text->text_field) == "token-ids")
              throw Error(*calib + ": --calib-mode windows needs text; this file holds token ids");
            auto lm = CausalLM::from_pretrained(*model, cfg);
            CalibrationSummary summary;
            const auto examples =
                load_calibration(*calib, text->tokenizer.empty() ? *model : text->tokenizer, text->bos,
                                 {*nsamples, *seqlen, *mode, seed_opt, text->text_field, lm.vocab_size()}, &summary);
            const bool root = process_rank().rank == 0;  // under mpirun the root reports for the job
            if (!cfg.quiet && root) fmt::print(stderr, "calibration: {}\n", summary.describe());
            const auto r = lm.quantize(examples, &summary);
            lm.save_quantized(out_dir, *overwrite);
            if (root)
              fmt::print(
                "quantize: {} modules ({} fallbacks, {} left unquantized) on {} samples / {} tokens; mean "
                "rel_err {:.5f} vs RTN {:.5f}; {:.1f}s, peak RSS {:.0f} MiB -> {}\n",
                r.modules, r.fallbacks, r.skipped, r.samples, r.tokens, r.mean_rel_err, r.mean_rtn_rel_err, r.seconds,
                static_cast<double>(r.peak_rss_bytes) / (1 << 20), *out);
          }};
}

}  // namespace fp4gptq::cli
