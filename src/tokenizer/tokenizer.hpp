#pragma once
// A Hugging Face tokenizer.json, interpreted (docs/DESIGN.md §11): encode gives the ids the `tokenizers`
// library gives, decode its text. The stages, in tokenizers' order: added tokens split out (normalizer applied
// between them), pre_tokenizer, model (BPE), post_processor. "truncation" and "padding" are not applied (as
// transformers, which resets them on every call unless asked).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fp4gptq::tokenizer {

class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;

class Tokenizer {
 public:
  // A tokenizer.json file; every error names it and the component at fault.
  static Tokenizer from_file(const std::filesystem::path& file);
  // The same from the file's text (`source` names it in errors).
  static Tokenizer from_json(std::string_view json, const std::string& source);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Ids of `text`; with add_special_tokens, what the post-processor adds. Invalid UTF-8 is an error naming
  // `source` and the byte offset.
  std::vector<uint32_t> encode(std::string_view text, bool add_special_tokens, const std::string& source = "text") const;
  // The text of `ids` through the decoder; skip_special_tokens leaves out special added tokens. An id the
  // vocabulary lacks is an error (tokenizers would drop it silently).
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special_tokens) const;

  // One past the largest id of the model and the added tokens.
  uint32_t vocab_size() const;
  std::optional<uint32_t> token_to_id(std::string_view token) const;
  const std::string& source() const { return source_; }

  // The ids the post-processor puts before and after a sequence (add_special_tokens).
  void special_ids(std::vector<uint32_t>& before, std::vector<uint32_t>& after) const;
  void set_post_processor(std::unique_ptr<PostProcessor> p);

 private:
  Tokenizer();
  static Tokenizer build(const nlohmann::json& j, const std::string& source);
  std::string source_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<AddedVocabulary> added_;
  std::unique_ptr<PostProcessor> post_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace fp4gptq::tokenizer
