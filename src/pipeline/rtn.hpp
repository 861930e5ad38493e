#pragma once
// `fp4gptq rtn`: round-to-nearest NVFP4 of every planned Linear, written as the pseudo-quantized checkpoint
// of DESIGN §7, streaming one decoder layer at a time.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "numeric/dtype.hpp"

namespace fp4gptq::pipeline {

struct RtnOptions {
  std::filesystem::path model_dir, out_dir;
  numeric::DType dtype = numeric::DType::F16;
  uint64_t max_shard_bytes = 0;  // 0: one main file
  bool overwrite = false;
  bool fuse_scales = true;  // q/k/v and gate/up share scale_2 (DESIGN §4)
  bool quiet = false;
  std::vector<std::string> exclude;
};

struct RtnSummary {
  int64_t quantized_modules = 0, skipped_modules = 0;
  double seconds = 0, mean_weight_mse = 0;
  uint64_t peak_rss = 0;
};

RtnSummary run_rtn(const RtnOptions& options);

}  // namespace fp4gptq::pipeline
