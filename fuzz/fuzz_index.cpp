// Fuzz target: model.safetensors.index.json (bounded JSON, then io::parse_index).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "io/model_dir.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fp4gptq;
  try {
    const auto j = io::parse_json_unordered(std::string_view(reinterpret_cast<const char*>(data), size),
                                            "model.safetensors.index.json", io::kIndexLimits);
    (void)io::parse_index(j, "model.safetensors.index.json");
  } catch (const Error&) {
  }
  return 0;
}
