#pragma once
// Nibble packing of E2M1 codes for the real NVFP4 export: element 2k in the low nibble, 2k+1 in the high one.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fp4gptq::nvfp4 {

std::vector<uint8_t> pack_nibbles(const uint8_t* codes, size_t n);    // n must be even
std::vector<uint8_t> unpack_nibbles(const uint8_t* packed, size_t n);  // n codes out of n/2 bytes

}  // namespace fp4gptq::nvfp4
