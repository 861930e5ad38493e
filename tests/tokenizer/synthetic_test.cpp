// The components the five real files do not use (other normalizers, pre-tokenizers, behaviours, added-token
// flags, post-processors, model options, decoders), each in a variant of a real file
// (tests/data/tokenizers/synthetic/<name>.json: the base family's tokenizer.json with top-level parts replaced),
// against the ids and text the tokenizers library gives for the same variant (tools/tokenizer_testdata/
// generate_synthetic.mjs).
#include <gtest/gtest.h>

#include "tests/tokenizer/tokenizer_data.hpp"

namespace fp4gptq::test {
namespace {

fs::path synthetic_dir() { return tokenizer_data_dir() / "synthetic"; }

std::vector<std::string> variant_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(synthetic_dir()))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The variant's tokenizer.json, patched as generate_synthetic.mjs does.
std::string variant_json(const std::string& name) {
  std::ifstream in(synthetic_dir() / (name + ".json"));
  const auto v = nlohmann::json::parse(in);
  auto j = nlohmann::json::parse(tokenizer_json(v.at("base").get<std::string>()));
  for (const auto& [key, value] : v.at("patch").items()) {
    if (key == "model_options")
      for (const auto& [k, x] : value.items()) j["model"][k] = x;
    else
      j[key] = value;
  }
  return j.dump();
}

// The first 300 corpus texts, then the extra ones.
std::vector<std::string> variant_texts() {
  auto texts = corpus_texts();
  texts.resize(300);
  std::ifstream in(synthetic_dir() / "extra_corpus.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return texts;
}

// The last four extra texts hold characters assigned in Unicode 13 to 16, where the two sides' Unicode tables differ
// (docs/DESIGN.md §11): Debian 12's Oniguruma and ICU know Unicode 14/15, the library's bundled Oniguruma and Rust
// know 16, its NFKC crate predates 13 and its punctuation table predates 9. They show the differences; they are
// not compared.
bool newer_unicode(const std::string& text) {
  for (const char* p : {"newer punctuation:", "newer digits:", "newer case pairs:", "newer compatibility"})
    if (text.rfind(p, 0) == 0) return true;
  return false;
}

class Synthetic : public ::testing::TestWithParam<std::string> {};

TEST_P(Synthetic, MatchesTheTokenizersLibrary) {
  const std::string name = GetParam();
  const auto tok = tokenizer::Tokenizer::from_json(variant_json(name), name + ".json");
  const auto texts = variant_texts();
  const auto expected = [&] {
    std::vector<Expected> out;
    const std::string text = read_gz(tokenizer_data_dir() / "expected" / ("synthetic_" + name + ".jsonl.gz"));
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) {
        const auto j = nlohmann::json::parse(line);
        out.push_back({j.at("plain").get<std::vector<uint32_t>>(), j.at("special").get<std::vector<uint32_t>>(),
                       j.at("decoded").get<std::string>(), j.at("decoded_special_skip").get<std::string>()});
      }
    return out;
  }();
  ASSERT_EQ(texts.size(), expected.size());
  int64_t compared = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (newer_unicode(texts[i])) continue;
    EXPECT_EQ(tok.encode(texts[i], false), expected[i].plain) << name << " text " << i;
    EXPECT_EQ(tok.encode(texts[i], true), expected[i].special) << name << " text " << i;
    EXPECT_EQ(tok.decode(expected[i].plain, false), expected[i].decoded) << name << " text " << i;
    EXPECT_EQ(tok.decode(expected[i].special, true), expected[i].decoded_special_skip) << name << " text " << i;
    ++compared;
  }
  EXPECT_GE(compared, 340);
}

INSTANTIATE_TEST_SUITE_P(Variants, Synthetic, ::testing::ValuesIn(variant_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fp4gptq::test
