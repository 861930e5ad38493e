#pragma once
// Reading JSON inputs with bounds (size, nesting depth, keys per object) and errors naming the file and the
// field, and writing small JSON files (config.json, index files, reports).
//
// Every JSON a user hands us goes through parse_json: nlohmann's parser itself is iterative, but destroying,
// comparing and dumping a value recurse, so a deeply nested value would overflow the stack later; an
// ordered_json object checks every key against all earlier ones, so an object with a huge number of keys is
// quadratic. A first SAX pass (no values built) checks the bounds; only then is the value built.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fp4gptq::io {

struct JsonLimits {
  uint64_t max_bytes = 16ull << 20;
  int max_depth = 64;                 // nested arrays/objects
  uint64_t max_object_keys = 100000;  // per object
  uint64_t max_array_items = 1ull << 32;
};

// config.json, quantize/tokenizer configs: small, and kept in key order (ordered_json), so few keys each.
inline constexpr JsonLimits kConfigLimits{4ull << 20, 64, 4096, 1ull << 24};
// model.safetensors.index.json: one key per tensor (parsed into a sorted map, so many keys are fine).
inline constexpr JsonLimits kIndexLimits{256ull << 20, 16, 10'000'000, 1'000'000};

// Parses `text` within `limits`; `source` (a file name, "file:line") prefixes every error, which names the
// top-level field where a bound was exceeded.
nlohmann::ordered_json parse_json(std::string_view text, const std::string& source, const JsonLimits& limits);
nlohmann::json parse_json_unordered(std::string_view text, const std::string& source, const JsonLimits& limits);

// Reads and parses a whole file (refusing one over limits.max_bytes before reading it).
nlohmann::ordered_json read_json(const std::filesystem::path& path, const JsonLimits& limits = kConfigLimits);
nlohmann::json read_json_unordered(const std::filesystem::path& path, const JsonLimits& limits);

void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j);

}  // namespace fp4gptq::io
