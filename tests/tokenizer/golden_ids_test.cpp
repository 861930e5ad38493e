// Token ids and decoded text against the Hugging Face tokenizers library itself (its Node binding, see
// tools/tokenizer_testdata/) on the real tokenizer.json files of five model families and a corpus of several
// hundred texts chosen to break tokenizers (tests/data/tokenizers/corpus.jsonl).
#include <gtest/gtest.h>

#include "tests/tokenizer/tokenizer_data.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::test {
namespace {

// Texts where fp4gptq's ids differ from the library's for a reason outside fp4gptq (see docs/DESIGN.md §11):
// characters first assigned in Unicode 15 (U+1FAE8 SHAKING FACE) are unassigned in the tables of Debian 12's
// Oniguruma 6.9.8 (Unicode 14), while the library's bundled Oniguruma knows them as \p{S}; only DeepSeek-V3's
// pre-tokenizer regex asks for \p{S} around such a character in the corpus.
bool known_unicode15_difference(const std::string& family, const std::string& text) {
  return family == "deepseek_v3" && text.find("\xF0\x9F\xAB\xA8") != std::string::npos;
}

class GoldenIds : public ::testing::TestWithParam<std::string> {};

std::string preview(const std::string& s) {
  size_t n = std::min<size_t>(s.size(), 80);
  while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;  // whole characters
  return nlohmann::json(s.substr(0, n)).dump();
}

TEST_P(GoldenIds, EncodeAndDecodeMatchTheTokenizersLibrary) {
  const std::string family = GetParam();
  const auto tok = load_family(family);
  const auto texts = corpus_texts();
  const auto expected = expected_for(family);
  ASSERT_EQ(texts.size(), expected.size());
  ASSERT_GE(texts.size(), 300u);
  int64_t compared = 0, skipped = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (known_unicode15_difference(family, texts[i])) {
      ++skipped;
      continue;
    }
    const auto plain = tok.encode(texts[i], false);
    const auto special = tok.encode(texts[i], true);
    EXPECT_EQ(plain, expected[i].plain) << family << " text " << i << " " << preview(texts[i]);
    EXPECT_EQ(special, expected[i].special) << family << " text " << i << " " << preview(texts[i]);
    EXPECT_EQ(tok.decode(expected[i].plain, false), expected[i].decoded) << family << " text " << i;
    EXPECT_EQ(tok.decode(expected[i].special, true), expected[i].decoded_special_skip) << family << " text " << i;
    ++compared;
  }
  EXPECT_LE(skipped, 2);
  EXPECT_GE(compared, 300);
}

// decode(encode(x)) == x wherever the tokenizer loses nothing: byte-level BPEs without a normalizer always; Qwen3's
// on NFC text (it normalizes to NFC); the SentencePiece-style ones where neither "▁" (which they decode as a
// space) nor an added token's text occurs (each piece between added tokens gets its own prefix "▁").
TEST_P(GoldenIds, DecodeOfEncodeIsTheTextWhereLossless) {
  const std::string family = GetParam();
  const auto tok = load_family(family);
  int64_t checked = 0;
  for (const auto& text : corpus_texts()) {
    if (family == "qwen3" && tokenizer::normalize(text, tokenizer::NormalForm::NFC) != text) continue;
    if (family == "mistral" || family == "gemma3") {
      bool has_added = text.find("\xE2\x96\x81") != std::string::npos;
      for (const char* t : {"<s>", "</s>", "<unk>", "<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>",
                            "<mask>", "[@BOS@]", "<unused", "<start_of_image>", "<end_of_image>", "\t", "\n"})
        has_added = has_added || (family == "gemma3" && text.find(t) != std::string::npos) ||
                    (family == "mistral" && text.find(t) != std::string::npos && t[0] == '<');
      if (has_added) continue;
    }
    EXPECT_EQ(tok.decode(tok.encode(text, false), false), text) << family << " " << preview(text);
    ++checked;
  }
  EXPECT_GE(checked, 200);
}

INSTANTIATE_TEST_SUITE_P(Families, GoldenIds,
                         ::testing::Values("qwen3", "llama3", "llama3_meta", "mistral", "gemma3", "deepseek_v3"));

}  // namespace
}  // namespace fp4gptq::test
