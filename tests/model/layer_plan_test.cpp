// The layer plan: which Linears are quantized, in which true-sequential group, with which partners; and the
// check of a checkpoint against it.
#include <gtest/gtest.h>

#include <map>

#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "model/layer_plan.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::model {
namespace {

ModelPlan golden_plan(const std::string& name, const ModuleFilter& f = {}) {
  const io::ModelDir dir(test::golden_dir() / name);
  auto plan = make_plan(ModelConfig::parse(dir.config(), "config.json"), f);
  plan.check(dir);  // the reference's checkpoints match our plan exactly
  return plan;
}

TEST(LayerPlan, DenseQwen3) {
  const auto p = golden_plan("tiny-qwen3");
  ASSERT_EQ(p.layers.size(), 2u);
  const auto& l = p.layers[1];
  ASSERT_EQ(l.linears.size(), 7u);
  const std::pair<const char*, SeqGroup> order[] = {
      {"self_attn.q_proj", SeqGroup::AttnQKV}, {"self_attn.k_proj", SeqGroup::AttnQKV},
      {"self_attn.v_proj", SeqGroup::AttnQKV}, {"self_attn.o_proj", SeqGroup::AttnO},
      {"mlp.gate_proj", SeqGroup::MlpGateUp},  {"mlp.up_proj", SeqGroup::MlpGateUp},
      {"mlp.down_proj", SeqGroup::MlpDown}};
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(l.linears[i].module, std::string("model.layers.1.") + order[i].first);
    EXPECT_EQ(l.linears[i].group, order[i].second);
    EXPECT_TRUE(l.linears[i].quantize);
  }
  EXPECT_EQ(l.linears[0].out, 64);  // 4 heads x 16
  EXPECT_EQ(l.linears[1].out, 32);  // 2 kv heads x 16
  EXPECT_EQ(l.linears[6].in, 128);
  EXPECT_EQ(l.linears[0].input_key, l.linears[2].input_key);
  EXPECT_EQ(l.linears[4].input_key, l.linears[5].input_key);
  EXPECT_NE(l.linears[3].input_key, l.linears[0].input_key);
  EXPECT_EQ(p.quantized().size(), 14u);
  // norms, q_norm/k_norm are expected but not Linears
  EXPECT_EQ(l.tensors.size(), 7u + 4u);
  EXPECT_EQ(p.globals.size(), 3u);  // embed, norm, lm_head
}

TEST(LayerPlan, MoeExpertsRouterAndTiedEmbeddings) {
  const auto p = golden_plan("tiny-qwen3moe");
  ASSERT_EQ(p.layers.size(), 3u);
  EXPECT_TRUE(p.layers[0].sparse);
  EXPECT_FALSE(p.layers[1].sparse);
  const auto& l = p.layers[0];
  EXPECT_EQ(l.linears.size(), 4u + 8u * 3u);
  for (const auto& m : l.linears)
    EXPECT_EQ(m.module.find("mlp.gate."), std::string::npos) << "router is never a Linear to quantize";
  const auto& gate3 = *std::find_if(l.linears.begin(), l.linears.end(),
                                    [](const auto& m) { return m.module == "model.layers.0.mlp.experts.3.gate_proj"; });
  EXPECT_EQ(gate3.expert, 3);
  EXPECT_EQ(gate3.out, 32);
  EXPECT_EQ(gate3.group, SeqGroup::MlpGateUp);
  EXPECT_EQ(gate3.input_key, "model.layers.0.mlp.experts.3.gate_up");
  EXPECT_EQ(p.globals.size(), 2u);  // tied: no lm_head
  EXPECT_EQ(p.layers[1].linears.size(), 7u);
}

TEST(LayerPlan, FusedExpertsAreSlicesOfTwo3DTensors) {
  const io::ModelDir dir(test::golden_dir() / "tiny-qwen3moe");
  const auto cfg = ModelConfig::parse(dir.config(), "config.json");
  EXPECT_EQ(detect_expert_layout(dir), ExpertLayout::PerExpert);
  const auto p = make_plan(cfg, ModuleFilter({R"(experts\.down_proj$)"}), ExpertLayout::Fused);
  const auto& l = p.layers[0];
  const int64_t E = cfg.num_experts, I = cfg.moe_intermediate_size, H = cfg.hidden_size;
  EXPECT_EQ(l.linears.size(), 4u + static_cast<size_t>(E) * 3u);
  std::map<std::string, Shape> shapes;
  for (const auto& t : l.tensors) shapes[t.name] = t.shape;
  EXPECT_EQ(shapes["model.layers.0.mlp.experts.gate_up_proj"], (Shape{E, 2 * I, H}));
  EXPECT_EQ(shapes["model.layers.0.mlp.experts.down_proj"], (Shape{E, H, I}));
  EXPECT_EQ(shapes.count("model.layers.0.mlp.experts.3.gate_proj.weight"), 0u);
  auto find = [&](const std::string& name) {
    return *std::find_if(l.linears.begin(), l.linears.end(), [&](const auto& m) { return m.module == name; });
  };
  const auto up3 = find("model.layers.0.mlp.experts.3.up_proj");
  EXPECT_TRUE(up3.fused());
  EXPECT_EQ(up3.tensor, "model.layers.0.mlp.experts.gate_up_proj");
  EXPECT_EQ(up3.scale_module(), up3.tensor);
  EXPECT_EQ(up3.offset(), static_cast<uint64_t>((3 * 2 * I + I) * H));  // rows I..2I-1 of slice 3
  EXPECT_EQ(up3.input_key, find("model.layers.0.mlp.experts.3.gate_proj").input_key);
  EXPECT_TRUE(up3.quantize);
  const auto down2 = find("model.layers.0.mlp.experts.2.down_proj");
  EXPECT_EQ(down2.offset(), static_cast<uint64_t>(2 * H * I));
  EXPECT_FALSE(down2.quantize) << "the exclude regex matches the fused tensor's name";
  const auto q = find("model.layers.0.self_attn.q_proj");
  EXPECT_FALSE(q.fused());
  EXPECT_EQ(q.tensor, "model.layers.0.self_attn.q_proj.weight");
  test::expect_error([&] { p.check(dir); }, {"model.layers.0.mlp.experts.gate_up_proj", "missing"});
}

TEST(LayerPlan, ExcludeAndBlockMultiple) {
  const auto p = golden_plan("tiny-llama", ModuleFilter({R"(layers\.0\.mlp\.down_proj$)", "k_proj"}));
  EXPECT_EQ(p.quantized().size(), 14u - 3u);
  const auto& down0 = p.layers[0].linears[6];
  EXPECT_FALSE(down0.quantize);
  EXPECT_NE(down0.skip_reason.find("excluded by the pattern"), std::string::npos);
  EXPECT_TRUE(p.layers[1].linears[6].quantize);

  nlohmann::ordered_json j = {{"architectures", {"LlamaForCausalLM"}},
                              {"hidden_size", 64},
                              {"intermediate_size", 72},
                              {"num_hidden_layers", 1},
                              {"num_attention_heads", 4},
                              {"vocab_size", 10}};
  const auto q = make_plan(ModelConfig::parse(j, "c"));
  const auto& down = q.layers[0].linears[6];
  EXPECT_FALSE(down.quantize);  // in = 72 is not a multiple of 16
  EXPECT_NE(down.skip_reason.find("72"), std::string::npos);
  EXPECT_TRUE(q.layers[0].linears[4].quantize);  // gate_proj: in = 64
  test::expect_error([] { ModuleFilter f({"(unclosed"}); }, {"exclude pattern", "(unclosed"});
}

TEST(LayerPlan, CheckNamesMissingAndMisshapedTensors) {
  test::ScratchDir dir;
  tools::TinyModelOptions o;
  o.arch = "Qwen2ForCausalLM";
  o.calib_samples = 1;
  tools::make_tiny_model(dir / "m", o);
  const io::ModelDir m(dir / "m");
  auto cfg = ModelConfig::parse(m.config(), "config.json");
  make_plan(cfg).check(m);  // fine as generated (including Qwen2's q/k/v biases)
  auto wrong = cfg;
  wrong.intermediate_size = 512;
  test::expect_error([&] { make_plan(wrong).check(m); },
                     {"model.layers.0.mlp.gate_proj.weight", "[256, 128]", "expected [512, 128]", "model.safetensors"});
  auto more = cfg;
  more.num_hidden_layers = 3;
  test::expect_error([&] { make_plan(more).check(m); }, {"model.layers.2.input_layernorm.weight", "missing"});
}

TEST(LayerPlan, LayerOf) {
  EXPECT_EQ(layer_of("model.layers.12.mlp.up_proj.weight"), 12);
  EXPECT_EQ(layer_of("model.layers.x.mlp"), -1);
  EXPECT_EQ(layer_of("model.layers.3"), -1);
  EXPECT_EQ(layer_of("lm_head.weight"), -1);
}

}  // namespace
}  // namespace fp4gptq::model
