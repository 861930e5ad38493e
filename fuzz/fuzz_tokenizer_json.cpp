// Fuzz target: a tokenizer.json as a model directory's is read (bounded JSON, every component built), then a few
// texts encoded and decoded with it, as text calibration does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fp4gptq/error.hpp"
#include "tokenizer/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fp4gptq;
  try {
    const auto t = tokenizer::Tokenizer::from_json(std::string_view(reinterpret_cast<const char*>(data), size),
                                                   "tokenizer.json");
    for (const char* text : {"", "Hello world", "  <s> a\n\n12345 \xC3\xA9\xE2\x96\x81x", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"}) {
      const auto ids = t.encode(text, true);
      (void)t.decode(ids, false);
      (void)t.decode(ids, true);
    }
  } catch (const Error&) {
  }
  return 0;
}
