#pragma once
// tokenizer.json "normalizer" (tokenizers' normalizers): NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace,
// ByteLevel and Sequence. Anything else is an error naming the file and the type.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace fp4gptq::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `front` says whether s still begins with (what became of) its first original character: a normalizer that
  // removes it (Strip, Replace with nothing) clears it. tokenizers decides Metaspace "first" by that offset.
  virtual void normalize(std::string& s, bool& front) const = 0;
  void normalize(std::string& s) const {
    bool front = true;
    normalize(s, front);
  }
};

// nullptr for a null normalizer.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);

}  // namespace fp4gptq::tokenizer
