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
#include "tests/pipeline/checkpoint_checks.hpp"
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

tools::TinyModelOptions tiny(const char* arch) { return test::tiny_dense(arch); }

// RTN on top of the shared checks: each block scale is fp8(block_amax / (6·scale_2)) of the source (1.0 for
// an all-zero block), and each code is the one nearest to the source weight.
void verify(const fs::path& src_dir, const fs::path& out_dir, const RtnOptions& o) {
  test::CheckOptions co{o.exclude, o.dtype, o.fuse_scales, /*input_amax=*/false};
  test::check_checkpoint(src_dir, out_dir, co, [&](const test::QuantizedModule& q) {
    const auto* m = q.plan;
    size_t bad_scale = 0, not_nearest = 0, changed = 0;
    for (int64_t r = 0; r < m->out; ++r)
      for (int64_t b = 0; b < m->in / 16; ++b) {
        float bmax = 0;
        for (int k = 0; k < 16; ++k) bmax = std::max(bmax, std::fabs(q.source[r * m->in + b * 16 + k]));
        const uint8_t byte = q.scales[r * (m->in / 16) + b];
        bad_scale += byte != (bmax == 0 ? 0x38 : numeric::f32_to_e4m3(bmax / (6.0f * q.scale_2)));
        const float eff = numeric::e4m3_to_f32(byte) * q.scale_2;
        for (int k = 0; k < 16; ++k) {
          const size_t i = static_cast<size_t>(r * m->in + b * 16 + k);
          double best = INFINITY, chosen = INFINITY;
          for (int c = 0; c < 16; ++c) {
            const float cand = numeric::e2m1_decode(static_cast<uint8_t>(c)) * eff;
            const double d = std::fabs(static_cast<double>(q.source[i]) - cand);
            best = std::min(best, d);
            if (test::to_bits(cand, o.dtype) == q.stored[i]) chosen = std::min(chosen, d);
          }
          not_nearest += chosen > best * (1 + 1e-6) + 1e-12;
          changed += q.stored[i] != test::to_bits(q.source[i], o.dtype);
        }
      }
    EXPECT_EQ(bad_scale, 0u) << m->module;
    EXPECT_EQ(not_nearest, 0u) << m->module;
    EXPECT_GT(changed, q.source.size() / 2) << m->module << ": quantization must change most weights";
  });
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
  EXPECT_GT(s.modules, 0);
  verify(dir / "model", dir / "out", c.rtn);
  EXPECT_TRUE(test::nothing_named(dir.path(), "out."));
}

Case with(const char* label, tools::TinyModelOptions m,
          std::function<void(tools::TinyModelOptions&, RtnOptions&)> f = {}) {
  Case c{label, std::move(m), {}};
  if (f) f(c.model, c.rtn);
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, RtnCheckpoint,
    ::testing::Values(with("qwen3", tiny("Qwen3ForCausalLM")),
                      with("llama_biases_fp16_source", tiny("LlamaForCausalLM"),
                           [](auto& m, auto&) {
                             m.attention_bias = true;
                             m.dtype = "float16";
                           }),
                      with("qwen2", tiny("Qwen2ForCausalLM")),
                      with("mistral_tied", tiny("MistralForCausalLM"), [](auto& m, auto&) { m.tie_embeddings = true; }),
                      with("qwen3moe", tiny("Qwen3MoeForCausalLM"), [](auto& m, auto&) { m.mlp_only_layers = {1}; }),
                      with("sharded_in_and_out", tiny("Qwen3ForCausalLM"),
                           [](auto& m, auto& r) {
                             m.shards = 3;
                             r.max_shard_bytes = 40000;
                           }),
                      with("no_fuse_scales", tiny("Qwen3ForCausalLM"), [](auto&, auto& r) { r.fuse_scales = false; }),
                      with("bfloat16_output", tiny("LlamaForCausalLM"), [](auto&, auto& r) { r.dtype = DType::BF16; }),
                      with("exclude", tiny("Qwen3ForCausalLM"),
                           [](auto&, auto& r) {
                             r.exclude = {"layers\\.1\\.mlp", "k_proj$"};
                           })),
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
  const auto s2 = [&](const std::string& m) {
    return scales.read_f32(scales.at("model.layers.0." + m + ".scale_2"))[0];
  };
  EXPECT_EQ(s2("self_attn.q_proj"), s2("self_attn.k_proj"));
  EXPECT_EQ(s2("self_attn.q_proj"), s2("self_attn.v_proj"));
  EXPECT_EQ(s2("mlp.gate_proj"), s2("mlp.up_proj"));
  EXPECT_NE(s2("self_attn.q_proj"), s2("self_attn.o_proj"));
  const auto report = io::read_json(dir / "out" / "quantization_report.json");
  EXPECT_GT(report["modules"]["model.layers.0.mlp.down_proj"]["weight_mse"].get<double>(), 0.0);
}

}  // namespace
}  // namespace fp4gptq::pipeline
