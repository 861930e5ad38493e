#pragma once
// The real tokenizer.json files and the ids the Hugging Face tokenizers library gives for the test corpus
// (tests/data/tokenizers/, made by tools/tokenizer_testdata/), for the tokenizer tests.
#include <zlib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace fp4gptq::test {

inline fs::path tokenizer_data_dir() { return test_data_dir() / "tokenizers"; }

// A gzip file's contents.
inline std::string read_gz(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + p.string());
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  if (n < 0) throw std::runtime_error("cannot read " + p.string());
  return out;
}

// The tokenizer.json of a family as text; llama3_meta is llama3's with Meta's own post_processor.
inline std::string tokenizer_json(const std::string& family) {
  if (family == "llama3_meta") {
    auto j = nlohmann::json::parse(read_gz(tokenizer_data_dir() / "llama3" / "tokenizer.json.gz"));
    std::ifstream pp(tokenizer_data_dir() / "llama3_meta" / "post_processor.json");
    j["post_processor"] = nlohmann::json::parse(pp);
    return j.dump();
  }
  return read_gz(tokenizer_data_dir() / family / "tokenizer.json.gz");
}

inline tokenizer::Tokenizer load_family(const std::string& family) {
  return tokenizer::Tokenizer::from_json(tokenizer_json(family), family + "/tokenizer.json");
}

// A model-like directory holding the family's tokenizer.json and tokenizer_config.json.
inline void write_tokenizer_dir(const fs::path& dir, const std::string& family) {
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << tokenizer_json(family);
  const std::string base = family == "llama3_meta" ? "llama3" : family;
  fs::copy_file(tokenizer_data_dir() / base / "tokenizer_config.json", dir / "tokenizer_config.json",
                fs::copy_options::overwrite_existing);
}

inline std::vector<std::string> corpus_texts() {
  std::vector<std::string> out;
  std::ifstream in(tokenizer_data_dir() / "corpus.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return out;
}

struct Expected {
  std::vector<uint32_t> plain, special;
  std::string decoded, decoded_special_skip;
};

inline std::vector<Expected> expected_for(const std::string& family) {
  std::vector<Expected> out;
  const std::string text = read_gz(tokenizer_data_dir() / "expected" / (family + ".jsonl.gz"));
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    if (nl > at) {
      const auto j = nlohmann::json::parse(text.substr(at, nl - at));
      out.push_back({j.at("plain").get<std::vector<uint32_t>>(), j.at("special").get<std::vector<uint32_t>>(),
                     j.at("decoded").get<std::string>(), j.at("decoded_special_skip").get<std::string>()});
    }
    at = nl + 1;
  }
  return out;
}

}  // namespace fp4gptq::test
