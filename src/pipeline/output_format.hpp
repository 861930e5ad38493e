#pragma once
// The output seam: everything the layer loop writes goes through this interface, so another on-disk format
// (a packed compressed-tensors or ModelOpt checkpoint) is one new subclass, not edits across the loop. The
// pseudo-quantized checkpoint of docs/DESIGN.md §7 (checkpoint_output.hpp) is the first implementation.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/layer_plan.hpp"
#include "nvfp4/quantizer.hpp"
#include "pipeline/method.hpp"

namespace fp4gptq::pipeline {

class OutputFormat {
 public:
  virtual ~OutputFormat() = default;
  // Module m's weight values as they will be stored, which the next layers' calibration must see (e.g.
  // rounded to the output dtype), in place; a value the format cannot hold is an error naming the tensor.
  virtual void as_stored(const model::PlannedLinear& m, std::vector<float>& values) const = 0;
  // A quantized module: codes, block scales, scale_2 and dequantized weight (already as_stored), and the max
  // |x| of its calibration input (0 for uncalibrated methods). Called under the loop's lock.
  virtual void write_module(const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q, float input_amax) = 0;
  // Every source tensor of `names` not written as a quantized module, in the format's dtype; then the source
  // pages of all of them are released. Called once per decoder layer, and once for the rest of the model.
  virtual void write_rest(const std::vector<std::string>& names) = 0;
  // After the last tensor: the config, quantization config, report and side files.
  virtual void finish(const MethodFields& method, const nlohmann::ordered_json& report) = 0;
};

}  // namespace fp4gptq::pipeline
