#include "pipeline/packed_output.hpp"

#include <algorithm>
#include <map>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "fp4gptq/error.hpp"
#include "nvfp4/canonical_codes.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/log.hpp"

namespace fp4gptq::pipeline {

namespace {

// The quantized modules stored in each source tensor (`quantized`), or the unquantized ones stored in fused
// expert tensors, in the order the packed file lists them (a fused expert tensor: expert by expert, gate before up).
std::map<std::string, std::vector<const model::PlannedLinear*>> modules_by_tensor(const model::ModelPlan& plan,
                                                                                  bool quantized) {
  std::map<std::string, std::vector<const model::PlannedLinear*>> by;
  for (const auto& lp : plan.layers)
    for (const auto& m : lp.linears)
      if (m.quantize == quantized && (quantized || m.fused())) by[m.tensor].push_back(&m);
  for (auto& [t, mods] : by)
    std::stable_sort(mods.begin(), mods.end(), [](const auto* a, const auto* b) {
      return std::make_pair(a->expert, a->part) < std::make_pair(b->expert, b->part);
    });
  return by;
}

}  // namespace

const char* packing_name(Packing p) { return p == Packing::ModelOpt ? "modelopt" : "compressed-tensors"; }

void check_packed_options(Packing packing, bool fuse_scales, bool w4a4, bool calibrated) {
  if (!fuse_scales)
    throw Error(std::string(packing_name(packing)) +
                " output needs fused global scales: vLLM and TensorRT-LLM run q/k/v and gate/up as one GEMM with one "
                "global scale, so per-tensor scale_2 cannot be served (keep scales fused)");
  if (w4a4 && !calibrated)
    throw Error("W4A4 (nvfp4 activations) needs input scales from calibration, and round-to-nearest sees no "
                "activations (use GPTQ, or no activation quantization)");
}

void check_packable(const model::ModelPlan& plan, bool fuse_scales, Packing packing) {
  const std::string fmt_name = packing_name(packing);
  check_packed_options(packing, fuse_scales, false, true);
  for (const auto& lp : plan.layers) {
    // Fused groups: q/k/v, gate/up; and all experts of a layer, which the engines run as one fused MoE with one
    // scheme (vLLM's FusedMoE, TensorRT-LLM's), gate/up and down alike.
    std::map<std::string, std::vector<const model::PlannedLinear*>> groups;
    for (const auto& m : lp.linears) groups[m.expert >= 0 ? "experts" : m.input_key].push_back(&m);
    for (const auto& [key, mods] : groups) {
      std::vector<std::string> quantized, skipped;
      std::string reason;
      for (const auto* m : mods) {
        (m->quantize ? quantized : skipped).push_back(m->module);
        if (!m->quantize && reason.empty()) reason = m->skip_reason;
      }
      if (quantized.empty() || skipped.empty()) continue;
      auto some = [](const std::vector<std::string>& v) {
        return fmt::format("{}{}", fmt::join(v.begin(), v.begin() + std::min<size_t>(v.size(), 3), ", "),
                           v.size() > 3 ? fmt::format(" and {} more", v.size() - 3) : "");
      };
      throw Error(fmt::format("{} output: {} would be left unquantized ({}) while {} of the same fused {} {} "
                              "quantized; the engines load a fused layer with one scheme, so quantize or exclude the "
                              "whole group",
                              fmt_name, some(skipped), reason, some(quantized),
                              key == "experts" ? "MoE experts of layer " + std::to_string(lp.index) : "projection",
                              quantized.size() == 1 ? "is" : "are"));
    }
  }
}

io::CheckpointPlan make_packed_plan(const io::ModelDir& rest, const model::ModelPlan& plan, const PackedOptions& o,
                                    uint64_t max_shard_bytes) {
  io::CheckpointPlan cp;
  cp.max_shard_bytes = max_shard_bytes;
  cp.file_base = "model";
  cp.scales_file = false;
  // compressed-tensors keeps its scalars as [1]; ModelOpt as 0-d tensors.
  const io::Shape scalar = o.packing == Packing::ModelOpt ? io::Shape{} : io::Shape{1};
  const auto by_tensor = modules_by_tensor(plan, true), unquantized_fused = modules_by_tensor(plan, false);
  for (const auto& name : rest.tensor_names()) {
    const auto& info = *rest.tensor(name).info;
    const bool cast = o.rest_dtype && numeric::is_float(info.dtype) && info.dtype != DType::F8_E4M3;
    if (const auto it = by_tensor.find(name); it != by_tensor.end()) {
      for (const auto* m : it->second) {
        const auto n = model::packed_names(o.packing, m->module);
        cp.model_tensors.push_back({n.weight, DType::U8, {m->out, m->in / 2}});
        cp.model_tensors.push_back({n.scale, DType::F8_E4M3, {m->out, m->in / nvfp4::kBlockSize}});
        cp.model_tensors.push_back({n.global, DType::F32, scalar});
        if (o.w4a4) cp.model_tensors.push_back({n.input, DType::F32, scalar});
      }
    } else if (const auto f = unquantized_fused.find(name); f != unquantized_fused.end()) {
      for (const auto* m : f->second)  // the hub's per-expert tensors
        cp.model_tensors.push_back({m->module + ".weight", cast ? *o.rest_dtype : info.dtype, {m->out, m->in}});
    } else {
      cp.model_tensors.push_back({name, cast ? *o.rest_dtype : info.dtype, info.shape});
    }
  }
  return cp;
}

std::unique_ptr<PackedCheckpoint> make_packed_checkpoint(io::CheckpointWriter& out, const io::ModelDir& rest,
                                                         const model::ModelPlan& plan, const PackedOptions& o) {
  if (o.packing == Packing::ModelOpt) return std::make_unique<ModelOptCheckpoint>(out, rest, plan, o);
  return std::make_unique<CompressedTensorsCheckpoint>(out, rest, plan, o);
}

PackedCheckpoint::PackedCheckpoint(io::CheckpointWriter& out, const io::ModelDir& rest, const model::ModelPlan& plan,
                                   PackedOptions o)
    : out_(out), rest_(rest), plan_(plan), o_(o), unquantized_fused_(modules_by_tensor(plan, false)) {}

void PackedCheckpoint::as_stored(const model::PlannedLinear& m, std::vector<float>& v) const {
  round_to_dtype(m.tensor, o_.stored_dtype, v);
}

void PackedCheckpoint::write_module(const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q, float input_amax) {
  std::vector<uint16_t> stored(q.dequant.size());
  numeric::from_f32(o_.stored_dtype, q.dequant.data(), stored.data(), stored.size());  // exact: already as stored
  write_stored(m, stored.data(), q.block_scales.data(), q.scale_2, input_amax);
}

void PackedCheckpoint::write_stored(const model::PlannedLinear& m, const uint16_t* stored, const uint8_t* block_scales,
                                    float scale_2, float input_amax) {
  const auto cols = static_cast<size_t>(m.in), blocks = cols / nvfp4::kBlockSize;
  auto& packed = packed_;  // kept between modules: no fresh pages per module
  packed.resize(static_cast<size_t>(m.out) * cols / 2);
  for (int64_t r = 0; r < m.out; ++r) {
    const size_t at = static_cast<size_t>(r) * cols;
    const size_t bad = nvfp4::recover_codes(stored + at, cols, block_scales + r * blocks, scale_2, o_.stored_dtype,
                                            packed.data() + at / 2);
    if (bad != cols) {
      float value = 0;
      numeric::to_f32(o_.stored_dtype, stored + at + bad, &value, 1);
      throw Error(fmt::format(
          "tensor '{}': the value {} at [{}, {}] of {} is on no NVFP4 grid point of its block (FP8 scale {}, scale_2 "
          "{}): not an NVFP4 weight stored in {}",
          m.tensor, value, r, bad, m.module, numeric::e4m3_to_f32(block_scales[r * blocks + bad / 16]), scale_2,
          torch_dtype_name(o_.stored_dtype)));
    }
  }
  const auto n = model::packed_names(o_.packing, m.module);
  out_.write_model_part(n.weight, 0, packed.data(), packed.size());
  out_.write_model_part(n.scale, 0, block_scales, blocks * static_cast<size_t>(m.out));
  const float global = weight_global(scale_2);
  out_.write_model_part(n.global, 0, &global, sizeof global);
  written_.insert(m.tensor);
  if (o_.w4a4) pending_.push_back({&m, input_amax});
}

void PackedCheckpoint::write_rest(const std::vector<std::string>& names) {
  if (!pending_.empty()) write_input_scales();
  for (const auto& name : names) {
    if (!written_.insert(name).second) continue;
    const auto& src = rest_.tensor(name);
    const DType dtype = o_.rest_dtype ? *o_.rest_dtype : src.info->dtype;
    if (const auto f = unquantized_fused_.find(name); f != unquantized_fused_.end()) {
      for (const auto* m : f->second)  // one slice per expert and part, under the hub's name
        write_cast_slice(out_, src, m->offset(), static_cast<uint64_t>(m->out * m->in), m->module + ".weight", dtype,
                         o_.allow_nonfinite);
    } else {
      write_cast(out_, src, dtype, o_.allow_nonfinite);
    }
  }
  for (const auto& name : names) rest_.tensor(name).release();
}

// One input amax per fused group (its modules share their input), then the starved experts' fallback: the max
// over the layer's experts of the same projection (gate/up, or down).
void PackedCheckpoint::write_input_scales() {
  std::map<std::string, float> group;
  std::map<model::SeqGroup, float> experts;
  for (const auto& p : pending_) group[p.m->input_key] = std::max(group[p.m->input_key], p.amax);
  for (const auto& p : pending_)
    if (p.m->expert >= 0) experts[p.m->group] = std::max(experts[p.m->group], group[p.m->input_key]);
  std::set<int64_t> starved;
  for (const auto& p : pending_) {
    float amax = group[p.m->input_key];
    if (amax == 0 && p.m->expert >= 0) {
      amax = experts[p.m->group];
      starved.insert(p.m->expert);
    }
    if (amax == 0) amax = nvfp4::kGlobalScaleDivisor;  // no input seen at all: input global scale 1
    const float v = input_value(amax);
    out_.write_model_part(model::packed_names(o_.packing, p.m->module).input, 0, &v, sizeof v);
  }
  if (!starved.empty())
    log_warning(fmt::format("layer {}: experts {} saw no calibration token; their W4A4 input scales are the layer's "
                            "largest expert input amax (gate/up {}, down {})",
                            model::layer_of(pending_.front().m->tensor), fmt::join(starved, ", "),
                            experts[model::SeqGroup::MlpGateUp], experts[model::SeqGroup::MlpDown]));
  pending_.clear();
}

std::vector<std::string> PackedCheckpoint::ignored() const {
  std::vector<std::string> out;
  for (const auto& lp : plan_.layers) {
    for (const auto& m : lp.linears)
      if (!m.quantize) out.push_back(m.module);
    if (lp.sparse) out.push_back(fmt::format("model.layers.{}.mlp.gate", lp.index));
  }
  out.push_back("lm_head");
  return out;
}

void PackedCheckpoint::finish(const MethodFields& method, const nlohmann::ordered_json& report) {
  auto config = o_.rest_dtype ? output_config(rest_.config(), *o_.rest_dtype) : rest_.config();
  config["quantization_config"] = quantization_config();
  out_.write_json("config.json", config);
  auto qc = quantize_config(method, out_.file_base());
  qc["pseudo_quantized"] = false;
  qc["format"] = packing_name(o_.packing);
  qc["activations"] = o_.w4a4 ? "nvfp4" : "none";
  qc["weight_dtype"] = torch_dtype_name(o_.stored_dtype);  // the dtype the codes are canonical to
  out_.write_json("quantize_config.json", qc);
  write_side_files();
  for (const auto& f : side_files(rest_.dir())) out_.copy_file(f);
  if (!report.is_null()) out_.write_json("quantization_report.json", report);
}

// compressed-tensors keeps the reciprocal of scale_2 (its "global scale" multiplies); 1 for an all-zero group.
float CompressedTensorsCheckpoint::weight_global(float scale_2) const { return scale_2 == 0 ? 1.0f : 1.0f / scale_2; }
float CompressedTensorsCheckpoint::input_value(float amax) const { return nvfp4::kGlobalScaleDivisor / amax; }
float ModelOptCheckpoint::input_value(float amax) const { return amax / nvfp4::kGlobalScaleDivisor; }

// As llm-compressor writes it (compressed-tensors' ModelCompressor, keys sorted); vLLM recognises NVFP4 by
// num_bits 4, type float, strategy tensor_group, group_size 16, symmetric (and input_activations null for A16).
nlohmann::ordered_json CompressedTensorsCheckpoint::quantization_config() const {
  auto args = [](const nlohmann::ordered_json& dynamic, const char* observer) {
    return nlohmann::ordered_json{{"actorder", nullptr},
                                  {"block_structure", nullptr},
                                  {"dynamic", dynamic},
                                  {"group_size", nvfp4::kBlockSize},
                                  {"num_bits", 4},
                                  {"observer", observer},
                                  {"observer_kwargs", nlohmann::ordered_json::object()},
                                  {"scale_dtype", "torch.float8_e4m3fn"},
                                  {"strategy", "tensor_group"},
                                  {"symmetric", true},
                                  {"type", "float"},
                                  {"zp_dtype", nullptr}};
  };
  nlohmann::ordered_json group = {
      {"format", "nvfp4-pack-quantized"},
      {"input_activations", o_.w4a4 ? args("local", "static_minmax") : nlohmann::ordered_json()},
      {"output_activations", nullptr},
      {"targets", {"Linear"}},
      {"weights", args(false, "memoryless_minmax")}};
  return {{"config_groups", {{"group_0", group}}},
          {"format", "nvfp4-pack-quantized"},
          {"global_compression_ratio", nullptr},
          {"ignore", ignored()},
          {"kv_cache_scheme", nullptr},
          {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"},
          {"sparsity_config", nlohmann::ordered_json::object()},
          {"transform_config", nlohmann::ordered_json::object()},
          {"version", "0.12.2"}};
}

// ModelOpt's producer record: ours, so nobody mistakes the file for ModelOpt's own output.
static nlohmann::ordered_json producer() { return {{"name", "fp4gptq"}, {"version", FP4GPTQ_VERSION}}; }

// hf_quant_config.json as ModelOpt's export writes it (what TensorRT-LLM and vLLM's modelopt method read).
nlohmann::ordered_json ModelOptCheckpoint::hf_quant_config() const {
  return {{"producer", producer()},
          {"quantization",
           {{"quant_algo", o_.w4a4 ? "NVFP4" : "W4A16_NVFP4"},
            {"kv_cache_quant_algo", nullptr},
            {"group_size", nvfp4::kBlockSize},
            {"exclude_modules", exclude_modules()}}}};
}

// ModelOpt lists them sorted as strings.
std::vector<std::string> ModelOptCheckpoint::exclude_modules() const {
  auto v = ignored();
  std::sort(v.begin(), v.end());
  return v;
}

// config.json's quantization_config of newer ModelOpt exports (convert_hf_quant_config_format).
nlohmann::ordered_json ModelOptCheckpoint::quantization_config() const {
  auto args = [] {
    return nlohmann::ordered_json{{"dynamic", false}, {"num_bits", 4}, {"type", "float"}, {"group_size", 16}};
  };
  nlohmann::ordered_json group;
  if (o_.w4a4) group["input_activations"] = args();
  group["weights"] = args();
  group["targets"] = {"Linear"};
  return {{"config_groups", {{"group_0", group}}},
          {"ignore", exclude_modules()},
          {"quant_algo", o_.w4a4 ? "NVFP4" : "W4A16_NVFP4"},
          {"producer", producer()},
          {"quant_method", "modelopt"}};
}

void ModelOptCheckpoint::write_side_files() const { out_.write_json("hf_quant_config.json", hf_quant_config()); }

}  // namespace fp4gptq::pipeline
