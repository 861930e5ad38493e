#pragma once
// The layer-by-layer GPTQ driver (DESIGN §2, §6): calibration tokens are embedded, then for each decoder
// layer and each true-sequential group ([q,k,v] → [o] → [gate,up] → [down]) the group's inputs are computed
// from the layer with the earlier groups already quantized, Hessians are accumulated (one per distinct
// input), every Linear of the group is GPTQ-solved and its weight replaced by the dequantized NVFP4 weight;
// the layer's quantized outputs are the next layer's inputs. Each Linear runs once, with its quantized
// weights. The layer's tensors and scales are written as soon as it is done.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "calib/calibration.hpp"
#include "gptq/gptq_config.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "model/linear.hpp"
#include "numeric/dtype.hpp"

namespace fp4gptq::pipeline {

struct QuantizeOptions {
  gptq::GptqConfig gptq;
  bool true_sequential = true;
  bool fuse_scales = true;
  numeric::DType act_dtype = numeric::DType::BF16;  // activations kept as
  model::Compute compute = model::Compute::BF16;   // matmuls: oneDNN bf16 or OpenBLAS FP32
  numeric::DType dtype = numeric::DType::F16;      // output tensors
  bool quiet = false;
  int64_t chunk_tokens = 4096;  // tokens per forward chunk (whole sequences)
  uint64_t max_act_bytes = 0;          // activations in RAM past this go to files (0: no limit)
  std::filesystem::path offload_dir;    // where (default: the system temp directory)
  int64_t moe_min_tokens = -1;  // experts with fewer calibration tokens fall back to RTN; -1: 10% of the expected share
  bool moe_calibrate_all = false;  // every token into every expert's Hessians (outputs keep the real routing)
  int64_t expert_rows = 16384;     // most routed tokens of one expert gathered (FP32) at a time
};

// Where the time went, with the FLOPs of each part (DESIGN §5 accounting for Hessians and solves).
struct TimeSplit {
  double forward_s = 0, hessian_s = 0, solve_s = 0, io_s = 0;
  double forward_flops = 0, hessian_flops = 0, solve_flops = 0;
};

struct QuantizeSummary {
  int64_t modules = 0, fallbacks = 0, skipped = 0, samples = 0, tokens = 0;
  double mean_rel_err = 0, mean_rtn_rel_err = 0, seconds = 0;
  uint64_t peak_rss = 0;
  TimeSplit split;
};

// Quantizes every planned Linear of `src` with the calibration samples and writes the whole checkpoint of
// DESIGN §7 (model and scales files, config.json, quantize_config.json, quantization_report.json, side files)
// into `out`, which the caller commits.
QuantizeSummary quantize_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                              const calib::CalibrationSet& calib, const QuantizeOptions& options);

}  // namespace fp4gptq::pipeline
