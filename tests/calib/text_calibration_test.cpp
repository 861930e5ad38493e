// Text calibration and evaluation data (DESIGN §6, §8) against the ids of the tokenizers library: documents
// mode is each document's library ids, truncated; windows are slices of them; the evaluation stream is the
// library's ids of the joined documents. Bad text names the file, the line or the byte.
#include <gtest/gtest.h>

#include <set>

#include "calib/text_calibration.hpp"
#include "tests/test_support.hpp"
#include "tests/tokenizer/tokenizer_data.hpp"

namespace fp4gptq::calib {
namespace {

using test::ScratchDir;

const tokenizer::Tokenizer& mistral() {
  static const auto t = test::load_family("mistral");
  return t;
}

std::vector<int32_t> as_int(const std::vector<uint32_t>& v) { return {v.begin(), v.end()}; }

std::vector<int32_t> truncated(const std::vector<uint32_t>& v, size_t n) {
  return as_int(std::vector<uint32_t>(v.begin(), v.begin() + std::min(n, v.size())));
}

// Whether `w` occurs in `ids` as a contiguous run.
bool is_slice(const std::vector<int32_t>& w, const std::vector<int32_t>& ids) {
  return std::search(ids.begin(), ids.end(), w.begin(), w.end()) != ids.end();
}

const std::filesystem::path corpus() { return test::tokenizer_data_dir() / "corpus.jsonl"; }

TEST(TextCalibration, DocumentsAreTheLibrarysIdsTruncated) {
  const auto expected = test::expected_for("mistral");
  TextStats st;
  const auto set = load_text_calibration(corpus(), mistral(), 32000, {50, 64, TextMode::Documents, std::nullopt, "text"}, &st);
  ASSERT_EQ(set.samples.size(), 50u);
  EXPECT_EQ(st.mode, TextMode::Documents);
  EXPECT_EQ(st.too_short, 0);  // Mistral adds <s>: no document is empty
  for (size_t k = 0; k < 50; ++k) {
    EXPECT_EQ(set.lines[k], static_cast<int64_t>(k) + 1);
    EXPECT_EQ(set.samples[k], truncated(expected[k].special, 64)) << "document " << k;
  }
  // Seeded: distinct documents in file order, the same for the same seed, others for another.
  const auto a = load_text_calibration(corpus(), mistral(), 32000, {20, 0, TextMode::Documents, 7, "text"}, nullptr);
  const auto b = load_text_calibration(corpus(), mistral(), 32000, {20, 0, TextMode::Documents, 7, "text"}, nullptr);
  const auto c = load_text_calibration(corpus(), mistral(), 32000, {20, 0, TextMode::Documents, 8, "text"}, nullptr);
  ASSERT_EQ(a.samples.size(), 20u);
  EXPECT_EQ(a.lines, b.lines);
  EXPECT_NE(a.lines, c.lines);
  EXPECT_TRUE(std::is_sorted(a.lines.begin(), a.lines.end()));
  EXPECT_EQ(std::set<int64_t>(a.lines.begin(), a.lines.end()).size(), 20u);
  for (size_t k = 0; k < a.samples.size(); ++k) EXPECT_EQ(a.samples[k], as_int(expected[a.lines[k] - 1].special));
}

TEST(TextCalibration, EmptyDocumentsAreSkippedAndCounted) {
  ScratchDir d;
  std::ofstream(d / "c.jsonl") << "{\"text\": \"\"}\n{\"text\": \"Hello world\"}\n\n{\"text\": \"\"}\n";
  const auto qwen = test::load_family("qwen3");  // adds no special token, so "" gives no ids
  TextStats st;
  const auto set = load_text_calibration(d / "c.jsonl", qwen, 151936, {0, 0, TextMode::Auto, std::nullopt, "text"}, &st);
  ASSERT_EQ(set.samples.size(), 1u);
  EXPECT_EQ(set.samples[0], (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(set.lines[0], 2);
  EXPECT_EQ(st.documents, 3);
  EXPECT_EQ(st.too_short, 2);
}

TEST(TextCalibration, WindowsAreExactSlicesOfLongDocuments) {
  const auto expected = test::expected_for("mistral");
  TextStats st;
  const auto set = load_text_calibration(corpus(), mistral(), 32000, {30, 32, TextMode::Windows, 3, "text"}, &st);
  ASSERT_EQ(set.samples.size(), 30u);
  EXPECT_EQ(st.mode, TextMode::Windows);
  int64_t short_docs = 0;
  for (const auto& e : expected) short_docs += e.special.size() <= 32;
  EXPECT_GT(st.too_short, 0);
  EXPECT_LE(st.too_short, short_docs);
  for (size_t k = 0; k < set.samples.size(); ++k) {
    const auto& doc = expected[set.lines[k] - 1].special;
    EXPECT_GT(doc.size(), 32u);
    ASSERT_EQ(set.samples[k].size(), 32u);
    EXPECT_TRUE(is_slice(set.samples[k], as_int(doc))) << "window " << k;
  }
  const auto again = load_text_calibration(corpus(), mistral(), 32000, {30, 32, TextMode::Windows, 3, "text"}, nullptr);
  EXPECT_EQ(again.samples, set.samples);
  // A .txt is one stream (wikitext): windows are slices of the library's ids of the whole text; auto picks windows.
  const auto joined = nlohmann::json::parse(test::read_text(test::tokenizer_data_dir() / "eval" / "expected_joined.json"));
  const auto stream = joined.at("mistral").get<std::vector<int32_t>>();
  const auto txt = load_text_calibration(test::tokenizer_data_dir() / "eval" / "eval.txt", mistral(), 32000,
                                         {16, 128, TextMode::Auto, std::nullopt, "text"}, &st);
  EXPECT_EQ(st.mode, TextMode::Windows);
  ASSERT_EQ(txt.samples.size(), 16u);
  for (const auto& w : txt.samples) {
    ASSERT_EQ(w.size(), 128u);
    EXPECT_TRUE(is_slice(w, stream));
  }
}

TEST(TextCalibration, EvaluationStreamIsTheLibrarysIdsOfTheJoinedText) {
  const auto joined = nlohmann::json::parse(test::read_text(test::tokenizer_data_dir() / "eval" / "expected_joined.json"));
  const auto dir = test::tokenizer_data_dir() / "eval";
  EXPECT_EQ(text_stream(dir / "eval.jsonl", mistral(), 32000, "text"), joined.at("mistral").get<std::vector<int32_t>>());
  EXPECT_EQ(text_stream(dir / "eval.txt", mistral(), 32000, "text"), joined.at("mistral").get<std::vector<int32_t>>());
  const auto qwen = test::load_family("qwen3");
  EXPECT_EQ(text_stream(dir / "eval.jsonl", qwen, 151936, "text"), joined.at("qwen3").get<std::vector<int32_t>>());
}

TEST(TextCalibration, BadTextNamesFileLineAndByte) {
  ScratchDir d;
  std::ofstream(d / "bad.txt", std::ios::binary) << "good text\nbad \xC3(";
  test::expect_error([&] { text_stream(d / "bad.txt", mistral(), 32000, "text"); },
                     {(d / "bad.txt").string(), "invalid UTF-8 at byte 14"});
  std::ofstream(d / "bad.jsonl", std::ios::binary) << "{\"text\": \"ok\"}\n{\"text\": \"x\xFFy\"}\n";
  test::expect_error([&] { text_stream(d / "bad.jsonl", mistral(), 32000, "text"); },
                     {(d / "bad.jsonl").string(), "invalid UTF-8 at byte 26"});
  std::ofstream(d / "num.jsonl") << "{\"text\": \"ok\"}\n\n{\"text\": 5}\n";
  test::expect_error([&] { text_stream(d / "num.jsonl", mistral(), 32000, "text"); },
                     {(d / "num.jsonl").string() + ":3", "must be a string"});
  std::ofstream(d / "field.jsonl") << "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n";
  test::expect_error([&] { text_stream(d / "field.jsonl", mistral(), 32000, "text"); },
                     {(d / "field.jsonl").string() + ":2", "\"text\""});
  std::ofstream(d / "other.jsonl") << "{\"body\": \"x\"}\n";
  test::expect_error([&] { detect_kind(d / "other.jsonl", "text"); }, {"other.jsonl:1", "input_ids", "\"text\""});
  std::ofstream(d / "empty.jsonl") << "\n\n";
  test::expect_error([&] { detect_kind(d / "empty.jsonl", "text"); }, {"empty.jsonl", "empty"});
  EXPECT_EQ(detect_kind(d / "other.jsonl", "body"), FileKind::TextJsonl);
  EXPECT_EQ(detect_kind(d / "bad.txt", "text"), FileKind::PlainText);
  test::expect_error(
      [&] { load_text_calibration(corpus(), mistral(), 32000, {4, 1'000'000, TextMode::Windows, 0, "text"}, nullptr); },
      {"no document is longer than seqlen 1000000"});
  test::expect_error(
      [&] { load_text_calibration(corpus(), mistral(), 32000, {0, 64, TextMode::Windows, 0, "text"}, nullptr); },
      {"windows mode needs nsamples > 0"});
  // The model's vocabulary is smaller than the tokenizer's: named, not passed on.
  test::expect_error(
      [&] { load_text_calibration(corpus(), mistral(), 1000, {4, 0, TextMode::Documents, std::nullopt, "text"}, nullptr); },
      {"corpus.jsonl:", "outside the model's vocabulary [0, 1000)"});
}

TEST(TextCalibration, UniformBelowIsUnbiasedAndInRange) {
  std::mt19937_64 rng(1);
  std::vector<int64_t> counts(6, 0);
  for (int i = 0; i < 60000; ++i) ++counts[uniform_below(rng, 6)];
  for (const auto c : counts) EXPECT_NEAR(static_cast<double>(c), 10000.0, 400.0);  // ~4.4 sigma
  EXPECT_EQ(uniform_below(rng, 1), 0u);
}

}  // namespace
}  // namespace fp4gptq::calib
