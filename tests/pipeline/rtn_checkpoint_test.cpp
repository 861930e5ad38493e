// `rtn` end to end on generated models of every architecture. The output is checked against independent
// expectations: every quantized weight is fp16(e2m1 · fp8(scale) · scale_2) for its stored scales and the
// code nearest to the source weight; scales follow DESIGN §4 recomputed here from the source; everything
// else is the source cast to fp16; the directory passes a structural load check.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"
#include "pipeline/rtn.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::pipeline {
namespace {

namespace fs = std::filesystem;
using numeric::DType;

struct Case {
  const char* label;
  tools::TinyModelOptions model;
  RtnOptions rtn;
};

tools::TinyModelOptions tiny(const char* arch) {
  tools::TinyModelOptions o;
  o.arch = arch;
  o.layers = 2;
  o.hidden = 64;
  o.intermediate = 96;
  o.heads = 4;
  o.kv_heads = 2;
  o.head_dim = 16;
  o.vocab = 128;
  o.experts = 4;
  o.moe_intermediate = 32;
  o.calib_samples = 1;
  return o;
}

std::vector<uint16_t> raw16(const io::TensorRef& t) {
  const auto b = t.file->bytes(*t.info);
  std::vector<uint16_t> v(b.size() / 2);
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

uint16_t from_f32(float v, DType dt) { return dt == DType::BF16 ? numeric::f32_to_bf16(v) : numeric::f32_to_f16(v); }

void verify(const fs::path& src_dir, const fs::path& out_dir, const RtnOptions& o) {
  const io::ModelDir src(src_dir);
  const auto cfg = model::ModelConfig::parse(src.config(), "config.json");
  const auto plan = model::make_plan(cfg, model::ModuleFilter(o.exclude));
  const char* dtype_name = o.dtype == DType::BF16 ? "bfloat16" : "float16";

  // Files of DESIGN §7.
  for (const char* f : {"config.json", "quantize_config.json", "quantization_report.json", "model.safetensors.index.json",
                        "pseudo_quantized_model-4bit-16g_scales.safetensors", "generation_config.json",
                        "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(out_dir / f)) << f;
  const auto out_cfg = io::read_json(out_dir / "config.json");
  EXPECT_EQ(out_cfg["torch_dtype"], dtype_name);
  EXPECT_FALSE(out_cfg.contains("quantization_config"));
  EXPECT_EQ(out_cfg["architectures"], src.config()["architectures"]);
  EXPECT_EQ(out_cfg["hidden_size"], src.config()["hidden_size"]);
  const auto qc = io::read_json(out_dir / "quantize_config.json");
  EXPECT_EQ(qc["bits"], 4);
  EXPECT_EQ(qc["group_size"], 16);
  EXPECT_EQ(qc["quant_method"], "nvfp4");
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
  const std::set<std::string> src_names(src.tensor_names().begin(), src.tensor_names().end());
  EXPECT_EQ(mapped, src_names);
  const io::ModelDir out(out_dir);  // loads through index.json, as transformers would
  EXPECT_EQ(out.tensor_names().size(), src.tensor_names().size());
  for (const auto& name : src.tensor_names()) {
    ASSERT_TRUE(out.has(name)) << name;
    EXPECT_EQ(out.tensor(name).info->shape, src.tensor(name).info->shape) << name;
    EXPECT_EQ(out.tensor(name).info->dtype, o.dtype) << name;
  }

  const io::SafetensorsFile scales(out_dir / "pseudo_quantized_model-4bit-16g_scales.safetensors");
  std::set<std::string> quantized_weights;
  std::map<std::string, float> group_amax;
  for (const auto* m : plan.quantized()) {
    const auto w = src.tensor(m->weight()).read_f32();
    float a = 0;
    for (float v : w) a = std::max(a, std::fabs(v));
    group_amax[o.fuse_scales ? m->input_key : m->module] = std::max(group_amax[o.fuse_scales ? m->input_key : m->module], a);
  }
  EXPECT_EQ(scales.tensors().size(), 3 * plan.quantized().size());
  for (const auto* m : plan.quantized()) {
    quantized_weights.insert(m->weight());
    const auto w = src.tensor(m->weight()).read_f32();
    const auto stored = raw16(out.tensor(m->weight()));
    const auto& pbs_info = scales.at(m->module + ".per_block_scale");
    ASSERT_EQ(pbs_info.dtype, DType::F8_E4M3);
    ASSERT_EQ(pbs_info.shape, (io::Shape{m->out, m->in / 16}));
    const auto pbs = scales.bytes(pbs_info);
    const auto& s2_info = scales.at(m->module + ".scale_2");
    ASSERT_EQ(s2_info.shape, io::Shape{});
    const float s2 = scales.read_f32(s2_info)[0];
    EXPECT_EQ(s2, group_amax[o.fuse_scales ? m->input_key : m->module] / 2688.0f) << m->module;
    const auto& gi = scales.at(m->module + ".g_idx");
    ASSERT_EQ(gi.dtype, DType::I32);
    std::vector<int32_t> g(static_cast<size_t>(m->in));
    std::memcpy(g.data(), scales.bytes(gi).data(), g.size() * 4);
    for (int64_t i = 0; i < m->in; ++i) ASSERT_EQ(g[i], i / 16);

    size_t bad_value = 0, not_nearest = 0, bad_scale = 0;
    for (int64_t r = 0; r < m->out; ++r)
      for (int64_t b = 0; b < m->in / 16; ++b) {
        float bmax = 0;
        for (int k = 0; k < 16; ++k) bmax = std::max(bmax, std::fabs(w[r * m->in + b * 16 + k]));
        const uint8_t byte = static_cast<uint8_t>(pbs[r * (m->in / 16) + b]);
        const uint8_t expect_byte = bmax == 0 ? 0x38 : numeric::f32_to_e4m3(bmax / (6.0f * s2));
        bad_scale += byte != expect_byte;
        const float eff = numeric::e4m3_to_f32(byte) * s2;
        for (int k = 0; k < 16; ++k) {
          const size_t i = static_cast<size_t>(r * m->in + b * 16 + k);
          // Some code c must give exactly the stored bits: fp16(e2m1(c) · eff), RNE of the FP32 product.
          int match = -1;
          double best = INFINITY;
          for (int c = 0; c < 16; ++c) {
            const float cand = numeric::e2m1_decode(static_cast<uint8_t>(c)) * eff;
            if (from_f32(cand, o.dtype) == stored[i]) match = c;
            best = std::min(best, std::fabs(static_cast<double>(w[i]) - cand));
          }
          bad_value += match < 0;
          if (match >= 0) {
            const float chosen = numeric::e2m1_decode(static_cast<uint8_t>(match)) * eff;
            not_nearest += std::fabs(static_cast<double>(w[i]) - chosen) > best * (1 + 1e-6) + 1e-12;
          }
        }
      }
    EXPECT_EQ(bad_scale, 0u) << m->module;
    EXPECT_EQ(bad_value, 0u) << m->module;
    EXPECT_EQ(not_nearest, 0u) << m->module;
  }
  for (const auto& name : src.tensor_names()) {
    if (quantized_weights.count(name)) continue;
    const auto s = src.tensor(name).read_f32();
    const auto d = raw16(out.tensor(name));
    size_t diff = 0;
    for (size_t i = 0; i < s.size(); ++i) diff += d[i] != from_f32(s[i], o.dtype);
    EXPECT_EQ(diff, 0u) << name << " must be the source cast to " << dtype_name;
  }
  // Quantization changed the weights (the test can fail): some quantized weight differs from its cast source.
  if (!plan.quantized().empty()) {
    const auto* m = plan.quantized().front();
    const auto s = src.tensor(m->weight()).read_f32();
    const auto d = raw16(out.tensor(m->weight()));
    size_t changed = 0;
    for (size_t i = 0; i < s.size(); ++i) changed += d[i] != from_f32(s[i], o.dtype);
    EXPECT_GT(changed, s.size() / 2);
  }
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

class RtnCheckpoint : public ::testing::TestWithParam<Case> {};

TEST_P(RtnCheckpoint, OutputsMatchIndependentExpectations) {
  test::ScratchDir dir;
  auto c = GetParam();
  tools::make_tiny_model(dir / "model", c.model);
  c.rtn.model_dir = dir / "model";
  c.rtn.out_dir = dir / "out";
  c.rtn.quiet = true;
  const auto s = run_rtn(c.rtn);
  EXPECT_GT(s.quantized_modules, 0);
  verify(dir / "model", dir / "out", c.rtn);
  EXPECT_TRUE(test::nothing_named(dir.path(), "out.partial"));
}

Case with(const char* label, tools::TinyModelOptions m, std::function<void(tools::TinyModelOptions&, RtnOptions&)> f = {}) {
  Case c{label, std::move(m), {}};
  if (f) f(c.model, c.rtn);
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, RtnCheckpoint,
    ::testing::Values(
        with("qwen3", tiny("Qwen3ForCausalLM")),
        with("llama_biases_fp16_source", tiny("LlamaForCausalLM"),
             [](auto& m, auto&) {
               m.attention_bias = true;
               m.dtype = "float16";
             }),
        with("qwen2", tiny("Qwen2ForCausalLM")), with("mistral_tied", tiny("MistralForCausalLM"), [](auto& m, auto&) {
          m.tie_embeddings = true;
        }),
        with("qwen3moe", tiny("Qwen3MoeForCausalLM"), [](auto& m, auto&) { m.mlp_only_layers = {1}; }),
        with("sharded_in_and_out", tiny("Qwen3ForCausalLM"),
             [](auto& m, auto& r) {
               m.shards = 3;
               r.max_shard_bytes = 40000;
             }),
        with("no_fuse_scales", tiny("Qwen3ForCausalLM"), [](auto&, auto& r) { r.fuse_scales = false; }),
        with("bfloat16_output", tiny("LlamaForCausalLM"), [](auto&, auto& r) { r.dtype = DType::BF16; }),
        with("exclude", tiny("Qwen3ForCausalLM"),
             [](auto&, auto& r) { r.exclude = {"layers\\.1\\.mlp", "k_proj$"}; })),
    [](const auto& info) { return std::string(info.param.label); });

TEST(RtnCheckpoint, ShardedOutputHasSeveralFilesAndFusedScalesAreShared) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "model", tiny("Qwen3ForCausalLM"));
  RtnOptions o;
  o.model_dir = dir / "model";
  o.out_dir = dir / "out";
  o.max_shard_bytes = 40000;
  o.quiet = true;
  run_rtn(o);
  const auto index = io::read_json(dir / "out" / "model.safetensors.index.json");
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
  EXPECT_GE(files.size(), 3u);  // ~150 kB of tensors in shards of at most 40 kB
  for (const auto& f : files) EXPECT_LE(fs::file_size(dir / "out" / f), 40000u + 8192u) << f;
  const io::SafetensorsFile scales(dir / "out" / "pseudo_quantized_model-4bit-16g_scales.safetensors");
  const auto s2 = [&](const std::string& m) { return scales.read_f32(scales.at("model.layers.0." + m + ".scale_2"))[0]; };
  EXPECT_EQ(s2("self_attn.q_proj"), s2("self_attn.k_proj"));
  EXPECT_EQ(s2("self_attn.q_proj"), s2("self_attn.v_proj"));
  EXPECT_EQ(s2("mlp.gate_proj"), s2("mlp.up_proj"));
  EXPECT_NE(s2("self_attn.q_proj"), s2("self_attn.o_proj"));
  const auto report = io::read_json(dir / "out" / "quantization_report.json");
  EXPECT_GT(report["modules"]["model.layers.0.mlp.down_proj"]["weight_mse"].get<double>(), 0.0);
}

}  // namespace
}  // namespace fp4gptq::pipeline
