#pragma once
// tokenizers' Pattern and SplitDelimiterBehavior: a pattern cuts a string into spans that cover it, each a match
// or not; a behaviour then decides what becomes of the matches (removed, isolated, merged with a neighbour).
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/pieces.hpp"
#include "tokenizer/regex.hpp"

namespace fp4gptq::tokenizer {

struct Span {
  size_t begin = 0, end = 0;
  bool is_match = false;
};

class Pattern {
 public:
  virtual ~Pattern() = default;
  // Spans covering all of `s` in order (one non-match span (0,0) for an empty string), as find_matches.
  virtual void find_matches(std::string_view s, std::vector<Span>& out) const = 0;
};

// A regex (Split's {"Regex": ...}, Replace's {"Regex": ...}).
std::unique_ptr<Pattern> regex_pattern(const std::string& regex, const std::string& where);
// A literal string (Split's/Replace's {"String": ...}): non-overlapping occurrences, leftmost first ("" matches
// the empty string at every character boundary, as the empty regex).
std::unique_ptr<Pattern> literal_pattern(const std::string& literal);
// Every character for which `pred` holds is one match of its own.
std::unique_ptr<Pattern> char_pattern(std::function<bool(char32_t)> pred);
// Matches become non-matches and the other way round (tokenizers' Invert).
std::unique_ptr<Pattern> inverted(std::unique_ptr<Pattern> p);

// {"String": s} or {"Regex": r} (the pattern of Split and Replace); an error naming `where` otherwise.
std::unique_ptr<Pattern> make_pattern(const nlohmann::json& j, const std::string& where);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
// "Removed", "Isolated", ... as tokenizer.json spells them; an error naming `where` otherwise.
SplitBehavior parse_behavior(const std::string& name, const std::string& where);

// Cuts `piece` at `pattern` with `behavior` and appends the parts (NormalizedString::split).
void split_piece(const Piece& piece, const Pattern& pattern, SplitBehavior behavior, Pieces& out);

// Replaces every match of `pattern` in `s` by `content` (NormalizedString::replace); replace_spans does it with
// the spans of find_matches already at hand.
std::string replace_all(std::string_view s, const Pattern& pattern, std::string_view content);
std::string replace_spans(std::string_view s, const std::vector<Span>& spans, std::string_view content);

}  // namespace fp4gptq::tokenizer
