#pragma once
// What every pseudo-quantized checkpoint run (rtn, quantize) writes besides the quantized weights: the plan
// of output tensors, cast copies of unquantized tensors, the scales of a module, config.json and side files.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "nvfp4/quantizer.hpp"

namespace fp4gptq::pipeline {

using numeric::DType;

// Output dtype from --dtype: "float16"/"fp16"/"f16" or "bfloat16"/"bf16"; error otherwise.
DType parse_output_dtype(const std::string& text);
const char* torch_dtype_name(DType t);  // "float16" / "bfloat16"

// Main-file tensors: every source tensor, same name and shape, floats cast to `dtype`; scales-file tensors:
// per quantized module M: M.per_block_scale F8_E4M3 [out, in/16], M.scale_2 F32 [], M.g_idx I32 [in] and,
// when `with_input_amax`, M.input_amax F32 []. A fused expert tensor M [E, rows, in] gets per_block_scale
// [E, rows, in/16], scale_2 [E, 2] (gate, up) or [E], g_idx [in] and input_amax [E] (DESIGN §7).
io::CheckpointPlan make_checkpoint_plan(const io::ModelDir& src, const model::ModelPlan& plan, DType dtype,
                                        uint64_t max_shard_bytes, bool with_input_amax);

// Casts a source tensor into the output in bounded chunks (so RAM does not grow with tensor size). A finite
// value that overflows the output dtype, or a non-finite source value, is an error naming the tensor.
void write_cast(io::CheckpointWriter& out, const io::TensorRef& src, DType dtype);

// Writes a module's dequantized FP32 weight [out, in] in the output dtype, into its own tensor or its slice of a
// fused expert tensor (overflow is an error naming the tensor).
void write_weight(io::CheckpointWriter& out, const model::PlannedLinear& m, const float* values, DType dtype);

// Writes the module's part of M.per_block_scale, M.scale_2 and M.g_idx (i / 16, the original column order).
void write_module_scales(io::CheckpointWriter& out, const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q);

// Writes the module's M.input_amax (max |x| of its calibration input; one per expert of a fused tensor).
void write_input_amax(io::CheckpointWriter& out, const model::PlannedLinear& m, float amax);

// Source tensors grouped by decoder layer (index L for "model.layers.L.…"), the rest (embeddings, final
// norm, lm_head, …) in `others`; each list in checkpoint order.
struct TensorsByLayer {
  std::vector<std::vector<std::string>> layers;
  std::vector<std::string> others;
};
TensorsByLayer tensors_by_layer(const io::ModelDir& src, int64_t num_layers);

// Casts every tensor of `names` not yet in `written` into the output, then releases the source pages of all
// of `names`. Adds what it wrote to `written`.
void write_remaining(io::CheckpointWriter& out, const io::ModelDir& src, const std::vector<std::string>& names,
                     std::set<std::string>& written, DType dtype);

// max |W| of a planned Linear's weight (its slice of a fused tensor), streamed in chunks.
float weight_amax(const io::ModelDir& src, const model::PlannedLinear& m);

// config.json of the output: the input's, torch_dtype set to the output dtype, no quantization_config.
nlohmann::ordered_json output_config(const nlohmann::ordered_json& in, DType dtype);

// Tokenizer, generation and chat-template files of a model directory (copied unchanged to the output).
std::vector<std::filesystem::path> side_files(const std::filesystem::path& dir);

}  // namespace fp4gptq::pipeline
