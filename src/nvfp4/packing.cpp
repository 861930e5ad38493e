#include "nvfp4/packing.hpp"

#include "fp4gptq/error.hpp"

namespace fp4gptq::nvfp4 {

std::vector<uint8_t> pack_nibbles(const uint8_t* codes, size_t n) {
  if (n % 2 != 0) throw Error("pack_nibbles: an even number of codes is required, got " + std::to_string(n));
  std::vector<uint8_t> out(n / 2);
  for (size_t k = 0; k < n / 2; ++k)
    out[k] = static_cast<uint8_t>((codes[2 * k] & 0xf) | ((codes[2 * k + 1] & 0xf) << 4));
  return out;
}

std::vector<uint8_t> unpack_nibbles(const uint8_t* packed, size_t n) {
  if (n % 2 != 0) throw Error("unpack_nibbles: an even number of codes is required, got " + std::to_string(n));
  std::vector<uint8_t> out(n);
  for (size_t k = 0; k < n / 2; ++k) {
    out[2 * k] = packed[k] & 0xf;
    out[2 * k + 1] = packed[k] >> 4;
  }
  return out;
}

}  // namespace fp4gptq::nvfp4
