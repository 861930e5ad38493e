#pragma once
// tokenizer.json "added_tokens" (tokenizers' AddedVocabulary): special and normal tokens found in the text before
// the model runs. Tokens with normalized=false are matched in the raw text first; the text between them is
// normalized, then tokens with normalized=true (themselves normalized) are matched in it. Matching is
// leftmost-longest; single_word requires no word character on either side; lstrip/rstrip take the whitespace
// on that side into the token.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pieces.hpp"

namespace fp4gptq::tokenizer {

class Normalizer;

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

class BpeModel;

class AddedVocabulary {
 public:
  // The tokens of `list` (tokenizer.json "added_tokens") with the ids tokenizers gives them: the model's id for a
  // content in its vocabulary, else the next free id from the vocabulary's size on, in file order (the file's
  // "id" is not used, as in the library, which only warns when it differs).
  AddedVocabulary(const nlohmann::json& list, const Normalizer* normalizer, const BpeModel& model,
                  const std::string& where);

  // Cuts `text` into pieces: the tokens matched, and the normalized text between them (as in
  // AddedVocabulary::extract_and_normalize).
  Pieces extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  const AddedToken* by_id(uint32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  bool empty() const { return tokens_.empty(); }
  uint32_t max_id() const;  // 0 when there are none

 private:
  // A byte trie of token contents; longest(s, at) returns the longest token starting at s[at].
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> next;  // sorted by byte
      int32_t token = -1;
    };
    std::vector<Node> nodes{1};
    bool first_byte[256] = {};
    void insert(std::string_view key, int32_t token);
    int32_t longest(std::string_view s, size_t at, size_t& len) const;
  };
  void split(Piece&& piece, const Trie& trie, Pieces& out) const;

  std::vector<AddedToken> tokens_;  // one per content; the flags of its last entry
  std::unordered_map<uint32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace fp4gptq::tokenizer
