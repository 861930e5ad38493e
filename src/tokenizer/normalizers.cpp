#include "tokenizer/normalizers.hpp"

#include <vector>

#include "fp4gptq/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/pattern.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(NormalForm f) : form_(f) {}
  void normalize(std::string& s, bool&) const override { s = tokenizer::normalize(s, form_); }

 private:
  NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& s, bool&) const override { s = to_lower(s); }
};

// Strips White_Space characters from the left and/or right end.
class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s, bool& front) const override {
    const size_t b = left_ ? whitespace_run_after(s, 0) : 0;
    const size_t e = right_ ? std::max(b, whitespace_run_before(s, s.size())) : s.size();
    if (b > 0) front = false;
    s = s.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

// Prepends a string to a non-empty text.
class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(std::string& s, bool&) const override {
    if (!s.empty()) s.insert(0, p_);  // the prepended text takes the first character's place in the original
  }

 private:
  std::string p_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::unique_ptr<Pattern> p, std::string content) : p_(std::move(p)), content_(std::move(content)) {}
  void normalize(std::string& s, bool& front) const override {
    thread_local std::vector<Span> spans;
    spans.clear();
    p_->find_matches(s, spans);
    // A match at the start replaced by nothing takes the first character with it; replaced by something, the
    // new text takes the place of the match's last character (tokenizers' alignments), so the start moves
    // unless the match was one character.
    if (!spans.empty() && spans[0].is_match && spans[0].end > 0) {
      size_t i = 0;
      next_char(s, i);
      if (content_.empty() || spans[0].end > i) front = false;
    }
    s = replace_spans(s, spans, content_);
  }

 private:
  std::unique_ptr<Pattern> p_;
  std::string content_;
};

// Every byte becomes its byte-level character (tokenizers' ByteLevel normalizer).
class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(std::string& s, bool&) const override {
    std::string out;
    out.reserve(s.size() * 2);
    append_byte_chars(out, s);
    s = std::move(out);
  }
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& s, bool& front) const override {
    for (const auto& p : parts_) p->normalize(s, front);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "NFC") return std::make_unique<UnicodeForm>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeForm>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip")
    return std::make_unique<Strip>(bool_or(j, "strip_left", true, where), bool_or(j, "strip_right", true, where));
  if (type == "Prepend") return std::make_unique<Prepend>(string_field(j, "prepend", where));
  if (type == "Replace")
    return std::make_unique<Replace>(make_pattern(field(j, "pattern", where), where + ".pattern"),
                                     string_field(j, "content", where));
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Sequence") return std::make_unique<Sequence>(component_list<Normalizer>(j, "normalizers", where, make_normalizer));
  unsupported("normalizer", type, "NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, ByteLevel, Sequence", where);
}

}  // namespace fp4gptq::tokenizer
