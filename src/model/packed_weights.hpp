#pragma once
// Reading packed NVFP4 checkpoints (docs/DESIGN.md §7b) as the serving engines do: a quantized Linear stored as
// E2M1 nibbles + FP8 block scales + a global scale (compressed-tensors' nvfp4-pack-quantized, or ModelOpt's
// export) is decoded to its weight values on load, and its W4A4 input scale, where there is one, is kept so the
// forward can quantize the Linear's input as the engines do (nvfp4/activation_quant.hpp).
#include <optional>
#include <string>
#include <vector>

#include "io/model_dir.hpp"
#include "numeric/dtype.hpp"

namespace fp4gptq::model {

enum class Packing { CompressedTensors, ModelOpt };

// What a checkpoint directory holds: a packed format when config.json's quantization_config says so
// (quant_method "compressed-tensors" with format nvfp4-pack-quantized, or "modelopt" with an NVFP4 quant_algo),
// else nothing packed (an original model or a pseudo-quantized one). Another quantization_config is an error
// naming the field.
std::optional<Packing> packing_of(const io::ModelDir& dir);

// The dtype packed weights are decoded to: quantize_config.json's weight_dtype (what fp4gptq rounded the weights
// to, so a packed checkpoint evaluates as its pseudo twin), else config.json's torch_dtype.
numeric::DType decode_dtype(const io::ModelDir& dir);

struct PackedLinear {
  std::string weight, scale, global, input;  // tensor names
};
PackedLinear packed_names(Packing p, const std::string& module);

// Whether module M is stored packed in `dir`, its tensors checked against [out, in] (an error naming the
// tensor on a wrong dtype or shape).
bool is_packed(const io::ModelDir& dir, Packing p, const std::string& module, int64_t out, int64_t in);

// The weight [out, in] decoded by the format's own formula (compressed-tensors: e2m1 · (fp8(s) / global);
// ModelOpt: e2m1 · (fp8(s) · scale_2)) in FP32, then rounded to `dtype`.
std::vector<float> decode_packed(const io::ModelDir& dir, Packing p, const std::string& module, int64_t out, int64_t in,
                                 numeric::DType dtype);

// The input global scale (2688 / input amax) of a W4A4 module, or none.
std::optional<float> input_global_scale(const io::ModelDir& dir, Packing p, const std::string& module);

}  // namespace fp4gptq::model
