#pragma once
// Regular expressions with the semantics of the `tokenizers` library, which compiles every Split/Replace
// pattern with Oniguruma (the `onig` crate: UTF-8, default Oniguruma syntax, no options) and walks matches with
// the crate's find_iter (an empty match right after the previous match is skipped by one character).
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fp4gptq::tokenizer {

class Regex {
 public:
  // `where` (file and field) prefixes a compile error.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every match of `text` as [begin, end) byte offsets, in order (onig crate FindMatches). Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* regex_ = nullptr;  // OnigRegex
};

}  // namespace fp4gptq::tokenizer
