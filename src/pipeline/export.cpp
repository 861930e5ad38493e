#include "pipeline/export.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include <fmt/core.h>

#include "fp4gptq/error.hpp"
#include "io/error_kind.hpp"
#include "io/json_file.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/progress.hpp"

namespace fp4gptq::pipeline {

namespace fs = std::filesystem;

namespace {

// quantize_config.json of the pseudo checkpoint: must say pseudo_quantized; gives the file base and the method.
struct PseudoConfig {
  std::string file_base;
  MethodFields method;
};

const char* literal(const std::string& v, std::initializer_list<const char*> allowed, const std::string& where) {
  for (const char* a : allowed)
    if (v == a) return a;
  throw Error(where + ": unexpected value \"" + v + "\"");
}

PseudoConfig read_pseudo_config(const fs::path& dir) {
  const auto path = dir / "quantize_config.json";
  if (!fs::exists(path))
    throw Error(path.string() + " is missing: not a pseudo-quantized checkpoint written by fp4gptq",
                ErrorKind::MissingFile);
  const auto j = io::read_json(path);
  const std::string where = path.string();
  auto field = [&](const char* key) -> const nlohmann::ordered_json& {
    if (!j.contains(key)) throw Error(where + ": field \"" + key + "\" is missing");
    return j.at(key);
  };
  try {
    if (!field("pseudo_quantized").get<bool>())
      throw Error(where + ": pseudo_quantized is false: this directory is already packed");
    PseudoConfig c;
    c.file_base = field("model_file_base_name").get<std::string>();
    auto& m = c.method;
    m.algorithm = literal(field("algorithm").get<std::string>(), {"gptq", "rtn"}, where + " algorithm");
    m.block_scales = literal(field("block_scales").get<std::string>(), {"dynamic", "static"}, where + " block_scales");
    m.desc_act = field("desc_act").get<bool>();
    m.static_groups = field("static_groups").get<bool>();
    m.true_sequential = field("true_sequential").get<bool>();
    m.damp_percent = field("damp_percent").get<double>();
    m.fuse_scales = field("fuse_scales").get<bool>();
    if (!field("block_size").is_null()) m.block_size = field("block_size").get<int64_t>();
    // The scale choices of §4b (absent in checkpoints written before them: the defaults).
    m.scale_rule.search = literal(j.value("block_scale_search", std::string("none")), {"none", "mse"},
                                  where + " block_scale_search") == std::string("mse")
                              ? nvfp4::BlockScaleSearch::Mse
                              : nvfp4::BlockScaleSearch::None;
    m.scale_rule.scale2_max = j.value("scale2_max", 448.0f);
    if (!(m.scale_rule.scale2_max >= 1 && m.scale_rule.scale2_max <= 448))
      throw Error(where + ": scale2_max " + std::to_string(m.scale_rule.scale2_max) + " is outside [1, 448]");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

// The original model must hold every tensor of the pseudo checkpoint with the same shape.
void check_same_tensors(const io::ModelDir& pseudo, const io::ModelDir& orig) {
  for (const auto& name : pseudo.tensor_names()) {
    if (!orig.has(name))
      throw Error(orig.dir().string() + ": tensor '" + name + "' of " + pseudo.dir().string() +
                  " is missing: not the model this checkpoint was quantized from");
    const auto &a = pseudo.tensor(name).info->shape, &b = orig.tensor(name).info->shape;
    if (a != b)
      throw Error(orig.dir().string() + ": tensor '" + name + "' is " + io::shape_str(b) + ", " +
                  io::shape_str(a) + " in " + pseudo.dir().string());
  }
}

// A scale of the scales file must be finite and >= 0 (a negative scale_2 would negate the weights).
void check_scalar(const fs::path& file, const std::string& tensor, uint64_t index, float v) {
  if (!std::isfinite(v) || v < 0)
    throw Error(fmt::format("{}: tensor '{}' element {} is {}; a finite value >= 0 was expected", file.string(), tensor,
                            index, v));
}

// FP8 block scales are positive: no sign bit (a negated block) and no NaN (0x7f).
void check_block_scales(const fs::path& file, const std::string& M, const uint8_t* s, uint64_t n, uint64_t first) {
  for (uint64_t i = 0; i < n; ++i)
    if ((s[i] & 0x80) || s[i] == 0x7f)
      throw Error(fmt::format("{}: tensor '{}.per_block_scale' element {} is the FP8 byte 0x{:02x} ({}); a positive "
                              "finite block scale was expected",
                              file.string(), M, first + i, s[i], numeric::e4m3_to_f32(s[i])));
}

// The modules quantization_report.json lists as quantized must have their block scales (a scales file that lost
// some would otherwise export them as unquantized).
void check_against_report(const fs::path& from, const model::ModelPlan& plan, const fs::path& scales) {
  const auto path = from / "quantization_report.json";
  if (!fs::exists(path)) return;
  const auto r = io::read_json_unordered(path, io::kIndexLimits);  // one key per module: a sorted map
  if (!r.contains("modules") || !r.at("modules").is_object()) return;
  for (const auto& lp : plan.layers)
    for (const auto& m : lp.linears)
      if (!m.quantize && r.at("modules").contains(m.module))
        throw Error(scales.string() + ": tensor '" + m.scale_module() + ".per_block_scale' is missing, but " +
                    path.string() + " lists " + m.module + " as quantized");
}

}  // namespace

ExportSummary export_packed(const ExportOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<fs::path> inputs{o.from};
  if (!o.model_dir.empty()) inputs.push_back(o.model_dir);
  io::check_output_dir(o.out_dir, o.overwrite, inputs);
  const io::ModelDir pseudo(o.from);
  const auto pc = read_pseudo_config(o.from);
  const auto scales_path = o.from / (pc.file_base + "_scales.safetensors");
  if (!fs::exists(scales_path))
    throw Error(scales_path.string() + " is missing: the pseudo checkpoint's scales file is needed to export it",
                ErrorKind::MissingFile);
  const io::SafetensorsFile scales(scales_path);
  std::unique_ptr<io::ModelDir> orig;
  if (!o.model_dir.empty()) {
    orig = std::make_unique<io::ModelDir>(o.model_dir);
    check_same_tensors(pseudo, *orig);
  }
  const io::ModelDir& rest = orig ? *orig : pseudo;

  // The plan of the model, quantized exactly where the scales file has block scales.
  auto plan = model::plan_model(pseudo);
  PackedOptions packed = o.packed;
  bool dtype_known = false;
  for (auto& lp : plan.layers)
    for (auto& m : lp.linears) {
      m.quantize = scales.find(m.scale_module() + ".per_block_scale") != nullptr;
      if (!m.quantize) {
        if (m.skip_reason.empty()) m.skip_reason = "not quantized in " + o.from.string();
        continue;
      }
      const DType d = pseudo.tensor(m.tensor).info->dtype;
      if (d != DType::F16 && d != DType::BF16)
        throw Error(fmt::format("{}: tensor '{}' is {}; a pseudo-quantized weight is F16 or BF16", o.from.string(),
                                m.tensor, numeric::dtype_name(d)));
      if (dtype_known && d != packed.stored_dtype)
        throw Error(fmt::format("{}: tensor '{}' is {}, the other quantized weights {}", o.from.string(), m.tensor,
                                numeric::dtype_name(d), numeric::dtype_name(packed.stored_dtype)));
      packed.stored_dtype = d;
      dtype_known = true;
      if (packed.w4a4 && !scales.find(m.scale_module() + ".input_amax"))
        throw Error(fmt::format("{}: tensor '{}.input_amax' is missing: W4A4 needs the calibration input amax, "
                                "which a round-to-nearest checkpoint does not have",
                                scales_path.string(), m.scale_module()));
    }
  check_against_report(o.from, plan, scales_path);
  check_packable(plan, pc.method.fuse_scales, packed.packing);

  io::CheckpointWriter out(o.out_dir, o.overwrite, make_packed_plan(rest, plan, packed, o.max_shard_bytes));
  out.keep_staging_on_failure(false);
  const auto format = make_packed_checkpoint(out, rest, plan, packed);
  const auto by_layer = tensors_by_layer(rest, static_cast<int64_t>(plan.layers.size()));
  Progress progress("export", static_cast<int64_t>(plan.layers.size()), o.quiet);
  ExportSummary s;
  const int64_t E = plan.config.num_experts;
  std::vector<uint16_t> stored;  // scratch, kept between modules
  for (const auto& lp : plan.layers) {
    if (o.cancelled && o.cancelled()) throw Cancelled();
    for (const auto& m : lp.linears) {
      if (!m.quantize) continue;
      const std::string& M = m.scale_module();
      const uint64_t n = static_cast<uint64_t>(m.out * m.in), blocks = n / nvfp4::kBlockSize;
      const uint64_t slices = m.fused() ? static_cast<uint64_t>(E * m.parts) : 1;
      // The stored weight as its 16-bit patterns, in place when aligned (copied otherwise).
      const auto& w = pseudo.tensor(m.tensor);
      const std::byte* raw = w.file->bytes(*w.info).data() + m.offset() * sizeof(uint16_t);
      const uint16_t* bits = reinterpret_cast<const uint16_t*>(raw);
      if (reinterpret_cast<uintptr_t>(raw) % alignof(uint16_t) != 0) {
        stored.resize(n);
        std::memcpy(stored.data(), raw, n * sizeof(uint16_t));
        bits = stored.data();
      }
      const auto& bs = scales.expect(M + ".per_block_scale", DType::F8_E4M3, blocks * slices);
      const auto* block_scales =
          reinterpret_cast<const uint8_t*>(scales.bytes(bs).data()) + m.offset() / nvfp4::kBlockSize;
      check_block_scales(scales_path, M, block_scales, blocks, m.offset() / nvfp4::kBlockSize);
      float scale_2 = 0, amax = 0;
      const auto slot = static_cast<uint64_t>(m.fused() ? m.expert * m.parts + m.part : 0);
      scales.read_f32(scales.expect(M + ".scale_2", DType::F32, slices), slot, 1, &scale_2);
      check_scalar(scales_path, M + ".scale_2", slot, scale_2);
      if (scales.find(M + ".input_amax")) {
        const auto at = static_cast<uint64_t>(m.fused() ? m.expert : 0);
        scales.read_f32(scales.expect(M + ".input_amax", DType::F32, m.fused() ? E : 1), at, 1, &amax);
        check_scalar(scales_path, M + ".input_amax", at, amax);
      }
      format->write_stored(m, bits, block_scales, scale_2, amax);
      ++s.modules;
    }
    format->write_rest(by_layer.layers[lp.index]);
    pseudo.release_all();
    progress.layer_done(lp.index, "");
  }
  format->write_rest(by_layer.others);
  format->finish(pc.method, nullptr);  // the report is the quantize run's, copied as it is
  if (const auto r = o.from / "quantization_report.json"; fs::exists(r)) out.copy_file(r);
  out.commit();
  // Bytes read: the quantized weights and the scales file from the pseudo checkpoint, the rest from `rest`.
  std::set<std::string> quantized_tensors;
  for (const auto* m : plan.quantized()) quantized_tensors.insert(m->tensor);
  for (const auto& name : rest.tensor_names())
    s.input_bytes += (quantized_tensors.count(name) ? pseudo : rest).tensor(name).info->nbytes();
  s.input_bytes += scales.file_size();
  for (const auto& e : fs::directory_iterator(o.out_dir))
    if (e.path().extension() == ".safetensors") s.output_bytes += e.file_size();
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace fp4gptq::pipeline
