#pragma once
// SIGINT/SIGTERM for the CLI: the first one sets a flag that the run polls through its cancellation hook
// (QuantizeConfig::cancelled), so it stops within seconds and removes its staging directory; a second one
// kills at once (the default action is restored), and the next run to that output cleans up.
namespace fp4gptq::cli {

void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal received, 0 if none

}  // namespace fp4gptq::cli
