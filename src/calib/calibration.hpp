#pragma once
// Calibration data (docs/DESIGN.md §6): JSONL, one sample per line as AutoGPTQ's examples, {"input_ids": [...]} with an
// optional "attention_mask" (mask-0 positions dropped). Every line is validated; errors name file and line.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fp4gptq::calib {

struct CalibrationOptions {
  int64_t nsamples = 0;          // 0: every line; else the first N lines, or a seeded random N with `seed`
  int64_t seqlen = 0;            // 0: full length; else each sample truncated to its first seqlen tokens
  std::optional<uint64_t> seed;  // random selection of nsamples lines (kept in file order)
};

struct CalibrationSet {
  std::vector<std::vector<int32_t>> samples;
  std::vector<int64_t> lines;  // 1-based line number of each sample
  // Where the samples came from (file, format, mode, documents, too_short): copied into the report's
  // "calibration".
  nlohmann::ordered_json provenance = nlohmann::ordered_json::object();
  int64_t tokens() const;
};

// One line's sample: nullopt for a blank line; `source` ("file:line") prefixes errors. The line is parsed within
// kLineLimits (docs/DESIGN.md §6).
// allow_empty: an empty list (or all masked) is a sample of no ids rather than an error (for decoding).
std::optional<std::vector<int32_t>> parse_sample_line(std::string_view line, int64_t vocab_size,
                                                      const std::string& source, bool allow_empty = false);
inline constexpr uint64_t kMaxLineBytes = 256ull << 20;

// std::getline with a bound: a line longer than `max` bytes is an error (named by where()) before it is all in
// memory. False at the end of the file.
bool read_line(std::istream& in, std::string& line, uint64_t max, const std::function<std::string()>& where);

// Reads and validates every line: ids integers in [0, vocab_size), attention_mask (if any) of the same
// length with 0/1 values, no sample empty after masking; an empty file is an error.
CalibrationSet read_token_jsonl(const std::filesystem::path& path, int64_t vocab_size, bool allow_empty = false);

// read_token_jsonl, then the selection and truncation of `options`.
CalibrationSet load_calibration(const std::filesystem::path& path, int64_t vocab_size,
                                const CalibrationOptions& options);

}  // namespace fp4gptq::calib
