// config.json parsing, against the golden model directories written by the transformers reference.
#include <gtest/gtest.h>

#include "io/json_file.hpp"
#include "model/config.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::model {
namespace {

ModelConfig golden(const std::string& name) {
  const auto path = test::golden_dir() / name / "config.json";
  return ModelConfig::parse(io::read_json(path), path.string());
}

TEST(ModelConfig, GoldenQwen3) {
  const auto c = golden("tiny-qwen3");
  EXPECT_EQ(c.kind, ArchKind::Qwen3);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_FALSE(c.rope_scaling);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(ModelConfig, GoldenLlamaWithLlama3RopeScaling) {
  const auto c = golden("tiny-llama");
  EXPECT_EQ(c.kind, ArchKind::Llama);
  EXPECT_EQ(c.rope_theta, 500000.0);
  ASSERT_TRUE(c.rope_scaling);
  EXPECT_EQ(c.rope_scaling->rope_type, "llama3");
  EXPECT_EQ(c.rope_scaling->factor, 8.0);
  EXPECT_EQ(c.rope_scaling->low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 64);
  EXPECT_FALSE(c.mlp_bias);
}

TEST(ModelConfig, GoldenQwen3MoeSparseLayers) {
  const auto c = golden("tiny-qwen3moe");
  EXPECT_TRUE(c.is_moe());
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.num_experts_per_tok, 2);
  EXPECT_EQ(c.moe_intermediate_size, 32);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.mlp_only_layers, std::vector<int64_t>{1});
  EXPECT_TRUE(c.is_sparse_layer(0));
  EXPECT_FALSE(c.is_sparse_layer(1));
  EXPECT_TRUE(c.is_sparse_layer(2));
}

nlohmann::ordered_json minimal(const std::string& arch) {
  return {{"architectures", {arch}}, {"hidden_size", 64},        {"intermediate_size", 128},
          {"num_hidden_layers", 4},  {"num_attention_heads", 4}, {"vocab_size", 100}};
}

TEST(ModelConfig, DefaultsAndPerArchitectureBiases) {
  const auto q2 = ModelConfig::parse(minimal("Qwen2ForCausalLM"), "c");
  EXPECT_TRUE(q2.attention_bias);  // Qwen2: q/k/v biases always
  EXPECT_FALSE(q2.o_proj_bias);
  EXPECT_EQ(q2.head_dim, 16);  // hidden / heads
  EXPECT_EQ(q2.num_key_value_heads, 4);
  EXPECT_EQ(q2.rope_theta, 10000.0);
  auto l = minimal("LlamaForCausalLM");
  l["attention_bias"] = true;
  l["mlp_bias"] = true;
  const auto lc = ModelConfig::parse(l, "c");
  EXPECT_TRUE(lc.attention_bias && lc.o_proj_bias && lc.mlp_bias);
  const auto m = ModelConfig::parse(minimal("MistralForCausalLM"), "c");
  EXPECT_FALSE(m.attention_bias);
  auto moe = minimal("Qwen3MoeForCausalLM");
  moe["decoder_sparse_step"] = 2;
  const auto mc = ModelConfig::parse(moe, "c");
  EXPECT_FALSE(mc.is_sparse_layer(0));
  EXPECT_TRUE(mc.is_sparse_layer(1));
  EXPECT_EQ(mc.num_experts, 128);  // transformers' Qwen3MoeConfig defaults
  EXPECT_EQ(mc.num_experts_per_tok, 8);
}

TEST(ModelConfig, RopeParametersOfNewerTransformers) {
  auto j = minimal("LlamaForCausalLM");
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 32.0}};
  const auto c = ModelConfig::parse(j, "c");
  EXPECT_EQ(c.rope_theta, 500000.0);
  ASSERT_TRUE(c.rope_scaling);
  EXPECT_EQ(c.rope_scaling->factor, 32.0);
}

TEST(ModelConfig, Errors) {
  auto j = minimal("GPT2LMHeadModel");
  test::expect_error([&] { ModelConfig::parse(j, "dir/config.json"); },
                     {"dir/config.json", "GPT2LMHeadModel", "not supported", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
                      "LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"});
  j = minimal("Qwen3ForCausalLM");
  j.erase("hidden_size");
  test::expect_error([&] { ModelConfig::parse(j, "cfg"); }, {"cfg", "'hidden_size'", "missing"});
  j = minimal("Qwen3ForCausalLM");
  j["num_attention_heads"] = "four";
  test::expect_error([&] { ModelConfig::parse(j, "cfg"); }, {"'num_attention_heads'", "positive integer"});
  j = minimal("Qwen3ForCausalLM");
  j["num_key_value_heads"] = 3;
  test::expect_error([&] { ModelConfig::parse(j, "cfg"); }, {"'num_key_value_heads'", "divide"});
  j = minimal("Qwen3ForCausalLM");
  j.erase("architectures");
  test::expect_error([&] { ModelConfig::parse(j, "cfg"); }, {"'architectures'"});
}

}  // namespace
}  // namespace fp4gptq::model
