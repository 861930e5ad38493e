// eval-ppl (perplexity of one model) and eval (a model against its base: KL divergence, top-1 agreement and
// both perplexities), docs/DESIGN.md §8 and §8b.
#include <fmt/core.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/signals.hpp"

namespace fp4gptq::cli {

namespace {

// What both read: the data (token ids or text), the windows and how the forward runs.
struct EvalInputs {
  std::string data;
  TextOptions text;
  EvalConfig config;
  EvalConfig resolved() const {
    EvalConfig c = config;
    c.tokenizer = text.tokenizer;
    c.bos = text.bos;
    c.text_field = text.text_field;
    return c;
  }
};

CLI::Option* add_eval_inputs(CLI::App* cmd, EvalInputs& in) {
  auto* data = cmd->add_option("--data", in.data,
                               "Token-id JSONL (all lines' ids in file order), or text: JSONL with a text field per "
                               "line (the documents joined with \"\\n\\n\" and encoded once: GPTQ's wikitext-2 "
                               "protocol) or a .txt");
  add_text_options(cmd, in.text);
  cmd->add_option("--compute", in.config.compute, "Matmuls: bf16 (FP32 accumulation) or f32")
      ->transform(CLI::CheckedTransformer(compute_names()))
      ->default_str("bf16");
  cmd->add_option("--threads", in.config.threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--quiet", in.config.quiet, "No progress on stderr");
  return data;
}

}  // namespace

Subcommand add_eval_ppl(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval-ppl", "Perplexity of a model directory (original or quantized) on token data");
  auto model = std::make_shared<std::string>();
  auto in = std::make_shared<EvalInputs>();
  cmd->add_option("--model", *model, "Model directory")->required();
  add_eval_inputs(cmd, *in)->required();
  cmd->add_option("--seqlen", in->config.seqlen, "Window length: non-overlapping windows, the tail dropped")
      ->capture_default_str();
  return {cmd, [=] {
            const auto p = evaluate_perplexity(*model, in->data, in->resolved());
            fmt::print(stderr, "eval-ppl: {} windows of {} tokens, {} tokens scored, mean NLL {:.6f}\n", p.windows,
                       in->config.seqlen, p.scored_tokens, p.mean_nll);
            fmt::print("ppl {:.6f}\n", p.ppl);
          }};
}

Subcommand add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "A model against its base on token data: KL divergence of the next-token distributions, top-1 "
              "agreement and both perplexities (llama.cpp's --kl-divergence)");
  struct Paths {
    std::string model, base, base_logits, save;
    bool overwrite = false, json = false;
  };
  auto p = std::make_shared<Paths>();
  auto in = std::make_shared<EvalInputs>();
  in->config.seqlen = 0;
  cmd->add_option("--model", p->model, "The model judged (quantized: pseudo, compressed-tensors or modelopt)");
  auto* base = cmd->add_option("--base", p->base, "The original model directory");
  auto* logits = cmd->add_option("--base-logits", p->base_logits,
                                 "The base's distributions stored by --save-base-logits, instead of --base (then "
                                 "--data and --seqlen may be left out: the file holds its tokens)");
  base->excludes(logits);
  cmd->add_option("--save-base-logits", p->save,
                  "Store the base's distributions here (≈ 2 bytes per vocabulary entry and token, log-probabilities "
                  "within 3.1e-4 nats), for later runs with --base-logits")
      ->excludes(logits);
  cmd->add_flag("--overwrite", p->overwrite, "Replace an existing --save-base-logits file");
  add_eval_inputs(cmd, *in);
  cmd->add_option("--seqlen", in->config.seqlen,
                  "Window length: non-overlapping windows, the tail dropped (default 2048, or the base-logits "
                  "file's)");
  cmd->add_flag("--json", p->json, "Print the figures as one JSON object");
  return {cmd, [=] {
            CompareConfig c;
            c.eval = in->resolved();
            c.base_logits = p->base_logits;
            c.save_base_logits = p->save;
            c.overwrite = p->overwrite;
            install_stop_handlers();  // a stop removes a half-written --save-base-logits file
            c.eval.cancelled = stop_requested;
            const auto r = compare_models(p->model, p->base, in->data, c);
            const bool judged = !p->model.empty();
            if (p->json) {
              fmt::print("{}\n", to_json(r));
              return;
            }
            fmt::print("tokens scored    {} ({} windows)\n", r.tokens, r.base.windows);
            fmt::print("ppl base         {:.6f}\n", r.base.ppl);
            if (!judged) return;
            fmt::print("ppl model        {:.6f}   ratio {:.6f}\n", r.model.ppl, r.ppl_ratio);
            fmt::print("KLD mean         {:.6f} ± {:.6f} (95%)\n", r.kld_mean, r.kld_ci95);
            fmt::print("KLD median       {:.6f}   p99 {:.6f}   max {:.6f}\n", r.kld_median, r.kld_p99, r.kld_max);
            fmt::print("top-1 agreement  {:.4f}% ± {:.4f}%\n", 100 * r.top1, 100 * r.top1_ci95);
          }};
}

}  // namespace fp4gptq::cli
