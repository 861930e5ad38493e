#pragma once
// The one exception type of fp4gptq. Its message always names the culprit (file, tensor or field) and what
// was expected; the CLI prints it and exits with status 2.
#include <stdexcept>
#include <string>

namespace fp4gptq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A run stopped through its cancellation hook (QuantizeConfig::cancelled); nothing it was writing is left.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled: the run was asked to stop; its partial output was removed") {}
};

}  // namespace fp4gptq
