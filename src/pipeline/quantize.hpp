#pragma once
// Entry points of the pipeline: GPTQ (quantize_into) and round-to-nearest (rtn_into) of every planned Linear,
// written as the pseudo-quantized checkpoint of docs/DESIGN.md §7 into a CheckpointWriter that the caller commits.
// Both are the one layer loop (layer_loop.hpp) with a different method (method.hpp).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <nlohmann/json.hpp>

#include "calib/calibration.hpp"
#include "dist/communicator.hpp"
#include "gptq/gptq_config.hpp"
#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "linalg/context.hpp"
#include "model/layer_plan.hpp"
#include "model/linear.hpp"
#include "numeric/dtype.hpp"
#include "pipeline/packed_output.hpp"
#include "pipeline/timing.hpp"

namespace fp4gptq::pipeline {

struct QuantizeOptions {
  gptq::GptqConfig gptq;  // its scale_rule is replaced by the one below
  nvfp4::ScaleRule scale_rule;  // block-scale search and scale_2's K, for GPTQ and round-to-nearest alike
  bool true_sequential = true;
  bool fuse_scales = true;
  numeric::DType act_dtype = numeric::DType::BF16;  // activations kept as
  model::Compute compute = model::Compute::BF16;    // matmuls: bf16 or FP32
  numeric::DType dtype = numeric::DType::F16;       // output tensors
  bool quiet = false;
  bool allow_nonfinite = false;       // NaN/Inf in tensors copied without quantization: kept (warned), not an error
  int64_t checkpoint_every = 1;       // journal (resume point) after every N-th decoder layer; 0: never
  int64_t chunk_tokens = 4096;        // tokens per forward chunk (whole sequences)
  int64_t shard_tokens = 65536;       // tokens per shard: the data-parallel unit (docs/DESIGN.md §13)
  uint64_t max_act_bytes = 0;         // activations in RAM past this go to files (0: no limit)
  std::filesystem::path offload_dir;  // where (default: the system temp directory)
  int64_t moe_min_tokens = -1;  // experts with fewer calibration tokens fall back to RTN; -1: 10% of the expected share
  bool moe_calibrate_all = false;  // every token into every expert's Hessians (outputs keep the real routing)
  int64_t expert_rows = 16384;     // most routed tokens of one expert gathered (FP32) at a time
  int64_t expert_tile = 16384;     // rows per expert gate/up matmul (expert_rows is rounded up to a multiple)
  std::optional<PackedOptions> packed;  // a packed NVFP4 checkpoint (docs/DESIGN.md §7b); none: the pseudo one
};

// The files the run writes: the pseudo checkpoint's (with input_amax when calibrated) or the packed one's.
io::CheckpointPlan output_plan(const io::ModelDir& src, const model::ModelPlan& plan, const QuantizeOptions& options,
                               uint64_t max_shard_bytes, bool calibrated);

struct QuantizeSummary {
  int64_t modules = 0, fallbacks = 0, skipped = 0, samples = 0, tokens = 0;
  double mean_rel_err = 0, mean_rtn_rel_err = 0, mean_weight_mse = 0, seconds = 0;
  uint64_t peak_rss = 0;
  TimeSplit split;
  nlohmann::ordered_json report;  // quantization_report.json as written
};

// GPTQ of every planned Linear of `src` with the calibration samples, layer by layer (docs/DESIGN.md §2, §6).
// Under a communicator of several ranks (docs/DESIGN.md §13) this is the root's part: every rank runs
// quantize_into (the root) or quantize_rank (the others) with the same arguments; the root writes.
QuantizeSummary quantize_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                              const calib::CalibrationSet& calib, const QuantizeOptions& options,
                              const linalg::Context& ctx = linalg::Context(),
                              const dist::Communicator& comm = dist::serial());
// A non-root rank's part of a data-parallel quantize_into: the same work on its shards, nothing written.
QuantizeSummary quantize_rank(const io::ModelDir& src, const model::ModelPlan& plan, const calib::CalibrationSet& calib,
                              const QuantizeOptions& options, const linalg::Context& ctx,
                              const dist::Communicator& comm);

// Round-to-nearest of every planned Linear (no calibration; options.scale_rule applies, options.gptq, true_sequential, act_dtype,
// compute and the MoE and activation options do not apply).
QuantizeSummary rtn_into(io::CheckpointWriter& out, const io::ModelDir& src, const model::ModelPlan& plan,
                         const QuantizeOptions& options, const linalg::Context& ctx = linalg::Context());

}  // namespace fp4gptq::pipeline
