#pragma once
// The pseudo-quantized checkpoint (docs/DESIGN.md §7), the first OutputFormat: every tensor in float16 (or bfloat16)
// with each quantized weight stored as its dequantized NVFP4 values, plus the scales file, config.json,
// quantize_config.json, quantization_report.json and the side files, all through a CheckpointWriter.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "pipeline/output_format.hpp"

namespace fp4gptq::pipeline {

using numeric::DType;

// Main-file tensors: every source tensor, same name and shape, floats cast to `dtype`; scales-file tensors:
// per quantized module M: M.per_block_scale F8_E4M3 [out, in/16], M.scale_2 F32 [], M.g_idx I32 [in] and,
// when `with_input_amax`, M.input_amax F32 []. A fused expert tensor M [E, rows, in] gets per_block_scale
// [E, rows, in/16], scale_2 [E, 2] (gate, up) or [E], g_idx [in] and input_amax [E] (docs/DESIGN.md §7).
io::CheckpointPlan make_checkpoint_plan(const io::ModelDir& src, const model::ModelPlan& plan, DType dtype,
                                        uint64_t max_shard_bytes, bool with_input_amax);

class PseudoQuantizedCheckpoint final : public OutputFormat {
 public:
  // Writes into `out`, made with make_checkpoint_plan for the same source, plan and dtype; the caller commits.
  // A NaN/Inf in a tensor copied without quantization is an error unless `allow_nonfinite` (then a warning).
  PseudoQuantizedCheckpoint(io::CheckpointWriter& out, const io::ModelDir& src, DType dtype, bool with_input_amax,
                            bool allow_nonfinite = false)
      : out_(out), src_(src), dtype_(dtype), with_input_amax_(with_input_amax), allow_nonfinite_(allow_nonfinite) {}

  void as_stored(const model::PlannedLinear& m, std::vector<float>& values) const override;
  void write_module(const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q, float input_amax) override;
  void write_rest(const std::vector<std::string>& names) override;
  void finish(const MethodFields& method, const nlohmann::ordered_json& report) override;

 private:
  io::CheckpointWriter& out_;
  const io::ModelDir& src_;
  DType dtype_;
  bool with_input_amax_, allow_nonfinite_;
  std::set<std::string> written_;  // tensors holding quantized modules
};

// Copies a source tensor into the output in bounded chunks (so RAM does not grow with tensor size), cast to
// `dtype` where it is another float type (bytes copied as they are where it is the same). Every float value
// is checked; a non-finite one is an error unless `allow_nonfinite` (a warning), and a finite value that
// overflows `dtype` is an error naming the tensor.
void write_cast(io::CheckpointWriter& out, const io::TensorRef& src, DType dtype, bool allow_nonfinite);
// The same for `n` elements of the source from element `begin`, written as the whole of output tensor `dest`
// (a fused expert tensor's slice written as one expert's tensor).
void write_cast_slice(io::CheckpointWriter& out, const io::TensorRef& src, uint64_t begin, uint64_t n,
                      const std::string& dest, DType dtype, bool allow_nonfinite);

// Rounds values to `dtype` (F16 or BF16) and back, in place; overflow is an error naming the tensor.
void round_to_dtype(const std::string& tensor, DType dtype, std::vector<float>& values);

// "float16", "bfloat16", "float32": config.json's torch_dtype spelling.
const char* torch_dtype_name(DType t);

// config.json of the output: the input's, torch_dtype set to the output dtype, no quantization_config.
nlohmann::ordered_json output_config(const nlohmann::ordered_json& in, DType dtype);

// quantize_config.json (docs/DESIGN.md §7) for a method's fields.
nlohmann::ordered_json quantize_config(const MethodFields& method, const std::string& model_file_base_name);

// Tokenizer, generation and chat-template files of a model directory (copied unchanged to the output).
std::vector<std::filesystem::path> side_files(const std::filesystem::path& dir);

// Source tensors grouped by decoder layer (index L for "model.layers.L.…"), the rest (embeddings, final
// norm, lm_head, …) in `others`; each list in checkpoint order.
struct TensorsByLayer {
  std::vector<std::vector<std::string>> layers;
  std::vector<std::string> others;
};
TensorsByLayer tensors_by_layer(const io::ModelDir& src, int64_t num_layers);

}  // namespace fp4gptq::pipeline
