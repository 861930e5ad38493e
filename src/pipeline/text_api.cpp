// The public text API (include/fp4gptq/tokenizer.hpp) over the tokenizer and calib layers.
#include <fmt/core.h>

#include "calib/text_calibration.hpp"
#include "fp4gptq/fp4gptq.hpp"
#include "tokenizer/special_tokens.hpp"

namespace fp4gptq {

namespace {

tokenizer::BosPolicy internal(BosPolicy p) {
  switch (p) {
    case BosPolicy::File: return tokenizer::BosPolicy::File;
    case BosPolicy::Auto: return tokenizer::BosPolicy::Auto;
    case BosPolicy::Always: return tokenizer::BosPolicy::Always;
    case BosPolicy::Never: return tokenizer::BosPolicy::Never;
  }
  return tokenizer::BosPolicy::File;
}

calib::TextMode internal(CalibMode m) {
  switch (m) {
    case CalibMode::Auto: return calib::TextMode::Auto;
    case CalibMode::Documents: return calib::TextMode::Documents;
    case CalibMode::Windows: return calib::TextMode::Windows;
  }
  return calib::TextMode::Auto;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<tokenizer::Tokenizer> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_pretrained(const std::filesystem::path& path, BosPolicy bos) {
  return Tokenizer(std::make_unique<tokenizer::Tokenizer>(tokenizer::load_tokenizer(path, internal(bos))));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const auto ids = impl_->encode(text, add_special_tokens);
  return {ids.begin(), ids.end()};
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens, int64_t max_length) const {
  std::vector<uint32_t> before, after;
  if (add_special_tokens) impl_->special_ids(before, after);
  const auto specials = static_cast<int64_t>(before.size() + after.size());
  if (max_length < specials)
    throw Error("encode: max_length " + std::to_string(max_length) + " leaves no room for the " +
                std::to_string(specials) + " special tokens the tokenizer adds");
  auto ids = impl_->encode(text, false);
  if (static_cast<int64_t>(ids.size()) > max_length - specials) ids.resize(static_cast<size_t>(max_length - specials));
  std::vector<int32_t> out(before.begin(), before.end());
  out.insert(out.end(), ids.begin(), ids.end());
  out.insert(out.end(), after.begin(), after.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<uint32_t> u;
  u.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0)
      throw Error("decode: token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) + " is negative");
    u.push_back(static_cast<uint32_t>(ids[i]));
  }
  return impl_->decode(u, skip_special_tokens);
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size(); }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const auto id = impl_->token_to_id(token);
  if (!id) return std::nullopt;
  return static_cast<int32_t>(*id);
}

std::string calibration_format(const std::filesystem::path& file, const std::string& text_field) {
  switch (calib::detect_kind(file, text_field)) {
    case calib::FileKind::TokenIds: return "token-ids";
    case calib::FileKind::TextJsonl: return "text-jsonl";
    case calib::FileKind::PlainText: return "text";
  }
  return "?";
}

void for_each_document(const std::filesystem::path& file, const std::string& text_field,
                       const std::function<void(const std::string&)>& f) {
  calib::for_each_document(file, text_field, [&](const std::string& text, const std::string&) { f(text); });
}

std::vector<std::vector<int32_t>> read_token_ids(const std::filesystem::path& file, int64_t vocab_size) {
  return calib::read_token_jsonl(file, vocab_size, /*allow_empty=*/true).samples;
}

std::string CalibrationSummary::describe() const {
  if (format == "token-ids") return fmt::format("{} samples, {} tokens (token-id file)", samples, tokens);
  std::string s = fmt::format("{} samples, {} tokens ({} mode; the file has {} document{}", samples, tokens, mode,
                              documents, documents == 1 ? "" : "s");
  if (too_short) s += fmt::format(", {} skipped as {}", too_short, mode == "windows" ? "too short" : "empty");
  return s + ")";
}

std::vector<Example> load_examples(const std::filesystem::path& file, const Tokenizer& tok,
                                   const CalibrationConfig& c, CalibrationSummary* summary) {
  calib::TextStats st;
  auto set = calib::load_text_calibration(file, tok.impl(), c.vocab_size > 0 ? c.vocab_size : tok.vocab_size(),
                                          {c.nsamples, c.seqlen, internal(c.mode), c.seed, c.text_field}, &st);
  if (summary) {
    *summary = {file.string(), calibration_format(file, c.text_field), st.mode == calib::TextMode::Windows ? "windows" : "documents",
                static_cast<int64_t>(set.samples.size()), set.tokens(), st.documents, st.too_short};
  }
  return std::move(set.samples);
}

std::vector<Example> load_calibration(const std::filesystem::path& file, const std::filesystem::path& tokenizer,
                                      BosPolicy bos, const CalibrationConfig& c, CalibrationSummary* summary) {
  if (calibration_format(file, c.text_field) != "token-ids")
    return load_examples(file, Tokenizer::from_pretrained(tokenizer, bos), c, summary);
  if (c.mode == CalibMode::Windows)
    throw Error(file.string() + ": windows calibration needs text; this file holds token ids");
  if (c.vocab_size <= 0)
    throw Error(file.string() + ": token ids are checked against the model's vocabulary; its size was not given");
  auto examples = load_examples(file, c.vocab_size, c.nsamples, c.seqlen, c.seed);
  if (summary) {
    *summary = {file.string(), "token-ids", "documents", static_cast<int64_t>(examples.size()), 0, 0, 0};
    for (const auto& e : examples) summary->tokens += static_cast<int64_t>(e.size());
  }
  return examples;
}

}  // namespace fp4gptq
