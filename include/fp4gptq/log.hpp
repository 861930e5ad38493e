#pragma once
// Where fp4gptq's messages go: progress lines ("[quantize] layer 3/28 ...", Info) and warnings (a module left
// unquantized, an expert fallen back to RTN, ...). By default progress goes to stderr and warnings to spdlog's
// default logger; a program may send both elsewhere (the Python bindings send them to `logging`).
#include <functional>
#include <string>

namespace fp4gptq {

enum class LogLevel { Info, Warning };
using LogSink = std::function<void(LogLevel, const std::string&)>;

// Process-wide; called from any of a run's threads, one message at a time. An empty sink restores the default.
void set_log_sink(LogSink sink);

}  // namespace fp4gptq
