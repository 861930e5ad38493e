// Calibration JSONL (DESIGN §6): parsing, masks, selection, truncation, and every bad-input case naming file
// and line.
#include <gtest/gtest.h>

#include "calib/activation_store.hpp"
#include "calib/calibration.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::calib {
namespace {

std::filesystem::path write(const test::ScratchDir& d, const std::string& text) {
  const auto p = d / "calib.jsonl";
  std::ofstream(p) << text;
  return p;
}

TEST(Calibration, ParsesFlatNestedAndMaskedSamples) {
  test::ScratchDir d;
  const auto p = write(d,
                       "{\"input_ids\": [1, 2, 3]}\n"
                       "\n"
                       "{\"input_ids\": [[4, 5, 6, 7]], \"attention_mask\": [[1, 0, 1, 1]]}\n"
                       "{\"input_ids\": [9], \"attention_mask\": null}\n");
  const auto s = read_token_jsonl(p, 10);
  ASSERT_EQ(s.samples.size(), 3u);
  EXPECT_EQ(s.samples[0], (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(s.samples[1], (std::vector<int32_t>{4, 6, 7}));  // mask-0 position dropped
  EXPECT_EQ(s.samples[2], (std::vector<int32_t>{9}));
  EXPECT_EQ(s.lines, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(s.tokens(), 7);
}

TEST(Calibration, FirstNSeededRandomNAndTruncation) {
  test::ScratchDir d;
  std::string text;
  for (int i = 0; i < 20; ++i) text += "{\"input_ids\": [" + std::to_string(i) + ", 1, 2, 3, 4]}\n";
  const auto p = write(d, text);
  auto s = load_calibration(p, 100, {5, 3, std::nullopt});
  ASSERT_EQ(s.samples.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.samples[i], (std::vector<int32_t>{i, 1, 2}));
  const auto a = load_calibration(p, 100, {6, 0, 7});
  const auto b = load_calibration(p, 100, {6, 0, 7});
  const auto c = load_calibration(p, 100, {6, 0, 8});
  EXPECT_EQ(a.lines, b.lines);  // seeded: reproducible
  EXPECT_NE(a.lines, c.lines);  // another seed, another subset
  EXPECT_TRUE(std::is_sorted(a.lines.begin(), a.lines.end()));
  EXPECT_NE(a.lines, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(load_calibration(p, 100, {0, 0, std::nullopt}).samples.size(), 20u);
  EXPECT_EQ(load_calibration(p, 100, {50, 0, 3}).samples.size(), 20u);  // more than there are: all
}

TEST(Calibration, BadInputNamesFileAndLine) {
  test::ScratchDir d;
  auto p = write(d, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 512]}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:2", "token id 512", "[0, 512)"});
  p = write(d, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 4]\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:2", "not valid JSON"});
  p = write(d, "{\"input_ids\": []}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "empty sample"});
  p = write(d, "{\"input_ids\": [1, 2], \"attention_mask\": [0, 0]}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "empty sample", "attention_mask"});
  p = write(d, "{\"input_ids\": [1, 2], \"attention_mask\": [1]}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "as long as"});
  p = write(d, "{\"text\": \"hello\"}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "input_ids"});
  p = write(d, "{\"input_ids\": [1, -3]}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "-3"});
  p = write(d, "{\"input_ids\": [1, 2.5]}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:1", "2.5", "not an integer"});
  p = write(d, "\n\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl", "empty"});
  test::expect_error([&] { read_token_jsonl(d / "missing.jsonl", 512); }, {"missing.jsonl", "cannot open"});
}

TEST(Calibration, DeepNestingIsRefusedAndLongLinesRead) {
  test::ScratchDir d;
  // 300k nested arrays crashed the reader (stack overflow destroying the parsed value).
  auto p = write(d, "{\"input_ids\": [1]}\n{\"input_ids\": " + std::string(300000, '[') + std::string(300000, ']') + "}\n");
  test::expect_error([&] { read_token_jsonl(p, 512); }, {"calib.jsonl:2", "field 'input_ids'", "nesting deeper"});
  // A line far longer than the reader's 64 KiB buffer, split across reads, then a second line.
  std::string ids;
  for (int i = 0; i < 30000; ++i) ids += (i ? ", " : "") + std::to_string(i % 500);
  p = write(d, "{\"input_ids\": [" + ids + "]}\n{\"input_ids\": [7]}");
  const auto set = read_token_jsonl(p, 512);
  ASSERT_EQ(set.samples.size(), 2u);
  ASSERT_EQ(set.samples[0].size(), 30000u);
  EXPECT_EQ(set.samples[0][29999], 29999 % 500);
  EXPECT_EQ(set.samples[1], std::vector<int32_t>{7});
  EXPECT_EQ(set.lines, (std::vector<int64_t>{1, 2}));
}

TEST(ActivationStore, Bf16RoundsAndF32Keeps) {
  const std::vector<float> x = {1.0f, 1.00390625f, 3.14159f, -2.0f};
  ActivationStore b(numeric::DType::BF16, 2, 2), f(numeric::DType::F32, 2, 2);
  b.store(0, 2, x.data());
  f.store(0, 2, x.data());
  std::vector<float> yb(4), yf(4);
  b.load(0, 2, yb.data());
  f.load(0, 2, yf.data());
  EXPECT_EQ(yf, x);
  EXPECT_EQ(yb[1], 1.0f);       // 1 + 2^-8 ties to even in bf16
  EXPECT_EQ(yb[2], 3.140625f);  // bf16 nearest of pi
  EXPECT_EQ(b.bytes(), 8u);
}

}  // namespace
}  // namespace fp4gptq::calib
