#pragma once
// The subcommands of the fp4gptq CLI: each registers its options on the app and returns itself with the
// function that runs it after parsing.
#include <CLI/CLI.hpp>
#include <functional>

namespace fp4gptq::cli {

struct Subcommand {
  CLI::App* app;              // the parsed subcommand
  std::function<void()> run;  // runs it with the parsed options
};

Subcommand add_make_tiny_model(CLI::App& app);
Subcommand add_inspect(CLI::App& app);
Subcommand add_rtn(CLI::App& app);
Subcommand add_quantize(CLI::App& app);
Subcommand add_eval_ppl(CLI::App& app);
Subcommand add_eval(CLI::App& app);
Subcommand add_tokenize(CLI::App& app);
Subcommand add_export(CLI::App& app);

}  // namespace fp4gptq::cli
