#include "tokenizer/regex.hpp"

#include <oniguruma.h>

#include <mutex>

#include "fp4gptq/error.hpp"
#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

void init_onig() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
  });
}

std::string onig_message(int code, OnigErrorInfo* info) {
  OnigUChar buf[ONIG_MAX_ERROR_MESSAGE_LEN];
  const int n = info ? onig_error_code_to_str(buf, code, info) : onig_error_code_to_str(buf, code);
  return std::string(reinterpret_cast<const char*>(buf), n > 0 ? static_cast<size_t>(n) : 0);
}

struct RegionDeleter {
  void operator()(OnigRegion* r) const { onig_region_free(r, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : pattern_(pattern) {
  init_onig();
  check_utf8(pattern, where + ": pattern");
  OnigRegex re = nullptr;
  OnigErrorInfo info;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int rc = onig_new(&re, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
  if (rc != ONIG_NORMAL) throw Error(where + ": invalid regex \"" + pattern + "\": " + onig_message(rc, &info));
  regex_ = re;
}

Regex::~Regex() {
  if (regex_) onig_free(static_cast<OnigRegex>(regex_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  const auto re = static_cast<OnigRegex>(regex_);
  std::unique_ptr<OnigRegion, RegionDeleter> region(onig_region_new());
  const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = begin + text.size();
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    onig_region_clear(region.get());
    const int r = onig_search(re, begin, end, begin + last_end, end, region.get(), ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH) return;
    if (r < 0) throw Error("regex \"" + pattern_ + "\": search failed: " + onig_message(r, nullptr));
    const auto s = static_cast<size_t>(region->beg[0]), e = static_cast<size_t>(region->end[0]);
    if (s == e && have_last && last_match_end == e) {
      // An empty match right after the previous one: step one character and search again.
      last_end += last_end < text.size() ? char_len(static_cast<unsigned char>(text[last_end])) : 1;
      continue;
    }
    last_end = e;
    have_last = true;
    last_match_end = e;
    out.emplace_back(s, e);
  }
}

}  // namespace fp4gptq::tokenizer
