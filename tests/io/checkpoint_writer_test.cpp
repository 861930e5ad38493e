// The checkpoint directory writer: sizes, sharding, the index, staging and --overwrite.
#include <gtest/gtest.h>

#include "io/checkpoint_writer.hpp"
#include "io/json_file.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

namespace fs = std::filesystem;

TEST(ParseSize, UnitsAndErrors) {
  EXPECT_EQ(parse_size("5GB", "--max-shard-size"), 5'000'000'000ull);
  EXPECT_EQ(parse_size("500MB", "--max-shard-size"), 500'000'000ull);
  EXPECT_EQ(parse_size("2GiB", "--max-shard-size"), 2ull << 30);
  EXPECT_EQ(parse_size("1.5kb", "--max-shard-size"), 1500ull);
  EXPECT_EQ(parse_size("1000", "--max-shard-size"), 1000ull);
  test::expect_error([] { parse_size("lots", "--max-shard-size"); }, {"--max-shard-size", "lots"});
  test::expect_error([] { parse_size("5XB", "--max-shard-size"); }, {"unknown unit", "XB"});
  test::expect_error([] { parse_size("0MB", "--max-shard-size"); }, {"at least one byte"});
}

CheckpointPlan plan_of(int tensors, uint64_t max_shard) {
  CheckpointPlan p;
  for (int i = 0; i < tensors; ++i) p.model_tensors.push_back({"t" + std::to_string(i), DType::F16, {100}});  // 200 B
  p.scale_tensors.push_back({"m.scale_2", DType::F32, {}});
  p.max_shard_bytes = max_shard;
  return p;
}

void fill_all(CheckpointWriter& w, int tensors) {
  std::vector<uint16_t> v(100, 0x3c00);
  for (int i = 0; i < tensors; ++i) w.write_model_part("t" + std::to_string(i), 0, v.data(), 200);
  const float s = 1;
  w.write_scale("m.scale_2", &s, 4);
}

TEST(CheckpointWriter, ShardsAndIndex) {
  test::ScratchDir dir;
  const auto out = dir / "out";
  {
    CheckpointWriter w(out, false, plan_of(5, 450));  // two tensors per shard -> 3 shards
    EXPECT_EQ(w.shard_count(), 3u);
    EXPECT_EQ(w.model_file_of("t4"), "pseudo_quantized_model-4bit-16g-00003-of-00003.safetensors");
    fill_all(w, 5);
    EXPECT_FALSE(fs::exists(out));
    w.commit();
  }
  const auto index = read_json(out / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"], 1000);
  EXPECT_EQ(index["weight_map"].size(), 5u);
  EXPECT_EQ(index["weight_map"]["t0"], "pseudo_quantized_model-4bit-16g-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["t2"], "pseudo_quantized_model-4bit-16g-00002-of-00003.safetensors");
  EXPECT_TRUE(fs::exists(out / "pseudo_quantized_model-4bit-16g_scales.safetensors"));
  EXPECT_TRUE(test::nothing_named(dir.path(), "out."));
}

TEST(CheckpointWriter, UncommittedLeavesNothingAndExistingIsRefused) {
  test::ScratchDir dir;
  const auto out = dir / "out";
  {
    CheckpointWriter w(out, false, plan_of(2, 0));
    fill_all(w, 1);  // t1 never written
    test::expect_error([&] { w.commit(); }, {"'t1'", "incomplete"});
  }
  EXPECT_TRUE(test::nothing_named(dir.path(), "out"));

  fs::create_directories(out);
  std::ofstream(out / "old.txt") << "previous model";
  test::expect_error([&] { CheckpointWriter w(out, false, plan_of(1, 0)); }, {out.string(), "overwriting"});
  // Overwriting replaces only a directory fp4gptq wrote: without the marker it stays as it is.
  test::expect_error([&] { CheckpointWriter w(out, true, plan_of(1, 0)); }, {out.string(), ".fp4gptq-output"});
  EXPECT_EQ(test::read_text(out / "old.txt"), "previous model");
  std::ofstream(out / ".fp4gptq-output") << "{}";
  {
    CheckpointWriter w(out, true, plan_of(1, 0));
    fill_all(w, 1);
    w.commit();
  }
  EXPECT_FALSE(fs::exists(out / "old.txt"));
  EXPECT_TRUE(fs::exists(out / "pseudo_quantized_model-4bit-16g.safetensors"));
  EXPECT_TRUE(fs::exists(out / ".fp4gptq-output")) << "the new output carries the marker";
  EXPECT_TRUE(test::nothing_named(dir.path(), "out."));
}

TEST(CheckpointWriter, EmptyExistingDirectoryIsAccepted) {
  test::ScratchDir dir;
  fs::create_directories(dir / "out");
  CheckpointWriter w(dir / "out", false, plan_of(1, 0));
  fill_all(w, 1);
  w.commit();
  EXPECT_TRUE(fs::exists(dir / "out" / "model.safetensors.index.json"));
}

TEST(CheckpointWriter, UnwritableParent) {
  test::ScratchDir dir;
  test::expect_error([&] { CheckpointWriter w(dir / "no" / "such" / "out", false, plan_of(1, 0)); },
                     {"does not exist"});
}

}  // namespace
}  // namespace fp4gptq::io
