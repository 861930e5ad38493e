// Fuzz target: the safetensors header parser (io/safetensors_reader), fed a whole file's bytes. A header that
// passes must describe tensors inside the data; their first elements are then converted to FP32, which also
// exercises unaligned tensor data (odd header lengths).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fp4gptq/error.hpp"
#include "io/safetensors_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fp4gptq;
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto h = io::parse_safetensors_header(file, "fuzz.safetensors");
    std::vector<float> out(64);
    for (const auto& t : h.tensors) {
      if (!numeric::is_float(t.dtype)) continue;
      const uint64_t n = std::min<uint64_t>(t.numel(), out.size());
      numeric::to_f32(t.dtype, data + h.data_start + t.begin, out.data(), n);
    }
  } catch (const Error&) {
  }
  return 0;
}
