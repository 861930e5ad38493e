#include "tokenizer/pre_tokenizers.hpp"

#include <vector>

#include "fp4gptq/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/json_fields.hpp"
#include "tokenizer/pattern.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

// One pattern and behaviour applied to every piece (Split, Digits, Punctuation, WhitespaceSplit, ...).
class PatternSplit final : public PreTokenizer {
 public:
  PatternSplit(std::unique_ptr<Pattern> p, SplitBehavior b) : p_(std::move(p)), b_(b) {}
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [&](const Piece& piece, Pieces& out) { split_piece(piece, *p_, b_, out); });
  }

 private:
  std::unique_ptr<Pattern> p_;
  SplitBehavior b_;
};

// GPT-2's pre-tokenizer: an optional leading space, GPT-2's regex (Isolated), then every byte to its byte-level
// character.
class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        re_(use_regex ? regex_pattern(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                                      "ByteLevel")
                      : nullptr) {}
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [&](Piece& piece, Pieces& out) {
      if (add_prefix_space_ && !piece.text.starts_with(' ')) piece.text.insert(0, " ");
      if (re_)
        split_piece(piece, *re_, SplitBehavior::Isolated, out);
      else
        out.push_back(std::move(piece));
    });
    for (auto& p : pieces) {
      if (p.added_id >= 0) continue;
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      append_byte_chars(mapped, p.text);
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Pattern> re_;
};

// SentencePiece's whitespace handling: spaces become the replacement character (U+2581 "▁"), one is prepended
// per the scheme, and with `split` every replacement character starts a new piece.
class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split)
      : scheme_(scheme), space_(literal_pattern(" ")) {
    append_utf8(rep_, replacement);
    if (split) split_ = char_pattern([replacement](char32_t c) { return c == replacement; });
  }
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [&](Piece& piece, Pieces& out) {
      piece.text = replace_all(piece.text, *space_, rep_);
      const bool starts = piece.text.starts_with(rep_);
      if (!starts && (scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && piece.at_origin)))
        piece.text.insert(0, rep_);
      if (split_)
        split_piece(piece, *split_, SplitBehavior::MergedWithNext, out);
      else
        out.push_back(std::move(piece));
    });
  }

 private:
  PrependScheme scheme_;
  std::string rep_;
  std::unique_ptr<Pattern> space_, split_;
};

// \w+ and [^\w\s]+ runs, whitespace dropped (tokenizers' Whitespace: the inverted regex, Removed).
class Whitespace final : public PreTokenizer {
 public:
  void pre_tokenize(Pieces& pieces) const override {
    split_pieces(pieces, [](const Piece& piece, Pieces& out) {
      const std::string& s = piece.text;
      int run = 0;  // 0 none, 1 word, 2 other
      size_t start = 0;
      auto flush = [&](size_t end) {
        if (run) out.push_back({s.substr(start, end - start), -1, piece.at_origin && start == 0});
      };
      for (size_t i = 0; i < s.size();) {
        const size_t at = i;
        const char32_t c = next_char(s, i);
        const int kind = is_word_char(c) ? 1 : is_whitespace(c) ? 0 : 2;
        if (kind != run) {
          flush(at);
          run = kind;
          start = at;
        }
      }
      flush(s.size());
    });
  }
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(Pieces& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

std::unique_ptr<PreTokenizer> split_on(bool (*pred)(char32_t), SplitBehavior b) {
  return std::make_unique<PatternSplit>(char_pattern(pred), b);
}

}  // namespace

PrependScheme metaspace_scheme(const nlohmann::json& j, const std::string& where) {
  const std::string s = string_or(j, "prepend_scheme", "always", where);
  PrependScheme scheme;
  if (s == "always")
    scheme = PrependScheme::Always;
  else if (s == "first")
    scheme = PrependScheme::First;
  else if (s == "never")
    scheme = PrependScheme::Never;
  else
    throw Error(where + ".prepend_scheme: expected \"always\", \"first\" or \"never\", got \"" + s + "\"");
  if (!bool_or(j, "add_prefix_space", true, where)) {  // prepend_scheme defaults to "always"
    if (scheme != PrependScheme::Never)
      throw Error(where + ": add_prefix_space false does not match prepend_scheme \"" + s + "\"");
    scheme = PrependScheme::Never;
  }
  return scheme;
}

char32_t metaspace_replacement(const nlohmann::json& j, const std::string& where) {
  return char_field(j, "replacement", where);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Split") {
    auto p = make_pattern(field(j, "pattern", where), where + ".pattern");
    if (bool_or(j, "invert", false, where)) p = inverted(std::move(p));
    return std::make_unique<PatternSplit>(std::move(p),
                                          parse_behavior(string_field(j, "behavior", where), where + ".behavior"));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(bool_or(j, "add_prefix_space", true, where),
                                       bool_or(j, "use_regex", true, where));
  if (type == "Metaspace")
    return std::make_unique<Metaspace>(metaspace_replacement(j, where), metaspace_scheme(j, where),
                                       bool_or(j, "split", true, where));
  if (type == "Digits")
    return split_on(is_numeric, bool_or(j, "individual_digits", false, where) ? SplitBehavior::Isolated
                                                                               : SplitBehavior::Contiguous);
  if (type == "Punctuation")
    return split_on(is_punctuation, parse_behavior(string_or(j, "behavior", "Isolated", where), where + ".behavior"));
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return split_on(is_whitespace, SplitBehavior::Removed);
  if (type == "CharDelimiterSplit") {
    const char32_t d = char_field(j, "delimiter", where);
    return std::make_unique<PatternSplit>(char_pattern([d](char32_t c) { return c == d; }), SplitBehavior::Removed);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(split_on(is_whitespace, SplitBehavior::Removed));
    parts.push_back(split_on(is_punctuation, SplitBehavior::Isolated));
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Sequence")
    return std::make_unique<Sequence>(component_list<PreTokenizer>(j, "pretokenizers", where, make_pre_tokenizer));
  unsupported("pre_tokenizer", type,
              "Split, ByteLevel, Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, CharDelimiterSplit, "
              "BertPreTokenizer, Sequence",
              where);
}

}  // namespace fp4gptq::tokenizer
