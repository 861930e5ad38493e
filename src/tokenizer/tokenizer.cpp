#include "tokenizer/tokenizer.hpp"

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "tokenizer/added_vocabulary.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/decoders.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/normalizers.hpp"
#include "tokenizer/post_processors.hpp"
#include "tokenizer/pre_tokenizers.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

// tokenizer.json: vocabularies of a few 100k tokens and merges (Gemma 3: 262k and 515k, 33 MB).
constexpr io::JsonLimits kTokenizerLimits{512ull << 20, 64, 8'000'000, 16'000'000};

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::filesystem::path& file) {
  return build(io::read_json_unordered(file, kTokenizerLimits), file.string());
}

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& source) {
  return build(io::parse_json_unordered(text, source, kTokenizerLimits), source);
}

Tokenizer Tokenizer::build(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": expected a JSON object (a tokenizer.json)");
  Tokenizer t;
  t.source_ = source;
  auto part = [&](const char* key) -> const nlohmann::json& {
    static const nlohmann::json null;
    const auto it = j.find(key);
    return it == j.end() ? null : *it;
  };
  t.normalizer_ = make_normalizer(part("normalizer"), source + ": normalizer");
  t.pre_tokenizer_ = make_pre_tokenizer(part("pre_tokenizer"), source + ": pre_tokenizer");
  if (part("model").is_null()) throw Error(source + ": missing field \"model\"");
  t.model_ = std::make_unique<BpeModel>(part("model"), source + ": model");
  t.added_ = std::make_unique<AddedVocabulary>(part("added_tokens"), t.normalizer_.get(), *t.model_,
                                               source + ": added_tokens");
  t.post_ = make_post_processor(part("post_processor"), source + ": post_processor");
  t.decoder_ = make_decoder(part("decoder"), source + ": decoder");
  return t;
}

std::vector<uint32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens, const std::string& source) const {
  check_utf8(text, source);
  Pieces pieces = added_->extract_and_normalize(text, normalizer_.get());
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const auto& p : pieces) {
    if (p.added_id >= 0)
      ids.push_back(static_cast<uint32_t>(p.added_id));
    else
      model_->tokenize(p.text, ids);
  }
  if (add_special_tokens && post_) post_->process(ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const AddedToken* a = added_->by_id(ids[i])) {
      if (!(skip_special_tokens && a->special)) tokens.push_back(a->content);
      continue;
    }
    const std::string* t = model_->id_to_token(ids[i]);
    if (!t)
      throw Error("decode: token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                  " is not in the vocabulary of " + source_);
    // tokenizers checks the special set by content, so a model token spelled like a special one is skipped too.
    if (skip_special_tokens) {
      const AddedToken* a = added_->by_content(*t);
      if (a && a->special) continue;
    }
    tokens.push_back(*t);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  decoder_->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

uint32_t Tokenizer::vocab_size() const { return std::max(model_->max_id(), added_->max_id()) + 1; }

std::optional<uint32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* a = added_->by_content(token)) return a->id;
  return model_->token_to_id(token);
}

void Tokenizer::special_ids(std::vector<uint32_t>& before, std::vector<uint32_t>& after) const {
  if (post_) post_->specials(before, after);
}

void Tokenizer::set_post_processor(std::unique_ptr<PostProcessor> p) { post_ = std::move(p); }

}  // namespace fp4gptq::tokenizer
