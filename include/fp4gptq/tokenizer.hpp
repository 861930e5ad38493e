#pragma once
// Text in (docs/DESIGN.md §11): a Hugging Face tokenizer.json interpreted with the token ids of the `tokenizers`
// library, and text calibration sets, in AutoGPTQ's flow:
//
//   auto tok = fp4gptq::Tokenizer::from_pretrained("Qwen3-8B");
//   std::vector<fp4gptq::Example> examples;
//   for (const auto& text : texts) examples.push_back(tok.encode(text));   // tokenizer(text)["input_ids"]
//   model.quantize(examples);
//
// or straight from a file: fp4gptq::CalibrationConfig c; c.nsamples = 128; c.seqlen = 2048;
// fp4gptq::load_examples("c4.jsonl", tok, c).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fp4gptq/error.hpp"

namespace fp4gptq {

using Example = std::vector<int32_t>;  // token ids of one calibration sample

// Which special tokens encode(add_special_tokens = true) adds: "file" those of tokenizer.json's post-processor
// (the tokenizers library); "auto" as transformers (its Llama/Gemma tokenizer classes follow
// tokenizer_config.json's add_bos_token/add_eos_token); "always" a BOS at the start; "never" no BOS.
enum class BosPolicy { File, Auto, Always, Never };
inline const std::map<std::string, BosPolicy>& bos_policy_names() {
  static const std::map<std::string, BosPolicy> m = {
      {"file", BosPolicy::File}, {"auto", BosPolicy::Auto}, {"always", BosPolicy::Always}, {"never", BosPolicy::Never}};
  return m;
}

namespace tokenizer {
class Tokenizer;
}

class Tokenizer {
 public:
  // `path`: a model directory holding tokenizer.json (and tokenizer_config.json), or a tokenizer.json file.
  static Tokenizer from_pretrained(const std::filesystem::path& path, BosPolicy bos = BosPolicy::File);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The ids the tokenizers library gives; invalid UTF-8 is an error naming the byte offset.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // At most max_length ids, as transformers' truncation=True: the text's tokens cut at the end, the special
  // tokens kept (an error if they alone exceed max_length).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens, int64_t max_length) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  int64_t vocab_size() const;  // one past the largest id
  std::optional<int32_t> token_to_id(std::string_view token) const;

  const tokenizer::Tokenizer& impl() const { return *impl_; }

 private:
  explicit Tokenizer(std::unique_ptr<tokenizer::Tokenizer> impl);
  std::unique_ptr<tokenizer::Tokenizer> impl_;
};

// How text becomes calibration samples (docs/DESIGN.md §6).
//  Documents: AutoGPTQ's examples: each document encoded (special tokens as the tokenizer adds them), truncated
//             to seqlen; the first nsamples, or a seeded random nsamples when `seed` is set.
//  Windows:   GPTQ's C4/wikitext loaders: nsamples random windows of exactly seqlen tokens (seed, 0 by
//             default), each from a random document longer than seqlen tokens (JSONL), or from the whole text
//             as one stream (.txt).
//  Auto:      Documents for JSONL, Windows for .txt.
enum class CalibMode { Auto, Documents, Windows };
inline const std::map<std::string, CalibMode>& calib_mode_names() {
  static const std::map<std::string, CalibMode> m = {
      {"auto", CalibMode::Auto}, {"documents", CalibMode::Documents}, {"windows", CalibMode::Windows}};
  return m;
}

struct CalibrationConfig {
  int64_t nsamples = 0;  // 0: every document (Documents); Windows needs > 0
  int64_t seqlen = 0;    // 0: no truncation (Documents); Windows needs > 0
  CalibMode mode = CalibMode::Auto;
  std::optional<uint64_t> seed;    // Documents: random selection; Windows: the windows (0 if unset)
  std::string text_field = "text";  // the JSONL field holding the text
  int64_t vocab_size = 0;           // the model's (CausalLM::vocab_size()): ids must be below it; 0: the tokenizer's
};

struct CalibrationSummary {
  std::string file, format, mode;  // format: "text-jsonl", "text" (.txt) or "token-ids"; mode: documents | windows
  int64_t samples = 0, tokens = 0;
  int64_t documents = 0;  // documents read (JSONL lines with text, or 1 for .txt)
  int64_t too_short = 0;  // documents skipped: empty (Documents), or not longer than seqlen (Windows)
  std::string describe() const;  // one line for the log: "64 samples, 8192 tokens (windows mode; ...)"
};

// "token-ids" (JSONL of {"input_ids": [...]}), "text-jsonl" (JSONL with `text_field`) or "text" (.txt), as the
// file's extension and first line say; an error naming the file otherwise.
std::string calibration_format(const std::filesystem::path& file, const std::string& text_field = "text");

// Calls `f` with each document of a text file in order: each JSONL line's `text_field`, or the whole .txt.
void for_each_document(const std::filesystem::path& file, const std::string& text_field,
                       const std::function<void(const std::string&)>& f);

// Every line of a token-id JSONL in order, ids checked against vocab_size; an empty list is an empty line (for
// decoding, unlike load_examples, which refuses empty samples).
std::vector<std::vector<int32_t>> read_token_ids(const std::filesystem::path& file, int64_t vocab_size);

// Samples from a text file: JSONL with `text_field` per line, or plain UTF-8 text (.txt, one document).
// Errors name the file, the line and, for invalid UTF-8, the byte offset.
std::vector<Example> load_examples(const std::filesystem::path& file, const Tokenizer& tokenizer,
                                   const CalibrationConfig& config = {}, CalibrationSummary* summary = nullptr);

}  // namespace fp4gptq
