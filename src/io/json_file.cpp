#include "io/json_file.hpp"

#include <fstream>
#include <sstream>

#include "fp4gptq/error.hpp"

namespace fp4gptq::io {

nlohmann::ordered_json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open (missing or unreadable)");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

void write_json(const std::filesystem::path& path, const nlohmann::ordered_json& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot create");
  out << j.dump(2) << "\n";
  if (!out) throw Error(path.string() + ": write failed");
}

}  // namespace fp4gptq::io
