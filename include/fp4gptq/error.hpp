#pragma once
// The one exception type of fp4gptq. Its message always names the culprit (file, tensor or field) and what
// was expected; the CLI prints it and exits with status 2. Its kind says what went wrong without reading the
// message (the Python bindings map it to ValueError, FileNotFoundError or RuntimeError).
#include <stdexcept>
#include <string>

namespace fp4gptq {

enum class ErrorKind {
  InvalidInput,  // a file, tensor, field or option holds something other than what was expected
  MissingFile,   // a file or directory that should exist does not
  Internal,      // not the input's fault: a write or system call failed (disk full, permissions of the output)
  Cancelled,     // the run was asked to stop (class Cancelled)
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, ErrorKind kind = ErrorKind::InvalidInput)
      : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// A run stopped through its cancellation hook (QuantizeConfig::cancelled); nothing it was writing is left.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled: the run was asked to stop; its partial output was removed", ErrorKind::Cancelled) {}
};

}  // namespace fp4gptq
