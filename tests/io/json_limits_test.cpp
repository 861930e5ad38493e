// Bounded JSON parsing of every input (docs/DESIGN.md §9): deep nesting, huge objects and oversized files are
// refused with an error naming file and field instead of crashing (stack overflow) or running quadratically.
#include <gtest/gtest.h>

#include <fstream>

#include "io/json_file.hpp"
#include "io/model_dir.hpp"
#include "io/safetensors_reader.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::io {
namespace {

namespace fs = std::filesystem;

std::string nested(size_t depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

TEST(JsonLimits, DeepNestingIsRefusedNamingTheField) {
  // 200k levels overflowed the stack when the value was destroyed or dumped.
  const std::string deep = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"extra\": " + nested(200000) + "}";
  test::expect_error([&] { parse_json(deep, "m/config.json", kConfigLimits); },
                     {"m/config.json", "field 'extra'", "nesting deeper than 64"});
  test::expect_error([&] { parse_json(nested(100000), "x.json", kConfigLimits); }, {"x.json", "element 0", "nesting"});
  const auto ok = parse_json("{\"a\": " + nested(60) + "}", "ok.json", kConfigLimits);  // 61 levels: allowed
  EXPECT_TRUE(ok["a"].is_array());
}

TEST(JsonLimits, SizeKeysAndSyntaxAreChecked) {
  std::string many = "{";
  for (int i = 0; i < 5000; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  many += "}";
  test::expect_error([&] { parse_json(many, "c.json", kConfigLimits); }, {"c.json", "more than 4096 keys"});
  EXPECT_EQ(parse_json_unordered(many, "i.json", kIndexLimits).size(), 5000u);
  test::expect_error([&] { parse_json(std::string(5 << 20, ' '), "big.json", kConfigLimits); },
                     {"big.json", "exceed the limit"});
  test::expect_error([&] { parse_json("{\"a\": [1, 2", "t.json", kConfigLimits); }, {"t.json", "not valid JSON"});
  EXPECT_EQ(parse_json("{\"b\": 1, \"a\": 2}", "o.json", kConfigLimits).begin().key(), "b") << "key order kept";
}

TEST(JsonLimits, LargeIndexParsesInLinearTime) {
  // 300k entries: an ordered_json object compares every key against all earlier ones (~4.5e10 string compares,
  // far past ctest's timeout); the index is parsed into a sorted map instead.
  test::ScratchDir dir;
  {
    std::ofstream f(dir / "model.safetensors.index.json");
    f << "{\"metadata\": {}, \"weight_map\": {";
    for (int i = 0; i < 300000; ++i)
      f << (i ? "," : "") << "\"model.layers." << i << ".w\": \"model-0000" << (i % 2 + 1) << ".safetensors\"";
    f << "}}";
  }
  const auto by_file = read_index(dir / "model.safetensors.index.json");
  ASSERT_EQ(by_file.size(), 2u);
  EXPECT_EQ(by_file.at("model-00001.safetensors").size(), 150000u);
  EXPECT_EQ(by_file.at("model-00002.safetensors").size(), 150000u);
}

TEST(JsonLimits, IndexFileNamesStayInsideTheDirectory) {
  for (const char* bad : {"../x.safetensors", "/etc/passwd", "", "..", "sub/x.safetensors"})
    test::expect_error(
        [&] {
          parse_index(nlohmann::json{{"weight_map", {{"t", bad}}}}, "idx.json");
        },
        {"idx.json", "'t'", "must be a file name inside the directory"});
}

TEST(JsonLimits, SafetensorsHeaderNestingIsRefused) {
  test::ScratchDir dir;
  const std::string header = "{\"w\": {\"dtype\": \"F16\", \"shape\": " + nested(100000) + ", \"data_offsets\": [0, 2]}}";
  test::write_raw_safetensors(dir / "deep.safetensors", header, "xx");
  test::expect_error([&] { SafetensorsFile f(dir / "deep.safetensors"); }, {"deep.safetensors", "header", "nesting"});
}

// Tensor data starts right after the header, so an odd header length leaves every element misaligned; the
// conversion must still read the right values (UBSan flagged the unaligned uint16_t loads).
TEST(JsonLimits, OddHeaderLengthReadsCorrectValues) {
  test::ScratchDir dir;
  const std::string header = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}";  // 55 bytes
  ASSERT_EQ(header.size() % 2, 1u);
  const std::string data("\x80\x3f\x00\xc0\x40\x40", 6);  // bf16 1.0, -2.0, 3.0
  test::write_raw_safetensors(dir / "odd.safetensors", header, data);
  const SafetensorsFile f(dir / "odd.safetensors");
  EXPECT_EQ(f.read_f32(f.at("w")), (std::vector<float>{1.0f, -2.0f, 3.0f}));
}

}  // namespace
}  // namespace fp4gptq::io
