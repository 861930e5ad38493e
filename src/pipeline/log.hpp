#pragma once
// The library's two message channels, routed through the sink of set_log_sink (include/fp4gptq/log.hpp):
// progress lines (stderr by default) and warnings (spdlog's default logger by default).
#include <string>

namespace fp4gptq::pipeline {

void log_info(const std::string& line);
void log_warning(const std::string& line);

}  // namespace fp4gptq::pipeline
