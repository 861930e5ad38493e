#pragma once
// tokenizer.json "decoder" (tokenizers' decoders) for decode(): ByteLevel, Metaspace, ByteFallback, Fuse, Strip,
// Replace and Sequence, each a step over the list of token strings (decode_chain); the result is their
// concatenation.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fp4gptq::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a null decoder (decode then joins the tokens with spaces).
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where);

}  // namespace fp4gptq::tokenizer
