#pragma once
// Reading and writing small JSON files (config.json, index files, reports) with errors naming the file.
#include <filesystem>
#include <nlohmann/json.hpp>

namespace fp4gptq::io {

// Key order is kept, so a config.json written back reads like the input.
nlohmann::ordered_json read_json(const std::filesystem::path& path);
void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j);

}  // namespace fp4gptq::io
