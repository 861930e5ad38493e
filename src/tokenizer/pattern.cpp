#include "tokenizer/pattern.hpp"

#include <algorithm>

#include "fp4gptq/error.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

// Matches at [begin, end) pairs, to spans covering s (tokenizers' find_matches for regexes and strings).
void spans_from_matches(std::string_view s, const std::vector<std::pair<size_t, size_t>>& m, std::vector<Span>& out) {
  if (s.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  size_t prev = 0;
  for (const auto& [b, e] : m) {
    if (prev != b) out.push_back({prev, b, false});
    out.push_back({b, e, true});
    prev = e;
  }
  if (prev != s.size()) out.push_back({prev, s.size(), false});
}

class RegexPattern final : public Pattern {
 public:
  RegexPattern(const std::string& regex, const std::string& where) : re_(regex, where) {}
  void find_matches(std::string_view s, std::vector<Span>& out) const override {
    thread_local std::vector<std::pair<size_t, size_t>> m;
    m.clear();
    if (!s.empty()) re_.find_all(s, m);
    spans_from_matches(s, m, out);
  }

 private:
  Regex re_;
};

class LiteralPattern final : public Pattern {
 public:
  explicit LiteralPattern(std::string lit) : lit_(std::move(lit)) {}
  void find_matches(std::string_view s, std::vector<Span>& out) const override {
    thread_local std::vector<std::pair<size_t, size_t>> m;
    m.clear();
    for (size_t at = s.find(lit_); at != std::string_view::npos; at = s.find(lit_, at + lit_.size()))
      m.emplace_back(at, at + lit_.size());
    spans_from_matches(s, m, out);
  }

 private:
  std::string lit_;
};

class CharPattern final : public Pattern {
 public:
  explicit CharPattern(std::function<bool(char32_t)> pred) : pred_(std::move(pred)) {}
  void find_matches(std::string_view s, std::vector<Span>& out) const override {
    if (s.empty()) {
      out.push_back({0, 0, false});
      return;
    }
    size_t last = 0;
    for (size_t i = 0; i < s.size();) {
      const size_t b = i;
      if (pred_(next_char(s, i))) {
        if (last < b) out.push_back({last, b, false});
        out.push_back({b, i, true});
        last = i;
      }
    }
    if (last < s.size()) out.push_back({last, s.size(), false});
  }

 private:
  std::function<bool(char32_t)> pred_;
};

class InvertedPattern final : public Pattern {
 public:
  explicit InvertedPattern(std::unique_ptr<Pattern> p) : p_(std::move(p)) {}
  void find_matches(std::string_view s, std::vector<Span>& out) const override {
    const size_t first = out.size();
    p_->find_matches(s, out);
    for (size_t i = first; i < out.size(); ++i) out[i].is_match = !out[i].is_match;
  }

 private:
  std::unique_ptr<Pattern> p_;
};

}  // namespace

std::unique_ptr<Pattern> regex_pattern(const std::string& regex, const std::string& where) {
  return std::make_unique<RegexPattern>(regex, where);
}
std::unique_ptr<Pattern> literal_pattern(const std::string& literal) {
  // tokenizers compiles a String pattern as the escaped regex; the empty one matches at every character boundary.
  if (literal.empty()) return regex_pattern("", "empty pattern");
  return std::make_unique<LiteralPattern>(literal);
}
std::unique_ptr<Pattern> char_pattern(std::function<bool(char32_t)> pred) {
  return std::make_unique<CharPattern>(std::move(pred));
}
std::unique_ptr<Pattern> inverted(std::unique_ptr<Pattern> p) { return std::make_unique<InvertedPattern>(std::move(p)); }

// {"String": s} or {"Regex": r}, the pattern of Replace and Split.
std::unique_ptr<Pattern> make_pattern(const nlohmann::json& j, const std::string& where) {
  if (j.is_object() && j.size() == 1 && j.contains("String") && j["String"].is_string())
    return literal_pattern(j["String"].get<std::string>());
  if (j.is_object() && j.size() == 1 && j.contains("Regex") && j["Regex"].is_string())
    return regex_pattern(j["Regex"].get<std::string>(), where);
  throw Error(where + ": expected {\"String\": ...} or {\"Regex\": ...}, got " + j.dump().substr(0, 200));
}

SplitBehavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw Error(where + ": unknown split behavior \"" + name +
              "\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

void split_piece(const Piece& piece, const Pattern& pattern, SplitBehavior behavior, Pieces& out) {
  thread_local std::vector<Span> spans;
  spans.clear();
  pattern.find_matches(piece.text, spans);
  // Each kept span: [begin, end) and whether it is removed.
  thread_local std::vector<Span> parts;
  parts.clear();
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& s : spans) parts.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::Removed:
      parts = spans;
      break;
    case SplitBehavior::Contiguous: {
      bool prev = false;
      for (const auto& s : spans) {
        if (s.is_match == prev && !parts.empty())
          parts.back().end = s.end;
        else
          parts.push_back({s.begin, s.end, false});
        prev = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool prev = false;
      for (const auto& s : spans) {
        if (s.is_match && !prev && !parts.empty())
          parts.back().end = s.end;
        else
          parts.push_back({s.begin, s.end, false});
        prev = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev = false;
      for (size_t k = spans.size(); k-- > 0;) {
        const auto& s = spans[k];
        if (s.is_match && !prev && !parts.empty())
          parts.back().begin = s.begin;
        else
          parts.push_back({s.begin, s.end, false});
        prev = s.is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    }
  }
  for (const auto& p : parts) {
    if (p.is_match) continue;  // removed
    out.push_back({piece.text.substr(p.begin, p.end - p.begin), -1, piece.at_origin && p.begin == 0});
  }
}

std::string replace_all(std::string_view s, const Pattern& pattern, std::string_view content) {
  thread_local std::vector<Span> spans;
  spans.clear();
  pattern.find_matches(s, spans);
  return replace_spans(s, spans, content);
}

std::string replace_spans(std::string_view s, const std::vector<Span>& spans, std::string_view content) {
  std::string out;
  out.reserve(s.size());
  for (const auto& sp : spans) {
    if (sp.is_match)
      out.append(content);
    else
      out.append(s.substr(sp.begin, sp.end - sp.begin));
  }
  return out;
}

}  // namespace fp4gptq::tokenizer
