#include "model/packed_weights.hpp"

#include <cmath>
#include <filesystem>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::model {

std::optional<Packing> packing_of(const io::ModelDir& dir) {
  const auto& c = dir.config();
  if (!c.contains("quantization_config")) return std::nullopt;
  const auto& q = c.at("quantization_config");
  const std::string where = dir.config_path().string() + ": quantization_config";
  const auto method = q.contains("quant_method") && q.at("quant_method").is_string()
                          ? q.at("quant_method").get<std::string>()
                          : std::string();
  if (method == "compressed-tensors") {
    const auto format = q.contains("format") && q.at("format").is_string() ? q.at("format").get<std::string>() : "";
    if (format != "nvfp4-pack-quantized")
      throw Error(where + ".format is \"" + format + "\"; only nvfp4-pack-quantized compressed-tensors are read");
    return Packing::CompressedTensors;
  }
  if (method == "modelopt") {
    const auto algo = q.contains("quant_algo") && q.at("quant_algo").is_string() ? q.at("quant_algo").get<std::string>()
                                                                                 : "";
    if (algo != "NVFP4" && algo != "W4A16_NVFP4")
      throw Error(where + ".quant_algo is \"" + algo + "\"; NVFP4 or W4A16_NVFP4 expected");
    return Packing::ModelOpt;
  }
  throw Error(where + ".quant_method is \"" + method + "\"; compressed-tensors or modelopt (NVFP4) expected");
}

numeric::DType decode_dtype(const io::ModelDir& dir) {
  std::string name = dir.config().value("torch_dtype", "bfloat16");
  if (const auto qc = dir.dir() / "quantize_config.json"; std::filesystem::exists(qc)) {
    const auto j = io::read_json(qc);
    if (j.contains("weight_dtype") && j.at("weight_dtype").is_string()) name = j.at("weight_dtype").get<std::string>();
  }
  if (name == "float16") return numeric::DType::F16;
  if (name == "bfloat16") return numeric::DType::BF16;
  throw Error(dir.dir().string() + ": packed weights decode to float16 or bfloat16, not \"" + name + "\"");
}

PackedLinear packed_names(Packing p, const std::string& M) {
  if (p == Packing::ModelOpt) return {M + ".weight", M + ".weight_scale", M + ".weight_scale_2", M + ".input_scale"};
  return {M + ".weight_packed", M + ".weight_scale", M + ".weight_global_scale", M + ".input_global_scale"};
}

namespace {

const io::TensorRef& expect(const io::ModelDir& dir, const std::string& name, numeric::DType dtype, uint64_t numel) {
  const auto& t = dir.tensor(name);
  t.file->expect(name, dtype, numel);
  return t;
}

// A global or input scale: finite and positive (`zero_ok`: or 0, a ModelOpt scale_2 of an all-zero weight).
float scalar(const io::ModelDir& dir, const std::string& name, bool zero_ok = false) {
  const auto& t = expect(dir, name, numeric::DType::F32, 1);
  float v = 0;
  t.file->read_f32(*t.info, 0, 1, &v);
  if (!std::isfinite(v) || v < 0 || (v == 0 && !zero_ok))
    throw Error(t.file->path().string() + ": tensor '" + name + "' is " + std::to_string(v) + "; a finite scale > 0" +
                (zero_ok ? " (or 0)" : "") + " was expected");
  return v;
}

}  // namespace

bool is_packed(const io::ModelDir& dir, Packing p, const std::string& module, int64_t out, int64_t in) {
  const auto n = packed_names(p, module);
  if (!dir.has(n.weight) || (p == Packing::ModelOpt && dir.tensor(n.weight).info->dtype != numeric::DType::U8))
    return false;
  const auto o = static_cast<uint64_t>(out), i = static_cast<uint64_t>(in);
  expect(dir, n.weight, numeric::DType::U8, o * i / 2);
  expect(dir, n.scale, numeric::DType::F8_E4M3, o * i / 16);
  expect(dir, n.global, numeric::DType::F32, 1);
  if (dir.has(n.input)) expect(dir, n.input, numeric::DType::F32, 1);
  return true;
}

std::vector<float> decode_packed(const io::ModelDir& dir, Packing p, const std::string& module, int64_t out, int64_t in,
                                 numeric::DType dtype) {
  const auto n = packed_names(p, module);
  const auto o = static_cast<size_t>(out), i = static_cast<size_t>(in);
  const auto& w = expect(dir, n.weight, numeric::DType::U8, o * i / 2);
  const auto& s = expect(dir, n.scale, numeric::DType::F8_E4M3, o * i / 16);
  const float global = scalar(dir, n.global, /*zero_ok=*/p == Packing::ModelOpt);
  const auto* codes = reinterpret_cast<const uint8_t*>(w.file->bytes(*w.info).data());
  const auto* scales = reinterpret_cast<const uint8_t*>(s.file->bytes(*s.info).data());
  std::vector<float> v(o * i);
  for (size_t b = 0; b < o * i / 16; ++b) {
    // compressed-tensors divides the block scale by its global scale first; ModelOpt multiplies by scale_2
    // (nvfp4::effective_scale, the pseudo checkpoint's rule).
    const float eff = p == Packing::CompressedTensors ? numeric::e4m3_to_f32(scales[b]) / global
                                                      : nvfp4::effective_scale(scales[b], global);
    for (size_t k = 0; k < 16; ++k) {
      const size_t e = b * 16 + k;
      const uint8_t code = (codes[e / 2] >> (4 * (e % 2))) & 0xf;
      v[e] = numeric::e2m1_decode(code) * eff;
    }
  }
  if (dtype == numeric::DType::BF16)
    for (auto& x : v) x = numeric::bf16_to_f32(numeric::f32_to_bf16(x));
  else
    for (auto& x : v) x = numeric::f16_to_f32(numeric::f32_to_f16(x));
  w.release();
  s.release();
  return v;
}

std::optional<float> input_global_scale(const io::ModelDir& dir, Packing p, const std::string& module) {
  const auto n = packed_names(p, module);
  if (!dir.has(n.input)) return std::nullopt;
  const float v = scalar(dir, n.input);
  return p == Packing::CompressedTensors ? v : 1.0f / v;  // ModelOpt keeps amax / 2688
}

}  // namespace fp4gptq::model
