#pragma once
// Checks of a pseudo-quantized checkpoint directory (DESIGN §7) against its source model, shared by the rtn
// and quantize end-to-end tests. Expectations are computed here from the source and the stored bytes, not by
// the code under test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::test {

namespace fs = std::filesystem;
using numeric::DType;

inline std::vector<uint16_t> raw16(const io::TensorRef& t) {
  const auto b = t.file->bytes(*t.info);
  std::vector<uint16_t> v(b.size() / 2);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

inline uint16_t to_bits(float v, DType dt) {
  return dt == DType::BF16 ? numeric::f32_to_bf16(v) : numeric::f32_to_f16(v);
}

// What the checks see of one quantized module (its slice, for an expert of a fused 3D tensor).
struct QuantizedModule {
  const model::PlannedLinear* plan;
  std::vector<float> source;     // the source weight, FP32 [out, in]
  std::vector<uint16_t> stored;  // the output weight's bits (fp16 or bf16)
  std::vector<uint8_t> scales;   // per_block_scale bytes [out, in/16]
  float scale_2 = 0;
  float input_amax = 0;
};

// Where a module lives in its tensors, computed here from DESIGN §7: a 2D weight whole; expert e's part p
// (gate 0, up 1) of a fused [E, parts·out, in] tensor at rows (e·parts + p)·out.
struct Slot {
  std::string M;           // scales-file prefix
  uint64_t first_row = 0;  // first row of the module in the (flattened) weight / per_block_scale
  uint64_t scalar = 0;     // index into M.scale_2 (flattened [E, parts]) and M.input_amax ([E]) is expert
  io::Shape blocks, scale_2, input_amax;
};
inline Slot slot_of(const model::PlannedLinear& m, int64_t experts) {
  if (!m.fused()) return {m.module, 0, 0, {m.out, m.in / 16}, {}, {}};
  const int64_t parts = m.tensor.ends_with("gate_up_proj") ? 2 : 1;
  const int64_t part = m.module.ends_with(".up_proj") ? 1 : 0;
  return {m.tensor,
          static_cast<uint64_t>((m.expert * parts + part) * m.out),
          static_cast<uint64_t>(m.expert * parts + part),
          {experts, parts * m.out, m.in / 16},
          parts == 2 ? io::Shape{experts, 2} : io::Shape{experts},
          {experts}};
}

struct CheckOptions {
  std::vector<std::string> exclude;
  DType dtype = DType::F16;
  bool fuse_scales = true;
  bool input_amax = false;  // the scales file also holds M.input_amax
};

// Checks files, config, index, shapes, dtypes, the scales-file tensors, that every quantized weight is
// to_bits(e2m1(c) · fp8(scale) · scale_2) for some code c and its stored scale, that scale_2 follows the
// (fused) amax rule, and that every other tensor is the source cast. `per_module` adds checks per module.
inline void check_checkpoint(const fs::path& src_dir, const fs::path& out_dir, const CheckOptions& o,
                             const std::function<void(const QuantizedModule&)>& per_module = {}) {
  const io::ModelDir src(src_dir);
  const auto plan = model::plan_model(src, model::ModuleFilter(o.exclude));
  const int64_t E = plan.config.num_experts;
  const char* dtype_name = o.dtype == DType::BF16 ? "bfloat16" : "float16";

  for (const char* f :
       {"config.json", "quantize_config.json", "quantization_report.json", "model.safetensors.index.json",
        "pseudo_quantized_model-4bit-16g_scales.safetensors", "generation_config.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(out_dir / f)) << f;
  const auto out_cfg = io::read_json(out_dir / "config.json");
  EXPECT_EQ(out_cfg["torch_dtype"], dtype_name);
  EXPECT_FALSE(out_cfg.contains("quantization_config"));
  EXPECT_EQ(out_cfg["architectures"], src.config()["architectures"]);
  EXPECT_EQ(out_cfg["hidden_size"], src.config()["hidden_size"]);
  const auto qc = io::read_json(out_dir / "quantize_config.json");
  EXPECT_EQ(qc["bits"], 4);
  EXPECT_EQ(qc["group_size"], 16);
  EXPECT_EQ(qc["sym"], true);
  EXPECT_EQ(qc["quant_method"], "nvfp4");
  EXPECT_EQ(qc["pseudo_quantized"], true);
  EXPECT_EQ(qc["model_file_base_name"], "pseudo_quantized_model-4bit-16g");
  EXPECT_EQ(qc["fuse_scales"], o.fuse_scales);
  const auto report = io::read_json(out_dir / "quantization_report.json");
  EXPECT_EQ(report["modules"].size(), plan.quantized().size());

  // Structural load check: the index covers every tensor of the main file(s) and only those.
  const auto index = io::read_json(out_dir / "model.safetensors.index.json");
  std::set<std::string> mapped;
  for (const auto& [name, file] : index["weight_map"].items()) {
    mapped.insert(name);
    const io::SafetensorsFile f(out_dir / file.get<std::string>());
    EXPECT_TRUE(f.find(name)) << name << " not in " << file;
  }
  EXPECT_EQ(mapped, std::set<std::string>(src.tensor_names().begin(), src.tensor_names().end()));
  const io::ModelDir out(out_dir);  // loads through index.json, as transformers would
  EXPECT_EQ(out.tensor_names().size(), src.tensor_names().size());
  for (const auto& name : src.tensor_names()) {
    ASSERT_TRUE(out.has(name)) << name;
    EXPECT_EQ(out.tensor(name).info->shape, src.tensor(name).info->shape) << name;
    EXPECT_EQ(out.tensor(name).info->dtype, o.dtype) << name;
  }

  // The scales file holds exactly the planned modules' tensors.
  const io::SafetensorsFile scales(out_dir / "pseudo_quantized_model-4bit-16g_scales.safetensors");
  std::set<std::string> expected_scales, got_scales;
  for (const auto* m : plan.quantized())
    for (const char* s : {".per_block_scale", ".scale_2", ".g_idx", ".input_amax"})
      if (o.input_amax || std::string(s) != ".input_amax") expected_scales.insert(slot_of(*m, E).M + s);
  for (const auto& t : scales.tensors()) got_scales.insert(t.name);
  EXPECT_EQ(got_scales, expected_scales);

  auto slice = [](const io::TensorRef& t, const model::PlannedLinear& m, uint64_t first_row) {
    std::vector<float> v(static_cast<size_t>(m.out * m.in));
    t.file->read_f32(*t.info, first_row * m.in, v.size(), v.data());
    return v;
  };
  std::map<std::string, float> amax;
  for (const auto* m : plan.quantized()) {
    const auto w = slice(src.tensor(m->tensor), *m, slot_of(*m, E).first_row);
    float a = 0;
    for (float v : w) a = std::max(a, std::fabs(v));
    auto& g = amax[o.fuse_scales ? m->input_key : m->module];
    g = std::max(g, a);
  }
  std::set<std::string> quantized_weights;
  for (const auto* m : plan.quantized()) {
    const Slot at = slot_of(*m, E);
    quantized_weights.insert(m->tensor);
    QuantizedModule q{m, slice(src.tensor(m->tensor), *m, at.first_row), {}, {}, 0, 0};
    const auto all = raw16(out.tensor(m->tensor));
    q.stored.assign(all.begin() + static_cast<int64_t>(at.first_row * m->in),
                    all.begin() + static_cast<int64_t>((at.first_row + m->out) * m->in));
    const auto& pbs = scales.at(at.M + ".per_block_scale");
    ASSERT_EQ(pbs.dtype, DType::F8_E4M3);
    ASSERT_EQ(pbs.shape, at.blocks);
    const auto bytes = scales.bytes(pbs);
    const auto* b0 = reinterpret_cast<const uint8_t*>(bytes.data()) + at.first_row * (m->in / 16);
    q.scales.assign(b0, b0 + m->out * (m->in / 16));
    const auto& s2 = scales.at(at.M + ".scale_2");
    ASSERT_EQ(s2.shape, at.scale_2);
    q.scale_2 = scales.read_f32(s2)[at.scalar];
    EXPECT_EQ(q.scale_2, amax[o.fuse_scales ? m->input_key : m->module] / 2688.0f) << m->module;
    const auto& gi = scales.at(at.M + ".g_idx");
    ASSERT_EQ(gi.dtype, DType::I32);
    ASSERT_EQ(gi.shape, io::Shape{m->in});
    std::vector<int32_t> g(static_cast<size_t>(m->in));
    std::memcpy(g.data(), scales.bytes(gi).data(), g.size() * 4);
    for (int64_t i = 0; i < m->in; ++i) ASSERT_EQ(g[i], i / 16);
    if (o.input_amax) {
      const auto& ia = scales.at(at.M + ".input_amax");
      EXPECT_EQ(ia.shape, at.input_amax);
      q.input_amax = scales.read_f32(ia)[m->fused() ? static_cast<size_t>(m->expert) : 0];
      EXPECT_TRUE(std::isfinite(q.input_amax));
      if (report["modules"][m->module]["tokens"].get<int64_t>() > 0)
        EXPECT_GT(q.input_amax, 0.0f) << m->module;
      else
        EXPECT_EQ(q.input_amax, 0.0f) << m->module << " saw no calibration token";
    }
    size_t bad_value = 0;
    for (int64_t r = 0; r < m->out; ++r)
      for (int64_t i = 0; i < m->in; ++i) {
        const float eff = numeric::e4m3_to_f32(q.scales[r * (m->in / 16) + i / 16]) * q.scale_2;
        bool match = false;
        for (int c = 0; c < 16 && !match; ++c)
          match = to_bits(numeric::e2m1_decode(static_cast<uint8_t>(c)) * eff, o.dtype) == q.stored[r * m->in + i];
        bad_value += !match;
      }
    EXPECT_EQ(bad_value, 0u) << m->module << ": values that are no e2m1 · fp8(scale) · scale_2";
    if (per_module) per_module(q);
  }
  for (const auto& name : src.tensor_names()) {
    if (quantized_weights.count(name)) continue;
    const auto s = src.tensor(name).read_f32();
    const auto d = raw16(out.tensor(name));
    size_t diff = 0;
    for (size_t i = 0; i < s.size(); ++i) diff += d[i] != to_bits(s[i], o.dtype);
    EXPECT_EQ(diff, 0u) << name << " must be the source cast to " << dtype_name;
  }
}

// Byte equality of every *.safetensors file of two directories.
inline void expect_same_safetensors(const fs::path& a, const fs::path& b) {
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(a)) {
    if (e.path().extension() != ".safetensors") continue;
    ++files;
    std::ifstream fa(e.path(), std::ios::binary), fb(b / e.path().filename(), std::ios::binary);
    const std::string sa((std::istreambuf_iterator<char>(fa)), {}), sb((std::istreambuf_iterator<char>(fb)), {});
    EXPECT_TRUE(sa == sb) << e.path().filename() << " differs";
  }
  EXPECT_GE(files, 2u);
}

}  // namespace fp4gptq::test
