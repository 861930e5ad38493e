#include <fmt/core.h>

#include "calib/calibration.hpp"
#include "cli/commands.hpp"
#include "linalg/blas.hpp"
#include "model/config.hpp"
#include "pipeline/eval_ppl.hpp"

namespace fp4gptq::cli {

Subcommand add_eval_ppl(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval-ppl", "Perplexity of a model directory (original or quantized) on token data");
  auto model = std::make_shared<std::string>(), data = std::make_shared<std::string>();
  auto compute = std::make_shared<std::string>("bf16");
  auto seqlen = std::make_shared<int64_t>(2048);
  auto threads = std::make_shared<int>(0);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "Model directory")->required();
  cmd->add_option("--data", *data, "Token-id JSONL; all lines' ids concatenated in file order")->required();
  cmd->add_option("--seqlen", *seqlen, "Window length: non-overlapping windows, the tail dropped")->capture_default_str();
  cmd->add_option("--compute", *compute, "Matmuls: bf16 (oneDNN) or f32 (OpenBLAS)")
      ->check(CLI::IsMember({"bf16", "f32"}))
      ->capture_default_str();
  cmd->add_option("--threads", *threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--quiet", *quiet, "No progress on stderr");
  return {cmd, [=] {
            linalg::set_num_threads(*threads);
            const io::ModelDir dir(*model);
            const auto cfg = model::ModelConfig::parse(dir.config(), dir.config_path().string());
            std::vector<int32_t> stream;
            for (const auto& s : calib::read_token_jsonl(*data, cfg.vocab_size).samples)
              stream.insert(stream.end(), s.begin(), s.end());
            const bool f32 = *compute == "f32";
            const auto p = pipeline::eval_perplexity(dir, stream, *seqlen, f32 ? model::Compute::F32 : model::Compute::BF16,
                                                     f32 ? numeric::DType::F32 : numeric::DType::BF16, *quiet);
            fmt::print(stderr, "eval-ppl: {} windows of {} tokens, {} tokens scored, mean NLL {:.6f}\n", p.windows,
                       *seqlen, p.scored_tokens, p.mean_nll);
            fmt::print("ppl {:.6f}\n", p.ppl);
          }};
}

}  // namespace fp4gptq::cli
