// `quantize` end to end through the C++ API on generated tiny models of every dense architecture: the
// DESIGN §7 outputs checked against independent expectations, GPTQ beating RTN, determinism.
#include <gtest/gtest.h>

#include "fp4gptq/fp4gptq.hpp"
#include "io/json_file.hpp"
#include "io/safetensors_writer.hpp"
#include "tests/pipeline/checkpoint_checks.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;

struct Case {
  const char* label;
  tools::TinyModelOptions model;
  QuantizeConfig cfg;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

tools::TinyModelOptions tiny(const char* arch) {
  auto o = test::tiny_dense(arch);
  o.calib_samples = 12;
  o.calib_seqlen = 48;
  return o;
}

Case moe_case();

Case with(const char* label, const char* arch, std::function<void(tools::TinyModelOptions&, QuantizeConfig&)> f = {}) {
  Case c{label, tiny(arch), {}};
  c.cfg.quiet = true;
  if (f) f(c.model, c.cfg);
  return c;
}

QuantizeReport quantize(const Case& c, const fs::path& model, const fs::path& out, const fs::path& work) {
  auto cfg = c.cfg;
  cfg.work_dir = work;
  auto lm = CausalLM::from_pretrained(model, cfg);
  const auto r = lm.quantize(load_examples(model / "calibration.jsonl", lm.vocab_size()));
  lm.save_quantized(out);
  return r;
}

class QuantizeE2E : public ::testing::TestWithParam<Case> {};

TEST_P(QuantizeE2E, OutputsAreValidAndBeatRtn) {
  test::ScratchDir d;
  const auto& c = GetParam();
  tools::make_tiny_model(d / "model", c.model);
  const auto r = quantize(c, d / "model", d / "out", d.path());
  EXPECT_EQ(r.samples, 12);
  EXPECT_EQ(r.tokens, 12 * 48);
  EXPECT_EQ(r.fallbacks, 0);
  test::CheckOptions co{c.cfg.exclude, c.cfg.dtype == DType::BFloat16 ? numeric::DType::BF16 : numeric::DType::F16,
                        c.cfg.fuse_scales, /*input_amax=*/true};
  test::check_checkpoint(d / "model", d / "out", co);

  const auto report = io::read_json(d / "out" / "quantization_report.json");
  double rel = 0, rtn = 0;
  int n = 0;
  for (const auto& [name, m] : report["modules"].items()) {
    const double e = m["rel_err"], er = m["rtn_rel_err"];
    EXPECT_LE(e, 1.05 * er) << name;
    EXPECT_GT(e, 0.0) << name;
    EXPECT_EQ(m["tokens"], 12 * 48) << name;
    EXPECT_FALSE(m["fallback"].get<bool>()) << name;
    rel += e;
    rtn += er;
    ++n;
  }
  ASSERT_GT(n, 0);
  EXPECT_LT(rel / n, rtn / n);
  EXPECT_NEAR(report["summary"]["mean_rel_err"].get<double>(), rel / n, 1e-12);
  const auto qc = io::read_json(d / "out" / "quantize_config.json");
  EXPECT_EQ(qc["desc_act"], c.cfg.desc_act);
  EXPECT_EQ(qc["true_sequential"], c.cfg.true_sequential);
  EXPECT_EQ(qc["static_groups"], c.cfg.static_groups || c.cfg.desc_act);
  EXPECT_EQ(qc["damp_percent"], c.cfg.damp_percent);
  EXPECT_TRUE(test::nothing_named(d.path(), "fp4gptq-"));  // no staging left in the work dir
}

INSTANTIATE_TEST_SUITE_P(
    Variants, QuantizeE2E,
    ::testing::Values(with("qwen3", "Qwen3ForCausalLM"), with("llama", "LlamaForCausalLM"),
                      with("qwen2", "Qwen2ForCausalLM"),
                      with("mistral_tied", "MistralForCausalLM", [](auto& m, auto&) { m.tie_embeddings = true; }),
                      with("llama_attention_bias_fp16", "LlamaForCausalLM",
                           [](auto& m, auto&) {
                             m.attention_bias = true;
                             m.dtype = "float16";
                           }),
                      with("desc_act", "Qwen3ForCausalLM", [](auto&, auto& c) { c.desc_act = true; }),
                      with("static_block_scales", "Qwen3ForCausalLM", [](auto&, auto& c) { c.static_groups = true; }),
                      with("not_true_sequential", "Qwen3ForCausalLM",
                           [](auto&, auto& c) { c.true_sequential = false; }),
                      with("f32_compute_and_activations", "LlamaForCausalLM",
                           [](auto&, auto& c) {
                             c.compute = Compute::F32;
                             c.act_dtype = DType::Float32;
                             c.hessian_dtype = DType::Float64;
                           }),
                      with("no_fuse_exclude_bf16_sharded", "Qwen3ForCausalLM",
                           [](auto&, auto& c) {
                             c.fuse_scales = false;
                             c.exclude = {"layers\\.0\\.mlp\\.down_proj"};
                             c.dtype = DType::BFloat16;
                             c.max_shard_bytes = 60000;
                             c.block_size = 32;
                             c.damp_percent = 0.05;
                           })),
    [](const auto& info) { return std::string(info.param.label); });

TEST(QuantizeE2E, SameInputsAndThreadsGiveByteIdenticalFiles) {
  test::ScratchDir d;
  auto c = with("qwen3", "Qwen3ForCausalLM");
  c.model.calib_samples = 20;
  c.cfg.threads = 2;
  tools::make_tiny_model(d / "model", c.model);
  quantize(c, d / "model", d / "a", d.path());
  quantize(c, d / "model", d / "b", d.path());
  test::expect_same_safetensors(d / "a", d / "b");
}

TEST(QuantizeE2E, OffloadedActivationsGiveByteIdenticalFilesAndLeaveNothing) {
  for (const bool moe : {false, true}) {
    test::ScratchDir d;
    auto c = moe ? moe_case() : with("qwen3", "Qwen3ForCausalLM");
    tools::make_tiny_model(d / "model", c.model);
    quantize(c, d / "model", d / "ram", d.path());
    fs::create_directories(d / "offload");
    c.cfg.max_act_bytes = 4096;  // every activation store goes to a file
    c.cfg.offload_dir = d / "offload";
    quantize(c, d / "model", d / "disk", d.path());
    test::expect_same_safetensors(d / "ram", d / "disk");
    EXPECT_TRUE(fs::is_empty(d / "offload")) << "offload files are unlinked";
    c.cfg.offload_dir = d / "nowhere";
    test::expect_error([&] { quantize(c, d / "model", d / "x", d.path()); }, {"offload directory", "nowhere"});
  }
}

TEST(QuantizeE2E, RefusesExistingOutputAndUnsupportedConfigs) {
  test::ScratchDir d;
  auto c = with("qwen3", "Qwen3ForCausalLM");
  tools::make_tiny_model(d / "model", c.model);
  quantize(c, d / "model", d / "out", d.path());
  test::expect_error([&] { quantize(c, d / "model", d / "out", d.path()); }, {"already exists", "overwriting"});
  EXPECT_TRUE(test::nothing_named(d.path(), "fp4gptq-")) << "the refused run's staging is removed";
  QuantizeConfig bad;
  bad.bits = 8;
  test::expect_error([&] { CausalLM::from_pretrained(d / "model", bad); }, {"bits 8"});
  auto lm = CausalLM::from_pretrained(d / "model", c.cfg);
  test::expect_error([&] { lm.quantize({{1, 2, 500}}); }, {"token id 500", "[0, 128)"});
  test::expect_error([&] { lm.quantize({}); }, {"no calibration examples"});
  test::expect_error([&] { lm.save_quantized(d / "x"); }, {"quantize() first"});
}

Case moe_case() {
  auto c = with("moe", "Qwen3MoeForCausalLM");
  c.model.experts = 4;
  c.model.experts_per_tok = 2;
  c.model.moe_intermediate = 32;
  c.model.mlp_only_layers = {1};
  c.model.calib_samples = 16;
  return c;
}

// Report lines of the experts' modules, by expert index.
std::map<int, std::vector<nlohmann::ordered_json>> expert_reports(const fs::path& out) {
  std::map<int, std::vector<nlohmann::ordered_json>> by;
  const auto report = io::read_json(out / "quantization_report.json");
  for (const auto& [name, m] : report["modules"].items()) {
    const auto p = name.find("experts.");
    if (p != std::string::npos) by[std::stoi(name.substr(p + 8))].push_back(m);
  }
  return by;
}

TEST(QuantizeMoe, PerExpertGptqWritesEveryExpert) {
  test::ScratchDir d;
  const auto c = moe_case();
  tools::make_tiny_model(d / "model", c.model);
  const auto r = quantize(c, d / "model", d / "out", d.path());
  // layers 0 (sparse: 4 attention + 4 experts x 3) and 1 (dense: 7)
  EXPECT_EQ(r.modules, 4 + 12 + 7);
  test::check_checkpoint(d / "model", d / "out", {{}, numeric::DType::F16, true, true});
  const auto report = io::read_json(d / "out" / "quantization_report.json");
  int64_t routed = 0;
  for (const auto& [e, mods] : expert_reports(d / "out")) {
    ASSERT_EQ(mods.size(), 3u) << "expert " << e;
    routed += mods[0]["tokens"].get<int64_t>();
    for (const auto& m : mods) {
      EXPECT_TRUE(std::isfinite(m["rel_err"].get<double>()));
      if (!m["fallback"].get<bool>()) {
        EXPECT_LE(m["rel_err"].get<double>(), 1.05 * m["rtn_rel_err"].get<double>());
      }
    }
  }
  EXPECT_EQ(routed, 2 * 16 * 48) << "every token reaches top-2 experts";
  EXPECT_LT(report["summary"]["mean_rel_err"].get<double>(), report["summary"]["mean_rtn_rel_err"].get<double>());
}

// A router biased away from expert 0: every embedding gets a large constant in dimension 0, and expert 0's
// router row a large negative weight there, so its logit is always the lowest.
void starve_expert_0(const fs::path& model) {
  const auto path = model / "model.safetensors";
  std::vector<io::TensorSpec> specs;
  std::vector<std::vector<float>> data;
  {
    const io::SafetensorsFile f(path);
    for (const auto& t : f.tensors()) {
      auto v = f.read_f32(t);
      if (t.name == "model.embed_tokens.weight")
        for (int64_t r = 0; r < t.shape[0]; ++r) v[r * t.shape[1]] = 20.0f;
      if (t.name == "model.layers.0.mlp.gate.weight") v[0] = -100.0f;
      specs.push_back({t.name, numeric::DType::F32, t.shape});
      data.push_back(std::move(v));
    }
  }
  io::SafetensorsWriter w(path, specs);
  for (size_t i = 0; i < specs.size(); ++i) w.write(specs[i].name, data[i].data(), data[i].size() * 4);
  w.finish();
}

TEST(QuantizeMoe, StarvedExpertFallsBackToRtnAndCalibrateAllFeedsIt) {
  test::ScratchDir d;
  auto c = moe_case();
  tools::make_tiny_model(d / "model", c.model);
  starve_expert_0(d / "model");
  quantize(c, d / "model", d / "out", d.path());
  test::check_checkpoint(d / "model", d / "out", {{}, numeric::DType::F16, true, true});
  auto by = expert_reports(d / "out");
  for (const auto& m : by[0]) {
    EXPECT_EQ(m["tokens"], 0);
    EXPECT_TRUE(m["fallback"].get<bool>());
    EXPECT_NE(m["note"].get<std::string>().find("starved"), std::string::npos);
  }
  for (int e = 1; e < 4; ++e)
    for (const auto& m : by[e]) EXPECT_FALSE(m["fallback"].get<bool>()) << "expert " << e;

  c.cfg.moe_calibrate_all = true;
  quantize(c, d / "model", d / "all", d.path());
  test::check_checkpoint(d / "model", d / "all", {{}, numeric::DType::F16, true, true});
  by = expert_reports(d / "all");
  for (const auto& [e, mods] : by)
    for (const auto& m : mods) {
      EXPECT_EQ(m["tokens"], 16 * 48) << "expert " << e;
      EXPECT_FALSE(m["fallback"].get<bool>()) << "expert " << e;
    }
}

}  // namespace
}  // namespace fp4gptq
