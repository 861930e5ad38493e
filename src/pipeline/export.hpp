#pragma once
// Export of a pseudo-quantized directory (docs/DESIGN.md §7) into a packed NVFP4 one (§7b) without re-quantizing:
// per quantized module, the codes recovered from the stored weight with its block scales and scale_2 (the
// scales file), then the packed writer of packed_output.hpp, layer by layer, as a quantize run writes it.
#include <cstdint>
#include <filesystem>
#include <functional>

#include "pipeline/packed_output.hpp"

namespace fp4gptq::pipeline {

struct ExportOptions {
  std::filesystem::path from, out_dir;
  std::filesystem::path model_dir;  // the original model, for the unquantized tensors (empty: from `from`)
  PackedOptions packed;             // stored_dtype is read from the pseudo checkpoint
  uint64_t max_shard_bytes = 0;
  bool overwrite = false, quiet = false;
  std::function<bool()> cancelled;
};

struct ExportSummary {
  int64_t modules = 0;
  uint64_t input_bytes = 0, output_bytes = 0;  // weights + scales read; safetensors written
  double seconds = 0;
};

// Writes options.out_dir (staged, renamed when complete; nothing is left on an error). Errors name the file or
// tensor: a missing or damaged scales file, a weight off the NVFP4 grid, a tensor of the original model missing
// or of another shape.
ExportSummary export_packed(const ExportOptions& options);

}  // namespace fp4gptq::pipeline
