#include "pipeline/checkpoint_output.hpp"

#include <algorithm>
#include <set>

#include <fmt/core.h>

#include "fp4gptq/error.hpp"
#include "numeric/finite.hpp"
#include "nvfp4/scale_rules.hpp"
#include "pipeline/log.hpp"

namespace fp4gptq::pipeline {

namespace fs = std::filesystem;

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::BF16:
      return "bfloat16";
    case DType::F32:
      return "float32";
    default:
      return "float16";
  }
}

namespace {

constexpr uint64_t kChunkElems = 1u << 20;  // 4 MB of FP32 per chunk


Error beyond_range(const std::string& what, DType dtype) {
  return Error(what + " has values beyond the range of " + torch_dtype_name(dtype) +
               (dtype == DType::F16 ? " (a bfloat16 output keeps the range)" : ""));
}

// NaN/Inf among `count` values at element `first` of tensor `name`: an error, or with `allow` a warning (once per
// tensor, through `warned`). `where` prefixes messages (the source file, when there is one).
void check_finite(const std::string& where, const std::string& name, const float* v, uint64_t first, uint64_t count,
                  bool allow, bool* warned) {
  const size_t i = numeric::first_non_finite(v, count);
  if (i == count) return;
  const std::string what = where + "tensor '" + name + "' has a non-finite value (" + std::to_string(v[i]) +
                           ") at element " + std::to_string(first + i);
  if (!allow) throw Error(what + (warned ? " (refused unless non-finite copies are allowed)" : ""));
  if (!*warned) log_warning(fmt::format("{}; copied as it is (non-finite values allowed)", what));
  *warned = true;
}

// Casts `count` FP32 values to `dtype` and writes them at element `first` of tensor `name`.
void write_f32_span(io::CheckpointWriter& out, const std::string& where, const std::string& name, const float* v,
                    uint64_t first, uint64_t count, DType dtype) {
  const size_t esize = numeric::dtype_size(dtype);
  std::vector<std::byte> buf(count * esize);
  if (numeric::from_f32(dtype, v, buf.data(), count) != 0) throw beyond_range(where + "tensor '" + name + "'", dtype);
  out.write_model_part(name, first * esize, buf.data(), buf.size());
}

}  // namespace

void write_cast(io::CheckpointWriter& out, const io::TensorRef& src, DType dtype, bool allow_nonfinite) {
  write_cast_slice(out, src, 0, src.info->numel(), src.info->name, dtype, allow_nonfinite);
}

// Elements [begin, begin + n) of the source go to elements [0, n) of `dest`; messages name the source tensor and
// its element indices.
void write_cast_slice(io::CheckpointWriter& out, const io::TensorRef& src, uint64_t begin, uint64_t n,
                      const std::string& dest, DType dtype, bool allow_nonfinite) {
  const auto& info = *src.info;
  const size_t esize = numeric::dtype_size(info.dtype);
  const std::byte* bytes = src.file->bytes(info).data() + begin * esize;
  if (!numeric::is_float(info.dtype)) {
    out.write_model_part(dest, 0, bytes, n * esize);
    return;
  }
  const std::string where = src.file->path().string() + ": ";
  bool warned = false;
  const bool as_is = info.dtype == dtype, on_bits = as_is && (dtype == DType::F16 || dtype == DType::BF16);
  std::vector<float> chunk(on_bits ? 0 : std::min<uint64_t>(n, kChunkElems));
  for (uint64_t first = 0; first < n; first += kChunkElems) {
    const uint64_t count = std::min<uint64_t>(kChunkElems, n - first);
    const std::byte* b = bytes + first * esize;
    if (on_bits) {
      // Copied as it is: checked on its bits, converted only to name a non-finite value.
      const uint16_t mask = dtype == DType::F16 ? 0x7c00 : 0x7f80;
      for (size_t i = numeric::first_non_finite_16(b, count, mask); i < count;
           i += 1 + numeric::first_non_finite_16(b + (i + 1) * esize, count - i - 1, mask)) {
        float v = 0;
        numeric::to_f32(dtype, b + i * esize, &v, 1);
        check_finite(where, info.name, &v, begin + first + i, 1, allow_nonfinite, &warned);
      }
    } else {
      src.file->read_f32(info, begin + first, count, chunk.data());
      check_finite(where, info.name, chunk.data(), begin + first, count, allow_nonfinite, &warned);
    }
    if (as_is)
      out.write_model_part(dest, first * esize, b, count * esize);
    else
      write_f32_span(out, where, dest, chunk.data(), first, count, dtype);
    src.file->release(info, begin + first, count);  // a 300 MB embedding never sits in RAM whole
  }
}

io::CheckpointPlan make_checkpoint_plan(const io::ModelDir& src, const model::ModelPlan& plan, DType dtype,
                                        uint64_t max_shard_bytes, bool with_input_amax) {
  io::CheckpointPlan cp;
  cp.max_shard_bytes = max_shard_bytes;
  for (const auto& name : src.tensor_names()) {
    const auto& info = *src.tensor(name).info;
    cp.model_tensors.push_back({name, numeric::is_float(info.dtype) ? dtype : info.dtype, info.shape});
  }
  std::set<std::string> fused_done;
  for (const auto* m : plan.quantized()) {
    const std::string& M = m->scale_module();
    io::Shape blocks{m->out, m->in / nvfp4::kBlockSize}, scalar{};
    if (m->fused()) {  // one set of tensors per fused tensor, with a leading expert dimension
      if (!fused_done.insert(M).second) continue;
      const int64_t E = plan.config.num_experts;
      blocks = {E, m->parts * m->out, m->in / nvfp4::kBlockSize};
      scalar = {E};
    }
    cp.scale_tensors.push_back({M + ".per_block_scale", DType::F8_E4M3, blocks});
    cp.scale_tensors.push_back({M + ".scale_2", DType::F32, m->parts > 1 ? io::Shape{scalar[0], m->parts} : scalar});
    cp.scale_tensors.push_back({M + ".g_idx", DType::I32, {m->in}});
    if (with_input_amax) cp.scale_tensors.push_back({M + ".input_amax", DType::F32, scalar});
  }
  return cp;
}

void round_to_dtype(const std::string& tensor, DType dtype, std::vector<float>& v) {
  std::vector<uint16_t> tmp(v.size());
  if (numeric::from_f32(dtype, v.data(), tmp.data(), v.size()) != 0) throw beyond_range("tensor '" + tensor + "'", dtype);
  numeric::to_f32(dtype, tmp.data(), v.data(), v.size());
}

void PseudoQuantizedCheckpoint::as_stored(const model::PlannedLinear& m, std::vector<float>& v) const {
  round_to_dtype(m.tensor, dtype_, v);
}

// The module's weight goes into its own tensor or its slice of a fused expert tensor. A fused tensor's slices
// each write their part of M's scale tensors: per_block_scale at the module's block offset (one byte per
// block), scale_2 at [expert, part]; g_idx (the same for every expert) and input_amax (one per expert: gate
// and up share an input) come with the first part.
void PseudoQuantizedCheckpoint::write_module(const model::PlannedLinear& m, const nvfp4::QuantizedMatrix& q,
                                             float input_amax) {
  const auto n = static_cast<uint64_t>(m.out * m.in), at = m.offset();
  for (uint64_t first = 0; first < n; first += kChunkElems) {
    const uint64_t count = std::min<uint64_t>(kChunkElems, n - first);
    check_finite("", m.tensor, q.dequant.data() + first, at + first, count, false, nullptr);
    write_f32_span(out_, "", m.tensor, q.dequant.data() + first, at + first, count, dtype_);
  }
  written_.insert(m.tensor);
  const std::string& M = m.scale_module();
  out_.write_scale_part(M + ".per_block_scale", at / nvfp4::kBlockSize, q.block_scales.data(), q.block_scales.size());
  const auto slot = static_cast<uint64_t>(m.fused() ? m.expert * m.parts + m.part : 0);
  out_.write_scale_part(M + ".scale_2", slot * sizeof(float), &q.scale_2, sizeof(float));
  if (with_input_amax_ && m.part == 0)
    out_.write_scale_part(M + ".input_amax", static_cast<uint64_t>(m.fused() ? m.expert : 0) * sizeof(float),
                          &input_amax, sizeof(float));
  if (m.fused() && (m.expert != 0 || m.part != 0)) return;
  const auto g_idx = nvfp4::g_idx(q.cols);
  out_.write_scale(M + ".g_idx", g_idx.data(), g_idx.size() * sizeof(int32_t));
}

void PseudoQuantizedCheckpoint::write_rest(const std::vector<std::string>& names) {
  for (const auto& name : names)
    if (written_.insert(name).second) write_cast(out_, src_.tensor(name), dtype_, allow_nonfinite_);
  for (const auto& name : names) src_.tensor(name).release();
}

void PseudoQuantizedCheckpoint::finish(const MethodFields& method, const nlohmann::ordered_json& report) {
  out_.write_json("config.json", output_config(src_.config(), dtype_));
  out_.write_json("quantize_config.json", quantize_config(method, out_.file_base()));
  for (const auto& f : side_files(src_.dir())) out_.copy_file(f);
  out_.write_json("quantization_report.json", report);
}

nlohmann::ordered_json quantize_config(const MethodFields& m, const std::string& model_file_base_name) {
  return {{"bits", 4},
          {"group_size", nvfp4::kBlockSize},
          {"desc_act", m.desc_act},
          {"static_groups", m.static_groups},
          {"sym", true},
          {"damp_percent", m.damp_percent},
          {"true_sequential", m.true_sequential},
          {"quant_method", "nvfp4"},
          {"algorithm", m.algorithm},
          {"block_scales", m.block_scales},
          {"fuse_scales", m.fuse_scales},
          {"block_scale_search", nvfp4::search_name(m.scale_rule.search)},
          {"scale2_max", m.scale_rule.scale2_max},
          {"block_size", m.block_size ? nlohmann::ordered_json(*m.block_size) : nlohmann::ordered_json()},
          {"model_file_base_name", model_file_base_name},
          {"pseudo_quantized", true}};
}

TensorsByLayer tensors_by_layer(const io::ModelDir& src, int64_t num_layers) {
  TensorsByLayer t;
  t.layers.resize(static_cast<size_t>(num_layers));
  for (const auto& name : src.tensor_names()) {
    const int64_t l = model::layer_of(name);
    (l >= 0 && l < num_layers ? t.layers[l] : t.others).push_back(name);
  }
  return t;
}

nlohmann::ordered_json output_config(const nlohmann::ordered_json& in, DType dtype) {
  nlohmann::ordered_json out = in;
  out.erase("quantization_config");
  out["torch_dtype"] = torch_dtype_name(dtype);
  if (out.contains("dtype")) out["dtype"] = torch_dtype_name(dtype);
  return out;
}

std::vector<fs::path> side_files(const fs::path& dir) {
  static const std::set<std::string> names = {"tokenizer.json",
                                              "tokenizer_config.json",
                                              "tokenizer.model",
                                              "special_tokens_map.json",
                                              "added_tokens.json",
                                              "vocab.json",
                                              "vocab.txt",
                                              "merges.txt",
                                              "generation_config.json",
                                              "chat_template.json",
                                              "chat_template.jinja",
                                              "preprocessor_config.json",
                                              "processor_config.json"};
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const auto name = e.path().filename().string();
    const auto ext = e.path().extension().string();
    if (names.count(name) || ext == ".tiktoken" || ext == ".jinja") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace fp4gptq::pipeline
