#pragma once
// CRC-32 (zlib's) of a byte range, continuing from `crc`: the checksum of resumable runs' journals.
#include <cstddef>
#include <cstdint>

namespace fp4gptq::io {

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace fp4gptq::io
