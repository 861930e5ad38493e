#pragma once
// tokenizer.json "pre_tokenizer" (tokenizers' pre_tokenizers): Split, ByteLevel, Metaspace, Digits, Punctuation,
// Whitespace, WhitespaceSplit, CharDelimiterSplit, BertPreTokenizer and Sequence. Anything else is an error
// naming the file and the type.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/pieces.hpp"

namespace fp4gptq::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Cuts (and may rewrite) every text piece; added tokens pass through.
  virtual void pre_tokenize(Pieces& pieces) const = 0;
};

// nullptr for a null pre_tokenizer.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);

// Metaspace's prepend_scheme ("always", "first", "never"; add_prefix_space false means "never"), shared with its
// decoder.
enum class PrependScheme { Always, First, Never };
PrependScheme metaspace_scheme(const nlohmann::json& j, const std::string& where);
// Metaspace's replacement character.
char32_t metaspace_replacement(const nlohmann::json& j, const std::string& where);

}  // namespace fp4gptq::tokenizer
