// Fuzz target: config.json as a model directory's is read (bounded JSON, then ModelConfig::parse), and the
// output config built and written from it, as every quantize run does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fp4gptq/error.hpp"
#include "io/json_file.hpp"
#include "model/config.hpp"
#include "pipeline/checkpoint_output.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fp4gptq;
  try {
    const auto j = io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "config.json",
                                  io::kConfigLimits);
    const auto c = model::ModelConfig::parse(j, "config.json");
    for (int64_t l = 0; l < std::min<int64_t>(c.num_hidden_layers, 64); ++l) (void)c.is_sparse_layer(l);
    (void)pipeline::output_config(j, numeric::DType::F16).dump(2);
  } catch (const Error&) {
  }
  return 0;
}
