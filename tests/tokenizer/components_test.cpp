// The tokenizer's parts against hand-computed values: UTF-8 handling as Rust's, GPT-2's byte alphabet, BPE merge
// order, byte fallback and unknown tokens, added-token matching, post-processors and decoders.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_support.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::test {
namespace {

using tokenizer::Tokenizer;
using Ids = std::vector<uint32_t>;

TEST(Utf8, InvalidOffsetsAndLossyDecodingFollowRust) {
  EXPECT_EQ(tokenizer::find_invalid_utf8("plain ascii text"), std::string::npos);
  EXPECT_EQ(tokenizer::find_invalid_utf8("h\xC3\xA9llo"), std::string::npos);          // é
  EXPECT_EQ(tokenizer::find_invalid_utf8("ab\xC3"), 2u);                               // truncated
  EXPECT_EQ(tokenizer::find_invalid_utf8("abcdefghij\xC0\xAF"), 10u);                  // overlong
  EXPECT_EQ(tokenizer::find_invalid_utf8("\xED\xA0\x80"), 0u);                         // surrogate D800
  EXPECT_EQ(tokenizer::find_invalid_utf8("x\xF4\x90\x80\x80"), 1u);                    // above U+10FFFF
  EXPECT_EQ(tokenizer::find_invalid_utf8("\xF0\x9F\x91\x8D ok \xFF"), 8u);             // 👍 then 0xFF
  // String::from_utf8_lossy: one U+FFFD per maximal ill-formed subsequence (the Unicode "best practice").
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(tokenizer::from_utf8_lossy("Hello \xF0\x90\x80World"), "Hello " + r + "World");
  EXPECT_EQ(tokenizer::from_utf8_lossy("\xC0\xAF"), r + r);
  EXPECT_EQ(tokenizer::from_utf8_lossy("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(tokenizer::from_utf8_lossy("\xE2\x82"), r);
  EXPECT_EQ(tokenizer::from_utf8_lossy("a\xE2\x82\xACz"), "a\xE2\x82\xACz");  // €
}

TEST(Utf8, CharacterClassesAndNormalization) {
  EXPECT_TRUE(tokenizer::is_whitespace(U'\u00A0'));
  EXPECT_TRUE(tokenizer::is_whitespace(U'\u3000'));
  EXPECT_FALSE(tokenizer::is_whitespace(U'\u200B'));  // ZERO WIDTH SPACE is not White_Space
  EXPECT_TRUE(tokenizer::is_numeric(U'\u0663'));      // ARABIC-INDIC DIGIT THREE (Nd)
  EXPECT_TRUE(tokenizer::is_numeric(U'\u2460'));      // CIRCLED DIGIT ONE (No)
  EXPECT_TRUE(tokenizer::is_punctuation(U'\u3001'));  // IDEOGRAPHIC COMMA
  EXPECT_TRUE(tokenizer::is_punctuation(U'$'));       // ASCII punctuation, though Unicode calls it Sc
  EXPECT_TRUE(tokenizer::is_word_char(U'\u093F'));    // DEVANAGARI VOWEL SIGN I (Mc)
  EXPECT_TRUE(tokenizer::is_word_char(U'\u200D'));    // ZWJ (Join_Control)
  EXPECT_EQ(tokenizer::normalize("e\xCC\x81", tokenizer::NormalForm::NFC), "\xC3\xA9");
  EXPECT_EQ(tokenizer::normalize("\xC3\xA9", tokenizer::NormalForm::NFD), "e\xCC\x81");
  EXPECT_EQ(tokenizer::normalize("\xEF\xAC\x81", tokenizer::NormalForm::NFKC), "fi");  // ﬁ
  EXPECT_EQ(tokenizer::to_lower("\xC4\xB0Z\xCE\xA3"), "i\xCC\x87z\xCF\x83");  // İ -> i + U+0307, Σ -> σ (no context)
}

TEST(ByteLevel, Gpt2Alphabet) {
  EXPECT_EQ(tokenizer::byte_to_char(' '), "\xC4\xA0");     // Ġ U+0120
  EXPECT_EQ(tokenizer::byte_to_char('\n'), "\xC4\x8A");    // Ċ U+010A
  EXPECT_EQ(tokenizer::byte_to_char('a'), "a");
  EXPECT_EQ(tokenizer::byte_to_char(0xAD), "\xC5\x83");    // the 68th unprintable byte: U+0143
  EXPECT_EQ(tokenizer::byte_to_char(0xA1), "\xC2\xA1");    // printable Latin-1 maps to itself
  for (int b = 0; b < 256; ++b) {
    size_t i = 0;
    EXPECT_EQ(tokenizer::char_to_byte(tokenizer::next_char(tokenizer::byte_to_char(static_cast<uint8_t>(b)), i)), b);
  }
  EXPECT_EQ(tokenizer::char_to_byte(U'\u4E00'), -1);
}

// A tokenizer.json around a BPE model with the given vocabulary, merges and options.
nlohmann::json bpe_json(const std::vector<std::string>& vocab, const nlohmann::json& merges,
                        const nlohmann::json& options = nlohmann::json::object()) {
  nlohmann::json v = nlohmann::json::object();
  for (size_t i = 0; i < vocab.size(); ++i) v[vocab[i]] = i;
  nlohmann::json model = {{"type", "BPE"}, {"vocab", v}, {"merges", merges}};
  model.update(options);
  return {{"model", model}, {"added_tokens", nlohmann::json::array()}};
}

Tokenizer make(const nlohmann::json& j) { return Tokenizer::from_json(j.dump(), "test/tokenizer.json"); }

TEST(Bpe, LowestRankMergesFirstLeftmostOnTies) {
  // vocab ids: a0 b1 c2 ab3 bc4 abc5 aa6
  const std::vector<std::string> v = {"a", "b", "c", "ab", "bc", "abc", "aa"};
  // "b c" outranks "a b": abc -> a|bc; no "a bc" merge, so it stays two tokens.
  EXPECT_EQ(make(bpe_json(v, {"b c", "a b"})).encode("abc", false), (Ids{0, 4}));
  // "a b" first, then "ab c".
  EXPECT_EQ(make(bpe_json(v, {"a b", "ab c"})).encode("abc", false), (Ids{5}));
  // Merges as pairs are the same thing.
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::parse(R"([["a","b"],["ab","c"]])"))).encode("abc", false), (Ids{5}));
  // One pair, overlapping occurrences: leftmost first, aaa -> aa|a.
  EXPECT_EQ(make(bpe_json(v, {"a a"})).encode("aaa", false), (Ids{6, 0}));
  // ignore_merges: a word in the vocabulary is one token even when no merge builds it.
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array(), {{"ignore_merges", true}})).encode("abc", false), (Ids{5}));
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array())).encode("abc", false), (Ids{0, 1, 2}));
}

TEST(Bpe, UnknownCharactersByteFallbackAndFusedUnk) {
  std::vector<std::string> v = {"<unk>", "a", "b"};
  for (int b = 0; b < 256; ++b) {
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    v.push_back(code);  // id 3 + b
  }
  // é is C3 A9: byte tokens 3+0xC3, 3+0xA9.
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array(), {{"byte_fallback", true}, {"unk_token", "<unk>"}}))
                .encode("a\xC3\xA9", false),
            (Ids{1, 3 + 0xC3, 3 + 0xA9}));
  // Without byte fallback: unknown characters become <unk>, one per character or fused per run.
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array(), {{"unk_token", "<unk>"}})).encode("a\xC3\xA9\xC3\xA9" "b", false),
            (Ids{1, 0, 0, 2}));
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}}))
                .encode("a\xC3\xA9\xC3\xA9" "b", false),
            (Ids{1, 0, 2}));
  // Without unk_token an unknown character is dropped.
  EXPECT_EQ(make(bpe_json(v, nlohmann::json::array())).encode("a\xC3\xA9" "b", false), (Ids{1, 2}));
}

TEST(Bpe, SubwordPrefixAndSuffix) {
  // ids: a0 ##b1 ab2 c</w>3 ##c</w>4 abc</w>5 a</w>6
  const std::vector<std::string> v = {"a", "##b", "ab", "c</w>", "##c</w>", "abc</w>", "a</w>"};
  const auto j = bpe_json(v, {"a ##b", "ab ##c</w>"},
                          {{"continuing_subword_prefix", "##"}, {"end_of_word_suffix", "</w>"}});
  const auto t = make(j);
  EXPECT_EQ(t.encode("abc", false), (Ids{5}));
  EXPECT_EQ(t.encode("a", false), (Ids{6}));
}

// Added tokens: leftmost-longest, single_word, lstrip/rstrip, normalized ones matched after the normalizer.
TEST(AddedTokens, MatchingRules) {
  std::vector<std::string> v = {" ", "a", "b", "x", "y", "<", ">"};  // ids 0..6
  auto j = bpe_json(v, nlohmann::json::array());
  j["added_tokens"] = nlohmann::json::parse(R"([
    {"id": 7, "content": "<x>", "special": true, "normalized": false},
    {"id": 8, "content": "<x><y>", "special": true, "normalized": false},
    {"id": 9, "content": "ab", "special": false, "normalized": false, "single_word": true},
    {"id": 10, "content": "<y>", "special": true, "normalized": false, "lstrip": true, "rstrip": true},
    {"id": 11, "content": "bb", "special": false, "normalized": true}
  ])");
  j["normalizer"] = {{"type", "Lowercase"}};
  const auto t = make(j);
  EXPECT_EQ(t.encode("<x><y>a", false), (Ids{8, 1}));        // the longest of the two at the same start
  EXPECT_EQ(t.encode("<x>a", false), (Ids{7, 1}));
  EXPECT_EQ(t.encode("ab xab", false), (Ids{9, 0, 3, 1, 2})); // "ab" only as a word of its own
  EXPECT_EQ(t.encode("a  <y>  b", false), (Ids{1, 10, 2}));  // the spaces around go into <y>
  EXPECT_EQ(t.encode("BB", false), (Ids{11}));                // matched in the lowercased text
  EXPECT_EQ(t.encode("<X>", false), (Ids{5, 3, 6}));          // not normalized: the raw text must match
  EXPECT_EQ(t.decode({8, 1, 11}, false), "<x><y> a bb");     // no decoder: tokens joined by spaces
  EXPECT_EQ(t.decode({8, 1, 11}, true), "a bb");              // special ones skipped
}

TEST(PostProcessors, TemplateAddsOnlyWithSpecialTokens) {
  std::vector<std::string> v = {"<s>", "</s>", "a"};
  auto j = bpe_json(v, nlohmann::json::array());
  j["post_processor"] = nlohmann::json::parse(R"({"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                                   "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}})");
  const auto t = make(j);
  EXPECT_EQ(t.encode("aa", true), (Ids{0, 2, 2, 1}));
  EXPECT_EQ(t.encode("aa", false), (Ids{2, 2}));
  EXPECT_EQ(t.encode("", true), (Ids{0, 1}));
}

TEST(Decoders, StripFuseByteFallbackMetaspace) {
  std::vector<std::string> v = {"\xE2\x96\x81" "a", "b", "<0xC3>", "<0xA9>", "<0xFF>"};
  auto j = bpe_json(v, nlohmann::json::array());
  j["decoder"] = nlohmann::json::parse(R"({"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
    {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  const auto t = make(j);
  EXPECT_EQ(t.decode({0, 1, 2, 3}, false), "ab\xC3\xA9");                        // é from its two bytes
  EXPECT_EQ(t.decode({0, 2, 4}, false), "a\xEF\xBF\xBD\xEF\xBF\xBD");           // not UTF-8: one U+FFFD per byte
  j["decoder"] = nlohmann::json::parse(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"})");
  EXPECT_EQ(make(j).decode({0, 0}, false), "a a");  // the first token's "▁" dropped
  EXPECT_THROW(make(j).decode({99}, false), Error);
}

}  // namespace
}  // namespace fp4gptq::test
