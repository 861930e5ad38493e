// fp4gptq: NVFP4 quantization of Hugging Face LLMs with GPTQ. Errors print one line naming the culprit and
// exit with status 2; SIGINT/SIGTERM stop a run cleanly with status 130/143.
#include <fmt/core.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <vector>

#include "cli/commands.hpp"
#include "cli/signals.hpp"
#include "fp4gptq/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"fp4gptq: NVFP4 quantization of Hugging Face LLMs (GPTQ and round-to-nearest)"};
  app.require_subcommand(1);
  auto logger = spdlog::stderr_color_mt("fp4gptq");
  logger->set_pattern("[%l] %v");
  spdlog::set_default_logger(logger);

  const std::vector<fp4gptq::cli::Subcommand> commands = {
      fp4gptq::cli::add_quantize(app), fp4gptq::cli::add_rtn(app), fp4gptq::cli::add_eval_ppl(app),
      fp4gptq::cli::add_eval(app),
      fp4gptq::cli::add_tokenize(app), fp4gptq::cli::add_export(app),  fp4gptq::cli::add_inspect(app),
      fp4gptq::cli::add_make_tiny_model(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is not an error; every bad flag or value is status 2
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) c.run();
  } catch (const fp4gptq::Cancelled& e) {
    const int sig = fp4gptq::cli::stop_signal();
    fmt::print(stderr, "stopped by {}: {}\n", sig == SIGINT ? "SIGINT" : "SIGTERM", e.what());
    return 128 + (sig ? sig : SIGTERM);  // the shell's status for a death by that signal
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  return 0;
}
