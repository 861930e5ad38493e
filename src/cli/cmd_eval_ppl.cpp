#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"

namespace fp4gptq::cli {

Subcommand add_eval_ppl(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval-ppl", "Perplexity of a model directory (original or quantized) on token data");
  auto model = std::make_shared<std::string>(), data = std::make_shared<std::string>();
  auto c = std::make_shared<EvalConfig>();
  cmd->add_option("--model", *model, "Model directory")->required();
  cmd->add_option("--data", *data,
                  "Token-id JSONL (all lines' ids in file order), or text: JSONL with a text field per line (the "
                  "documents joined with \"\\n\\n\" and encoded once: GPTQ's wikitext-2 protocol) or a .txt")
      ->required();
  auto text = std::make_shared<TextOptions>();
  add_text_options(cmd, *text);
  cmd->add_option("--seqlen", c->seqlen, "Window length: non-overlapping windows, the tail dropped")
      ->capture_default_str();
  cmd->add_option("--compute", c->compute, "Matmuls: bf16 (FP32 accumulation) or f32")
      ->transform(CLI::CheckedTransformer(compute_names()))
      ->default_str("bf16");
  cmd->add_option("--threads", c->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--quiet", c->quiet, "No progress on stderr");
  return {cmd, [=] {
            EvalConfig cfg = *c;
            cfg.tokenizer = text->tokenizer;
            cfg.bos = text->bos;
            cfg.text_field = text->text_field;
            const auto p = evaluate_perplexity(*model, *data, cfg);
            fmt::print(stderr, "eval-ppl: {} windows of {} tokens, {} tokens scored, mean NLL {:.6f}\n", p.windows,
                       c->seqlen, p.scored_tokens, p.mean_nll);
            fmt::print("ppl {:.6f}\n", p.ppl);
          }};
}

}  // namespace fp4gptq::cli
