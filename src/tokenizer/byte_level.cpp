#include "tokenizer/byte_level.hpp"

#include <array>

#include "tokenizer/unicode.hpp"

namespace fp4gptq::tokenizer {

namespace {

struct Tables {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 512> to_byte{};  // every character of the alphabet is below U+0200
  Tables() {
    to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      append_utf8(to_char[b], c);
      to_byte[c] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::string& byte_to_char(uint8_t b) { return tables().to_char[b]; }

int char_to_byte(char32_t c) { return c < 512 ? tables().to_byte[c] : -1; }

void append_byte_chars(std::string& out, std::string_view s) {
  const auto& t = tables().to_char;
  for (const char c : s) out += t[static_cast<uint8_t>(c)];
}

}  // namespace fp4gptq::tokenizer
