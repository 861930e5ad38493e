#pragma once
// GPT-2's byte-level alphabet (Radford et al. 2019; tokenizers' bytes_char): every byte is one printable
// character, so a BPE over these characters covers any input without an unknown token. Printable Latin-1
// bytes map to themselves, the 68 others to U+0100 onwards in byte order.
#include <cstdint>
#include <string>
#include <string_view>

namespace fp4gptq::tokenizer {

// The UTF-8 of the character standing for byte b.
const std::string& byte_to_char(uint8_t b);
// The byte a character stands for, or -1 if it is not in the alphabet.
int char_to_byte(char32_t c);
// Every byte of s replaced by its character.
void append_byte_chars(std::string& out, std::string_view s);

}  // namespace fp4gptq::tokenizer
