#pragma once
// Unicode for the tokenizer (docs/DESIGN.md §11): UTF-8 decoding and validation, the character classes the
// `tokenizers` library takes from Rust's char methods and `regex` crate, normalization forms and lowercase
// (both through ICU, never hand tables), and Rust's String::from_utf8_lossy.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fp4gptq::tokenizer {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF), or std::string_view::npos when all of `s` is well formed.
size_t find_invalid_utf8(std::string_view s);
// Throws fp4gptq::Error "<source>: invalid UTF-8 at byte N" (N counted from `base`, e.g. the line's file offset).
void check_utf8(std::string_view s, const std::string& source, uint64_t base = 0);

// Decodes the code point at s[i] (s well formed) and advances i past it.
char32_t next_char(std::string_view s, size_t& i);
size_t char_len(unsigned char lead);  // bytes of the sequence led by `lead` (well-formed input)
void append_utf8(std::string& out, char32_t c);
// Start of the character that ends at `end` (s well formed, end > 0).
size_t prev_char_start(std::string_view s, size_t end);

bool is_whitespace(char32_t c);    // White_Space (Rust char::is_whitespace, regex \s)
bool is_alphanumeric(char32_t c);  // Alphabetic or Numeric (Rust char::is_alphanumeric)
bool is_numeric(char32_t c);       // general category Nd, Nl or No (Rust char::is_numeric)
bool is_punctuation(char32_t c);   // ASCII punctuation or category P* (tokenizers' Punctuation)
bool is_word_char(char32_t c);     // Rust regex \w: Alphabetic, M*, Nd, Pc, Join_Control
// Where the run of White_Space characters that ends at `end` begins, and where the one from `begin` ends.
size_t whitespace_run_before(std::string_view s, size_t end);
size_t whitespace_run_after(std::string_view s, size_t begin);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// `s` in the given form (UAX #15), computed by ICU; returns s unchanged when it already is.
std::string normalize(std::string_view s, NormalForm form);
// Each character replaced by its full lowercase mapping, character by character (no context: Rust's
// char::to_lowercase, which tokenizers' Lowercase applies).
std::string to_lower(std::string_view s);

// Rust's String::from_utf8_lossy: each maximal ill-formed subsequence becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

}  // namespace fp4gptq::tokenizer
