#pragma once
// The ErrorKind of a failure to open a file for reading: MissingFile when nothing is there, InvalidInput when
// something is there but cannot be read (a directory, no permission).
#include <filesystem>

#include "fp4gptq/error.hpp"

namespace fp4gptq::io {

inline ErrorKind open_error_kind(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? ErrorKind::InvalidInput : ErrorKind::MissingFile;
}

}  // namespace fp4gptq::io
