#pragma once
// Which special tokens encode(add_special_tokens) adds (docs/DESIGN.md §11). By default ("file") those the
// tokenizer.json's post-processor adds, as the tokenizers library does. transformers differs for its Llama and
// Gemma tokenizer classes: LlamaTokenizerFast rebuilds the post-processor from tokenizer_config.json's
// add_bos_token / add_eos_token ("auto" does the same). "always" / "never" force a BOS at the start or none.
#include <filesystem>
#include <string>

#include "tokenizer/tokenizer.hpp"

namespace fp4gptq::tokenizer {

enum class BosPolicy { File, Auto, Always, Never };
BosPolicy parse_bos_policy(const std::string& name);  // "file", "auto", "always", "never"
const char* bos_policy_name(BosPolicy p);

// Rewrites the post-processor per `policy`, reading `tokenizer_config` (tokenizer_config.json; it may be
// missing, which only "file" and "never" accept).
void apply_bos_policy(Tokenizer& t, BosPolicy policy, const std::filesystem::path& tokenizer_config);

// `path`: a directory with tokenizer.json, or a tokenizer.json file; tokenizer_config.json beside it is read for
// the policy.
Tokenizer load_tokenizer(const std::filesystem::path& path, BosPolicy policy = BosPolicy::File);

}  // namespace fp4gptq::tokenizer
