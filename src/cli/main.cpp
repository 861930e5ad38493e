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
#include "fp4gptq/fp4gptq.hpp"
#ifdef FP4GPTQ_WITH_MPI
#include "dist/mpi_communicator.hpp"
#endif

namespace {

// Under several MPI ranks a failure on one rank ends the whole job (the others would wait in a collective
// for ever): the rank says what failed and MPI_Abort stops every rank with the same status.
int fail(int status, const std::string& message) {
  const auto r = fp4gptq::process_rank();
  if (r.size == 1) {
    fmt::print(stderr, "{}\n", message);
    return status;
  }
  fmt::print(stderr, "rank {} of {}: {}\n", r.rank, r.size, message);
  std::fflush(stderr);
  fp4gptq::abort_job(status);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef FP4GPTQ_WITH_MPI
  const fp4gptq::dist::MpiSession mpi(argc, argv);
#endif
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
  const auto ranks = fp4gptq::process_rank();
  if (ranks.rank > 0) logger->set_level(spdlog::level::err);  // the root speaks for the job
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = (ranks.rank == 0 ? app.exit(e) : e.get_exit_code()) == 0 ? 0 : 2;
    return status == 0 || ranks.size == 1 ? status : fail(status, "error: bad command line");
  }
  if (ranks.size > 1 && !commands.front().app->parsed())
    return fail(2, "error: only `quantize` runs on several MPI ranks (this job has " + std::to_string(ranks.size) +
                       "); run the other commands as one process");
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) c.run();
  } catch (const fp4gptq::Cancelled& e) {
    const int sig = fp4gptq::cli::stop_signal();
    return fail(128 + (sig ? sig : SIGTERM),  // the shell's status for a death by that signal
                fmt::format("stopped by {}: {}", sig == SIGINT ? "SIGINT" : "SIGTERM", e.what()));
  } catch (const std::exception& e) {
    return fail(2, fmt::format("error: {}", e.what()));
  }
  return 0;
}
