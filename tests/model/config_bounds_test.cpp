// config.json counts and sizes are bounded and checked against the tensors present before anything is sized
// by them (docs/DESIGN.md §9): a config claiming 10^9 layers or experts fails at once, naming the field.
#include <gtest/gtest.h>

#include "io/json_file.hpp"
#include "model/config.hpp"
#include "model/layer_plan.hpp"
#include "tests/test_support.hpp"
#include "tools/tiny_model.hpp"

namespace fp4gptq::model {
namespace {

namespace fs = std::filesystem;

// A tiny model whose config.json field `field` is then set to `value`.
fs::path model_with(const test::ScratchDir& dir, const char* arch, const std::string& field, int64_t value) {
  auto o = test::tiny_dense(arch);
  const fs::path m = dir / "m";
  tools::make_tiny_model(m, o);
  auto c = io::read_json(m / "config.json");
  c[field] = value;
  io::write_json(m / "config.json", c);
  return m;
}

TEST(ConfigBounds, LayerCountBeyondTheTensorsFailsAtOnce) {
  test::ScratchDir dir;
  const auto m = model_with(dir, "Qwen3ForCausalLM", "num_hidden_layers", 1000000000);
  const io::ModelDir d(m);
  test::expect_error([&] { plan_model(d); },
                     {(m / "config.json").string(), "'num_hidden_layers' is 1000000000", "tensors of 2 decoder layers"});
}

TEST(ConfigBounds, ExpertCountBeyondTheTensorsFailsAtOnce) {
  test::ScratchDir dir;
  const auto m = model_with(dir, "Qwen3MoeForCausalLM", "num_experts", 1000000000);
  const io::ModelDir d(m);
  test::expect_error([&] { plan_model(d); }, {"'num_experts' is 1000000000", "tensors of 4 experts"});
}

TEST(ConfigBounds, SizesAreBelow2To31SoProductsCannotOverflow) {
  // heads · head_dim = 2^62 · 4 used to wrap int64 and pass the shape checks.
  nlohmann::ordered_json c = {{"architectures", {"Qwen3ForCausalLM"}},
                              {"hidden_size", 64},
                              {"intermediate_size", 96},
                              {"num_hidden_layers", 1},
                              {"num_attention_heads", 4},
                              {"num_key_value_heads", 2},
                              {"head_dim", int64_t{1} << 62},
                              {"vocab_size", 128}};
  test::expect_error([&] { ModelConfig::parse(c, "c.json"); }, {"c.json", "'head_dim'", "below 2^31"});
  c["head_dim"] = 16;
  EXPECT_EQ(ModelConfig::parse(c, "c.json").head_dim, 16);
  c["vocab_size"] = int64_t{1} << 31;
  test::expect_error([&] { ModelConfig::parse(c, "c.json"); }, {"'vocab_size'", "below 2^31"});
}

}  // namespace
}  // namespace fp4gptq::model
