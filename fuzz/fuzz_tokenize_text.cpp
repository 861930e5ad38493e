// Fuzz target: arbitrary bytes encoded (and the ids decoded) by two small tokenizers built from every kind of
// component real files use: a byte-level BPE behind NFKC, Lowercase, a regex Replace, Qwen's Split regex, Digits,
// Punctuation and added tokens with lstrip/rstrip/single_word; and a SentencePiece-style BPE with Metaspace and
// byte fallback. Invalid UTF-8 must be an Error, nothing else may throw or crash.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fp4gptq/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

using fp4gptq::tokenizer::Tokenizer;

// Every byte's character, plus merges building "he", "the", "Ġt", "Ġthe" and "ll".
Tokenizer byte_level() {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[fp4gptq::tokenizer::byte_to_char(static_cast<uint8_t>(b))] = id++;
  const std::string g = fp4gptq::tokenizer::byte_to_char(' ');
  for (const std::string& t : std::vector<std::string>{"he", "the", g + "t", g + "the", "ll"}) vocab[t] = id++;
  nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "t he", g + " t", g + "t he", "l l"}},
                 {"ignore_merges", true}}},
      {"normalizer", nlohmann::json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFKC"},
          {"type": "Lowercase"}, {"type": "Replace", "pattern": {"Regex": "\\s{3,}"}, "content": "  "}]})")},
      {"pre_tokenizer", nlohmann::json::parse(R"({"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
          {"type": "Digits", "individual_digits": false}, {"type": "Punctuation", "behavior": "MergedWithPrevious"},
          {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})")},
      {"added_tokens", nlohmann::json::parse(R"([
          {"id": 261, "content": "<|x|>", "special": true, "normalized": false, "lstrip": true, "rstrip": true},
          {"id": 262, "content": "word", "special": false, "normalized": true, "single_word": true}])")},
      {"post_processor", nlohmann::json::parse(R"({"type": "TemplateProcessing", "single": [
          {"SpecialToken": {"id": "<|x|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
          "special_tokens": {"<|x|>": {"id": "<|x|>", "ids": [261], "tokens": ["<|x|>"]}}})")},
      {"decoder", {{"type", "ByteLevel"}}}};
  return Tokenizer::from_json(j.dump(), "byte_level.json");
}

Tokenizer sentencepiece() {
  nlohmann::json vocab = {{"<unk>", 0}, {"\xE2\x96\x81", 1}, {"a", 2}, {"\xE2\x96\x81" "a", 3}};
  for (int b = 0; b < 256; ++b) {
    char code[8];
    std::snprintf(code, sizeof code, "<0x%02X>", b);
    vocab[code] = 4 + b;
  }
  nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\xE2\x96\x81 a"}}, {"unk_token", "<unk>"},
                 {"byte_fallback", true}, {"fuse_unk", true}}},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", true}}},
      {"added_tokens", nlohmann::json::array()},
      {"decoder", nlohmann::json::parse(R"({"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"},
          {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first"}, {"type": "Strip", "content": " ", "start": 1, "stop": 1}]})")}};
  return Tokenizer::from_json(j.dump(), "sentencepiece.json");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer a = byte_level(), b = sentencepiece();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Tokenizer* t : {&a, &b}) {
    try {
      const auto ids = t->encode(text, true);
      (void)t->decode(ids, false);
      (void)t->decode(ids, true);
    } catch (const fp4gptq::Error&) {
    }
  }
  return 0;
}
