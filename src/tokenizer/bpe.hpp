#pragma once
// tokenizer.json "model" of type BPE (Sennrich et al. 2016, as tokenizers implements it): a word is split into
// characters (with continuing_subword_prefix / end_of_word_suffix), unknown characters go to their <0xXX>
// byte tokens (byte_fallback) or to unk_token (fused runs with fuse_unk), then the pair of lowest merge rank is
// merged, leftmost first, until no pair merges. ignore_merges: a word that is itself in the vocabulary is one
// token. dropout must be null or 0 (it makes encoding random).
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fp4gptq::tokenizer {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  BpeModel(const nlohmann::json& model, const std::string& where);

  // Appends the ids of one pre-tokenized word (non-empty).
  void tokenize(std::string_view word, std::vector<uint32_t>& out) const;

  std::optional<uint32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(uint32_t id) const;
  uint32_t max_id() const { return max_id_; }
  size_t size() const { return vocab_.size(); }

 private:
  void merge_word(std::string_view word, std::vector<uint32_t>& out) const;

  Vocab vocab_;
  std::unordered_map<uint32_t, const std::string*> by_id_;  // ids may be sparse (a hostile file: up to 2^31)
  std::unordered_map<uint64_t, std::pair<uint32_t, uint32_t>> merges_;  // (left, right) -> (rank, merged id)
  std::optional<uint32_t> unk_id_;
  std::string unk_missing_;  // an unk_token the vocabulary lacks: an error once an unknown character needs it
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  int64_t byte_ids_[256];  // <0xXX> tokens, -1 when absent
  uint32_t max_id_ = 0;

  // Words already merged (tokenizers keeps such a cache too; results are the same either way).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<uint32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace fp4gptq::tokenizer
