#pragma once
// Text calibration and evaluation data (docs/DESIGN.md §6): JSONL with a text field per line, or plain UTF-8
// text (.txt, one document), encoded with the model's tokenizer. Token-id JSONL (calibration.hpp) is told
// apart by its first line.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "calib/calibration.hpp"
#include "tokenizer/tokenizer.hpp"

namespace fp4gptq::calib {

enum class FileKind { TokenIds, TextJsonl, PlainText };
// .txt: PlainText; otherwise the first non-blank line decides: "input_ids" TokenIds, `text_field` TextJsonl;
// anything else is an error naming the file and both fields.
FileKind detect_kind(const std::filesystem::path& path, const std::string& text_field);

enum class TextMode { Auto, Documents, Windows };

struct TextOptions {
  int64_t nsamples = 0, seqlen = 0;
  TextMode mode = TextMode::Auto;
  std::optional<uint64_t> seed;
  std::string text_field = "text";
};

struct TextStats {
  int64_t documents = 0, too_short = 0;
  TextMode mode = TextMode::Documents;  // the mode used (Auto resolved)
};

// Documents (AutoGPTQ examples) or Windows (GPTQ's C4 / wikitext loaders), as TextOptions says; every document
// encoded with the tokenizer's special tokens. Ids are checked against vocab_size (the model's).
CalibrationSet load_text_calibration(const std::filesystem::path& path, const tokenizer::Tokenizer& tok,
                                     int64_t vocab_size, const TextOptions& options, TextStats* stats);

// Each document of a text file in order (JSONL lines with text_field, or the whole .txt) with its "file:line".
void for_each_document(const std::filesystem::path& path, const std::string& text_field,
                       const std::function<void(const std::string& text, const std::string& where)>& f);

// The evaluation stream (GPTQ's wikitext-2 protocol): every document of a JSONL joined with "\n\n" (empty ones
// too), or the whole .txt, encoded once with special tokens.
std::vector<int32_t> text_stream(const std::filesystem::path& path, const tokenizer::Tokenizer& tok,
                                 int64_t vocab_size, const std::string& text_field);

// Uniform integer in [0, n) by rejection from mt19937_64, whose output the C++ standard fixes (so the same
// samples on every standard library, unlike std::uniform_int_distribution).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);

}  // namespace fp4gptq::calib
