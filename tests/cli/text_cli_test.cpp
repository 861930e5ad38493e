// Text in through the command line: `tokenize` gives the tokenizers library's ids, `quantize` takes text
// calibration in both modes (documents mode gives exactly the checkpoint of the same library ids as token-id
// JSONL), and `eval-ppl` on text gives exactly the perplexity of the library's ids of that text.
#include <gtest/gtest.h>

#include "tests/test_support.hpp"
#include "tests/tokenizer/tokenizer_data.hpp"

namespace fp4gptq {
namespace {

using test::cli;
using test::run_command;
namespace fs = std::filesystem;

std::vector<std::vector<uint32_t>> ids_lines(const fs::path& p, const char* key = "input_ids") {
  std::vector<std::vector<uint32_t>> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).at(key).get<std::vector<uint32_t>>());
  return out;
}

void write_ids_jsonl(const fs::path& p, const std::vector<std::vector<uint32_t>>& samples) {
  std::ofstream f(p);
  for (const auto& s : samples) f << nlohmann::json{{"input_ids", s}}.dump() << "\n";
}

TEST(TokenizeCli, IdsAndTextOfTheTokenizersLibrary) {
  test::ScratchDir dir;
  test::write_tokenizer_dir(dir / "m", "llama3_meta");
  const auto expected = test::expected_for("llama3_meta");
  const auto corpus = test::tokenizer_data_dir() / "corpus.jsonl";
  const std::string base = cli() + " tokenize --model " + (dir / "m").string();
  auto r = run_command(base + " --input " + corpus.string() + " > " + (dir / "plain.jsonl").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(base + " --add-special-tokens --input " + corpus.string() + " > " + (dir / "special.jsonl").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto plain = ids_lines(dir / "plain.jsonl"), special = ids_lines(dir / "special.jsonl");
  ASSERT_EQ(plain.size(), expected.size());
  ASSERT_EQ(special.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plain[i], expected[i].plain) << "text " << i;
    EXPECT_EQ(special[i], expected[i].special) << "text " << i;
  }
  // --decode: ids back to the library's text, with and without special tokens.
  r = run_command(base + " --decode --input " + (dir / "special.jsonl").string() + " > " + (dir / "text.jsonl").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(base + " --decode --skip-special-tokens --input " + (dir / "special.jsonl").string() + " > " +
                  (dir / "skip.jsonl").string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream skip(dir / "skip.jsonl");
  std::string line;
  for (size_t i = 0; std::getline(skip, line); ++i)
    EXPECT_EQ(nlohmann::json::parse(line).at("text").get<std::string>(), expected[i].decoded_special_skip);
  // A .txt file is one document.
  std::ofstream(dir / "doc.txt", std::ios::binary) << "Hello world";
  r = run_command(base + " --input " + (dir / "doc.txt").string() + " > " + (dir / "doc.jsonl").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ids_lines(dir / "doc.jsonl"), (std::vector<std::vector<uint32_t>>{{9906, 1917}}));
}

TEST(TokenizeCli, BadInputIsStatusTwoNamingTheCulprit) {
  test::ScratchDir dir;
  test::write_tokenizer_dir(dir / "m", "mistral");
  const std::string base = cli() + " tokenize --model " + (dir / "m").string();
  std::ofstream(dir / "bad.txt", std::ios::binary) << "abc\xE2\x82";
  auto r = run_command("(" + base + " --input " + (dir / "bad.txt").string() + " > " + (dir / "out.jsonl").string() + ")");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("bad.txt: invalid UTF-8 at byte 3"), std::string::npos) << r.output;
  auto j = nlohmann::json::parse(test::tokenizer_json("mistral"));
  j["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
  std::ofstream(dir / "m" / "tokenizer.json", std::ios::trunc) << j.dump();
  std::ofstream(dir / "ok.txt") << "fine";
  r = run_command(base + " --input " + (dir / "ok.txt").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("tokenizer.json: pre_tokenizer: unsupported pre_tokenizer type \"UnicodeScripts\""),
            std::string::npos)
      << r.output;
  std::ofstream(dir / "m" / "tokenizer.json", std::ios::trunc) << "{\"model\": ";
  r = run_command(base + " --input " + (dir / "ok.txt").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find((dir / "m" / "tokenizer.json").string()), std::string::npos) << r.output;
}

// A Llama model with the Mistral 7B tokenizer's vocabulary (32000) and its tokenizer files.
fs::path llama_with_tokenizer(const test::ScratchDir& dir) {
  auto o = test::tiny_dense("LlamaForCausalLM");
  o.vocab = 32000;
  const auto m = dir / "m";
  tools::make_tiny_model(m, o);
  test::write_tokenizer_dir(m, "mistral");
  return m;
}

std::string file_bytes(const fs::path& p) { return test::read_text(p); }

TEST(TextQuantize, DocumentsModeEqualsTheLibrarysIdsAndWindowsRun) {
  test::ScratchDir dir;
  const auto m = llama_with_tokenizer(dir);
  const auto corpus = test::tokenizer_data_dir() / "corpus.jsonl";
  const std::string base = cli() + " quantize --quiet --model " + m.string() + " --nsamples 12 --seqlen 48";
  auto r = run_command(base + " --calib " + corpus.string() + " --calib-mode documents --out " + (dir / "qt").string());
  ASSERT_EQ(r.status, 0) << r.output;
  // The same samples as token ids: the first 12 documents' library ids (with <s>), truncated to 48.
  const auto expected = test::expected_for("mistral");
  std::vector<std::vector<uint32_t>> ids;
  for (size_t i = 0; i < 12; ++i)
    ids.emplace_back(expected[i].special.begin(),
                     expected[i].special.begin() + std::min<size_t>(48, expected[i].special.size()));
  write_ids_jsonl(dir / "ids.jsonl", ids);
  r = run_command(base + " --calib " + (dir / "ids.jsonl").string() + " --out " + (dir / "qi").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string main = "pseudo_quantized_model-4bit-16g.safetensors";
  EXPECT_EQ(file_bytes(dir / "qt" / main), file_bytes(dir / "qi" / main));
  EXPECT_FALSE(file_bytes(dir / "qt" / main).empty());
  auto report = nlohmann::json::parse(file_bytes(dir / "qt" / "quantization_report.json"));
  EXPECT_EQ(report["calibration"]["format"], "text-jsonl");
  EXPECT_EQ(report["calibration"]["mode"], "documents");
  EXPECT_EQ(report["calibration"]["samples"], 12);

  r = run_command(cli() + " quantize --model " + m.string() + " --nsamples 6 --seqlen 32 --calib-mode windows --calib " +
                  corpus.string() + " --out " + (dir / "qw").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("calibration: 6 samples, 192 tokens"), std::string::npos) << r.output;
  report = nlohmann::json::parse(file_bytes(dir / "qw" / "quantization_report.json"));
  EXPECT_EQ(report["calibration"]["mode"], "windows");
  EXPECT_EQ(report["calibration"]["tokens"], 192);
  EXPECT_GT(report["calibration"]["too_short"].get<int64_t>(), 0);
  EXPECT_TRUE(fs::exists(dir / "qw" / "tokenizer.json"));  // the tokenizer travels with the checkpoint
}

TEST(TextEvalPpl, TextGivesExactlyThePerplexityOfTheLibrarysIds) {
  test::ScratchDir dir;
  const auto m = llama_with_tokenizer(dir);
  const auto eval = test::tokenizer_data_dir() / "eval";
  const auto joined = nlohmann::json::parse(test::read_text(eval / "expected_joined.json"));
  write_ids_jsonl(dir / "ids.jsonl", {joined.at("mistral").get<std::vector<uint32_t>>()});
  const std::string base = cli() + " eval-ppl --quiet --seqlen 256 --model " + m.string() + " --data ";
  const auto from_ids = run_command(base + (dir / "ids.jsonl").string());
  const auto from_jsonl = run_command(base + (eval / "eval.jsonl").string());
  const auto from_txt = run_command(base + (eval / "eval.txt").string());
  ASSERT_EQ(from_ids.status, 0) << from_ids.output;
  ASSERT_EQ(from_jsonl.status, 0) << from_jsonl.output;
  ASSERT_EQ(from_txt.status, 0) << from_txt.output;
  const auto ppl = [](const std::string& out) { return out.substr(out.find("ppl ")); };
  EXPECT_EQ(ppl(from_jsonl.output), ppl(from_ids.output));
  EXPECT_EQ(ppl(from_txt.output), ppl(from_ids.output));
  EXPECT_NE(from_ids.output.find("22 windows"), std::string::npos) << from_ids.output;  // 5802 ids / 256
}

}  // namespace
}  // namespace fp4gptq
