#include "io/crc32.hpp"

#include <zlib.h>

#include <algorithm>

namespace fp4gptq::io {

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const Bytef*>(data);
  for (size_t done = 0; done < n;) {  // zlib takes at most 4 GiB at a time
    const size_t c = std::min<size_t>(n - done, size_t{1} << 30);
    crc = static_cast<uint32_t>(::crc32(crc, p + done, static_cast<uInt>(c)));
    done += c;
  }
  return crc;
}

}  // namespace fp4gptq::io
