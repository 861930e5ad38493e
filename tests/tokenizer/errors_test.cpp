// Bad tokenizer files and bad text fail cleanly, naming the file and the component or byte at fault.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_support.hpp"
#include "tests/tokenizer/tokenizer_data.hpp"
#include "tokenizer/special_tokens.hpp"
#include "tokenizer/tokenizer.hpp"

namespace fp4gptq::test {
namespace {

using tokenizer::Tokenizer;

nlohmann::json small_bpe() {
  return nlohmann::json::parse(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
                                   "added_tokens": []})");
}

void expect_load_error(const nlohmann::json& j, const std::vector<std::string>& parts) {
  expect_error([&] { Tokenizer::from_json(j.dump(), "m/tokenizer.json"); }, parts);
}

TEST(TokenizerErrors, UnsupportedComponentsAreNamed) {
  auto j = small_bpe();
  j["model"] = {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}};
  expect_load_error(j, {"m/tokenizer.json", "model", "WordPiece"});
  j = small_bpe();
  j["model"]["type"] = "Unigram";
  expect_load_error(j, {"m/tokenizer.json", "Unigram"});
  j = small_bpe();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "BertNormalizer"}}}}};
  expect_load_error(j, {"m/tokenizer.json", "normalizer.normalizers[1]", "BertNormalizer"});
  j = small_bpe();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", "AAAA"}};
  expect_load_error(j, {"normalizer", "Precompiled"});
  j = small_bpe();
  j["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
  expect_load_error(j, {"pre_tokenizer", "UnicodeScripts"});
  j = small_bpe();
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}};
  expect_load_error(j, {"decoder", "WordPiece"});
  j = small_bpe();
  j["post_processor"] = {{"type", "Fancy"}};
  expect_load_error(j, {"post_processor", "Fancy"});
  j = small_bpe();
  j["model"]["dropout"] = 0.1;
  expect_load_error(j, {"model.dropout", "random"});
  j = small_bpe();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_load_error(j, {"pre_tokenizer.pattern", "invalid regex", "(unclosed"});
  j = small_bpe();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}};
  expect_load_error(j, {"pre_tokenizer.behavior", "Sideways"});
  j = small_bpe();
  j["model"]["merges"] = {"a c"};
  expect_load_error(j, {"model.merges[0]", "\"c\""});
}

TEST(TokenizerErrors, HostileButValidFilesStaySmallAndLazy) {
  // A sparse id near 2^31 is a hash entry, not a 16 GiB table.
  auto j = small_bpe();
  j["model"]["vocab"]["zz"] = 2147483647;
  const auto t = Tokenizer::from_json(j.dump(), "m/tokenizer.json");
  EXPECT_EQ(t.vocab_size(), 2147483648u);
  EXPECT_EQ(t.decode({2147483647}, false), "zz");
  // An unk_token missing from the vocabulary fails only when a character needs it (as the library).
  j = small_bpe();
  j["model"]["unk_token"] = "<unk>";
  const auto u = Tokenizer::from_json(j.dump(), "m/tokenizer.json");
  EXPECT_EQ(u.encode("ab", false), (std::vector<uint32_t>{2}));
  expect_error([&] { u.encode("abc", false); }, {"m/tokenizer.json", "unk_token", "<unk>"});
  j = small_bpe();
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"b", 4294967295u}}, {"cls", {"a", 0}}};
  expect_load_error(j, {"post_processor.sep", "[0, 2^31)"});
}

TEST(TokenizerErrors, TruncatedOrNotJson) {
  ScratchDir dir;
  const std::string full = tokenizer_json("mistral");
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << full.substr(0, full.size() / 2);
  expect_error([&] { tokenizer::load_tokenizer(dir.path()); }, {(dir / "tokenizer.json").string()});
  std::ofstream(dir / "tokenizer.json", std::ios::binary | std::ios::trunc) << "not json at all";
  expect_error([&] { tokenizer::load_tokenizer(dir.path()); }, {(dir / "tokenizer.json").string()});
  std::ofstream(dir / "tokenizer.json", std::ios::binary | std::ios::trunc) << "[1, 2, 3]";
  expect_error([&] { tokenizer::load_tokenizer(dir.path()); }, {(dir / "tokenizer.json").string(), "object"});
  fs::remove(dir / "tokenizer.json");
  expect_error([&] { tokenizer::load_tokenizer(dir.path()); }, {(dir / "tokenizer.json").string(), "missing"});
}

TEST(TokenizerErrors, InvalidUtf8TextNamesTheByte) {
  const auto t = Tokenizer::from_json(small_bpe().dump(), "m/tokenizer.json");
  expect_error([&] { t.encode("abab\xC3(", false, "data.txt"); }, {"data.txt", "invalid UTF-8 at byte 4"});
}

TEST(BosPolicies, AutoFollowsTransformersForLlamaClasses) {
  ScratchDir dir;
  // DeepSeek-V3: its tokenizer.json adds nothing, its tokenizer_config.json (LlamaTokenizerFast,
  // add_bos_token true) makes transformers add <｜begin▁of▁sentence｜> (id 0).
  write_tokenizer_dir(dir / "ds", "deepseek_v3");
  const auto file = tokenizer::load_tokenizer(dir / "ds", tokenizer::BosPolicy::File);
  const auto aut = tokenizer::load_tokenizer(dir / "ds", tokenizer::BosPolicy::Auto);
  const auto plain = file.encode("Hello world", false);
  EXPECT_EQ(file.encode("Hello world", true), plain);
  std::vector<uint32_t> with_bos = {0};
  with_bos.insert(with_bos.end(), plain.begin(), plain.end());
  EXPECT_EQ(aut.encode("Hello world", true), with_bos);
  // Qwen3's class (Qwen2Tokenizer) is not rebuilt: auto is the file.
  write_tokenizer_dir(dir / "qw", "qwen3");
  const auto q = tokenizer::load_tokenizer(dir / "qw", tokenizer::BosPolicy::Auto);
  EXPECT_EQ(q.encode("Hello world", true), (std::vector<uint32_t>{9707, 1879}));
  // Mistral 7B (ids from the tokenizers library): the file adds <s> (1); never drops it, always keeps exactly one.
  write_tokenizer_dir(dir / "l2", "mistral");
  EXPECT_EQ(tokenizer::load_tokenizer(dir / "l2", tokenizer::BosPolicy::File).encode("Hello world", true),
            (std::vector<uint32_t>{1, 22557, 1526}));
  EXPECT_EQ(tokenizer::load_tokenizer(dir / "l2", tokenizer::BosPolicy::Never).encode("Hello world", true),
            (std::vector<uint32_t>{22557, 1526}));
  EXPECT_EQ(tokenizer::load_tokenizer(dir / "l2", tokenizer::BosPolicy::Always).encode("Hello world", true),
            (std::vector<uint32_t>{1, 22557, 1526}));
  // Llama 3 (lenml's file, ByteLevel post-processor only): always adds <|begin_of_text|> (128000).
  write_tokenizer_dir(dir / "l3", "llama3");
  const auto l3 = tokenizer::load_tokenizer(dir / "l3", tokenizer::BosPolicy::Always);
  EXPECT_EQ(l3.encode("Hi", true).front(), 128000u);
  EXPECT_EQ(l3.encode("Hi", true).size(), l3.encode("Hi", false).size() + 1);
}

}  // namespace
}  // namespace fp4gptq::test
