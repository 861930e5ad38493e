#pragma once
// tokenizer.json "post_processor" (tokenizers' processors), for one sequence: TemplateProcessing (its "single"
// template), BertProcessing and RobertaProcessing ([CLS] A [SEP]), ByteLevel (offsets only: adds nothing) and
// Sequence. Special tokens are added only with add_special_tokens.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fp4gptq::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // With add_special_tokens, `ids` becomes the template around them.
  virtual void process(std::vector<uint32_t>& ids) const = 0;
  // The ids this processor puts before and after the sequence.
  virtual void specials(std::vector<uint32_t>& before, std::vector<uint32_t>& after) const = 0;
};

// nullptr for a null post_processor.
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where);
// A TemplateProcessing equivalent: `before` + sequence + `after`.
std::unique_ptr<PostProcessor> template_processor(std::vector<uint32_t> before, std::vector<uint32_t> after);

}  // namespace fp4gptq::tokenizer
