// Hugging Face model directories: single file, sharded through the index, and the ways they can be broken.
#include <gtest/gtest.h>

#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

namespace fs = std::filesystem;

tools::TinyModelOptions small(int shards) {
  auto o = test::tiny_dense("Qwen3ForCausalLM");
  o.shards = shards;
  return o;
}

TEST(ModelDir, ShardedThroughIndexEqualsSingleFile) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "one", small(1));
  tools::make_tiny_model(dir / "three", small(3));
  ModelDir one(dir / "one"), three(dir / "three");
  EXPECT_EQ(one.files().size(), 1u);
  EXPECT_EQ(three.files().size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "three" / "model-00002-of-00003.safetensors"));
  ASSERT_EQ(one.tensor_names().size(), three.tensor_names().size());
  for (const auto& name : one.tensor_names()) {
    ASSERT_TRUE(three.has(name)) << name;
    EXPECT_EQ(one.tensor(name).read_f32(), three.tensor(name).read_f32()) << name;
  }
  EXPECT_EQ(one.config()["architectures"][0], "Qwen3ForCausalLM");
}

TEST(ModelDir, IndexNamingAMissingShard) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "m", small(2));
  fs::remove(dir / "m" / "model-00002-of-00002.safetensors");
  test::expect_error([&] { ModelDir d(dir / "m"); }, {"model-00002-of-00002.safetensors", "missing"});
}

TEST(ModelDir, IndexNamingATensorNotInItsFile) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "m", small(2));
  auto index = read_json(dir / "m" / "model.safetensors.index.json");
  index["weight_map"]["model.layers.9.ghost.weight"] = "model-00001-of-00002.safetensors";
  write_json(dir / "m" / "model.safetensors.index.json", index);
  test::expect_error([&] { ModelDir d(dir / "m"); },
                     {"model-00001-of-00002.safetensors", "model.layers.9.ghost.weight"});
}

TEST(ModelDir, DuplicateTensorAcrossFiles) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "m", small(1));
  fs::copy_file(dir / "m" / "model.safetensors", dir / "m" / "model-copy.safetensors");
  test::expect_error([&] { ModelDir d(dir / "m"); }, {"appears in both", "model-copy.safetensors"});
}

TEST(ModelDir, MissingOrGarbledConfigAndNoWeights) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "m", small(1));
  fs::rename(dir / "m" / "config.json", dir / "config.bak");
  test::expect_error([&] { ModelDir d(dir / "m"); }, {"config.json", "cannot open"});
  std::ofstream(dir / "m" / "config.json") << "{\"architectures\": [\"Qwen3";
  test::expect_error([&] { ModelDir d(dir / "m"); }, {"config.json", "not valid JSON"});
  fs::rename(dir / "config.bak", dir / "m" / "config.json");
  fs::remove(dir / "m" / "model.safetensors");
  test::expect_error([&] { ModelDir d(dir / "m"); }, {"no *.safetensors"});
  test::expect_error([&] { ModelDir d(dir / "nowhere"); }, {"nowhere", "not a directory"});
}

}  // namespace
}  // namespace fp4gptq::io
