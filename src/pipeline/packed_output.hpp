#pragma once
// The packed NVFP4 checkpoints (docs/DESIGN.md §7b), two OutputFormats over one base: compressed-tensors'
// nvfp4-pack-quantized (what llm-compressor writes; vLLM's compressed-tensors schemes) and TensorRT Model
// Optimizer's HF export (vLLM's modelopt method, TensorRT-LLM). Per quantized Linear M, the E2M1 codes two to a
// byte (element 2j in the low nibble), the FP8 block scales [out, in/16] as the pseudo checkpoint's, a global
// scale and, for W4A4, an input scale; the codes are canonical (nvfp4/canonical_codes.hpp), so a run written
// packed equals the export of its pseudo checkpoint byte for byte. MoE experts are written per expert under the
// hub's names whatever the input layout. Every other tensor keeps its source dtype (or is cast to one).
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/checkpoint_writer.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "model/packed_weights.hpp"
#include "pipeline/output_format.hpp"

namespace fp4gptq::pipeline {

using numeric::DType;

using model::Packing;
const char* packing_name(Packing p);  // "compressed-tensors", "modelopt"

struct PackedOptions {
  Packing packing = Packing::CompressedTensors;
  bool w4a4 = false;                 // input scales from the calibration input amax
  DType stored_dtype = DType::F16;   // what quantized weights are rounded to (as the pseudo checkpoint stores them)
  std::optional<DType> rest_dtype;   // unquantized float tensors cast to this; none: their own dtype
  bool allow_nonfinite = false;
};

// What the options alone rule out: per-tensor global scales (below), W4A4 without calibration.
void check_packed_options(Packing packing, bool fuse_scales, bool w4a4, bool calibrated);

// Refuses what the serving engines cannot load, before any work: per-tensor global scales (--no-fuse-scales:
// q/k/v and gate/up run as one GEMM with one global scale), and a fused group (q/k/v; an expert's gate/up)
// partly quantized (one scheme per fused layer).
void check_packable(const model::ModelPlan& plan, bool fuse_scales, Packing packing);

// The tensors of the packed checkpoint of `plan` with the unquantized tensors of `rest` (the source model, or
// the pseudo directory being exported): the source order, each quantized weight replaced by its packed
// tensors (a fused expert tensor by those of each expert and part). One main file (sharded by
// max_shard_bytes) named model.safetensors, no scales file.
io::CheckpointPlan make_packed_plan(const io::ModelDir& rest, const model::ModelPlan& plan, const PackedOptions& o,
                                    uint64_t max_shard_bytes);

class PackedCheckpoint : public OutputFormat {
 public:
  // Writes into `out` (made with make_packed_plan for the same plan and options); unquantized tensors from `rest`.
  PackedCheckpoint(io::CheckpointWriter& out, const io::ModelDir& rest, const model::ModelPlan& plan, PackedOptions o);
  void as_stored(const model::PlannedLinear& m, std::vector<float>& values) const override;
  // `q.dequant` holds the weight as stored (rounded to stored_dtype): the codes are recovered from it, as
  // write_stored does; q.codes is not read.
  void write_module(const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q, float input_amax) override;
  // A module from its stored weight (the 16-bit patterns of stored_dtype, [out, in]), block scales and scale_2:
  // the canonical codes recovered (an error naming the tensor where a value is on no grid point), packed and
  // written with the scales.
  void write_stored(const model::PlannedLinear& m, const uint16_t* stored, const uint8_t* block_scales, float scale_2,
                    float input_amax);
  // Also writes the input scales of the modules written since the last call (the layer's): max over each
  // fused group; an expert that saw no token takes the max over the layer's experts of its projection. An
  // unquantized fused expert tensor is written per expert, as the hub's 2D tensors.
  void write_rest(const std::vector<std::string>& names) override;
  // A null report writes none (export copies the quantize run's).
  void finish(const MethodFields& method, const nlohmann::ordered_json& report) override;

 protected:
  // The format's global-scale value from scale_2, and its input-scale value from the input amax.
  virtual float weight_global(float scale_2) const = 0;
  virtual float input_value(float input_amax) const = 0;
  // config.json's quantization_config, and any other files (hf_quant_config.json).
  virtual nlohmann::ordered_json quantization_config() const = 0;
  virtual void write_side_files() const {}

  // Linears left unquantized (lm_head, MoE routers, excluded and in % 16 modules), by module name.
  std::vector<std::string> ignored() const;
  io::CheckpointWriter& out_;
  const io::ModelDir& rest_;
  const model::ModelPlan& plan_;
  PackedOptions o_;

 private:
  struct Pending {
    const model::PlannedLinear* m;
    float amax;
  };
  void write_input_scales();
  std::vector<Pending> pending_;      // modules written since the last write_rest (W4A4)
  std::set<std::string> written_;     // source tensors holding quantized modules
  std::vector<uint8_t> packed_;       // scratch: a module's packed codes
  // Unquantized modules stored in fused expert tensors: written per expert under the hub's names.
  std::map<std::string, std::vector<const model::PlannedLinear*>> unquantized_fused_;
};

class CompressedTensorsCheckpoint final : public PackedCheckpoint {
 public:
  using PackedCheckpoint::PackedCheckpoint;

 private:
  float weight_global(float scale_2) const override;
  float input_value(float input_amax) const override;
  nlohmann::ordered_json quantization_config() const override;
};

class ModelOptCheckpoint final : public PackedCheckpoint {
 public:
  using PackedCheckpoint::PackedCheckpoint;

 private:
  float weight_global(float scale_2) const override { return scale_2; }
  float input_value(float input_amax) const override;
  nlohmann::ordered_json quantization_config() const override;
  void write_side_files() const override;
  nlohmann::ordered_json hf_quant_config() const;
  std::vector<std::string> exclude_modules() const;
};

std::unique_ptr<PackedCheckpoint> make_packed_checkpoint(io::CheckpointWriter& out, const io::ModelDir& rest,
                                                         const model::ModelPlan& plan, const PackedOptions& o);

}  // namespace fp4gptq::pipeline
