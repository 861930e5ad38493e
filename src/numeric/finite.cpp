#include "numeric/finite.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "numeric/simd.hpp"

namespace fp4gptq::numeric {

FP4GPTQ_SIMD_CLONES size_t first_non_finite(const float* x, size_t n) {
  constexpr size_t kChunk = 256;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t end = base + kChunk < n ? base + kChunk : n;
    uint32_t any = 0;  // exponent all ones <=> NaN or Inf; the OR-reduction vectorizes
    for (size_t i = base; i < end; ++i) {
      uint32_t b;
      std::memcpy(&b, &x[i], 4);
      any |= static_cast<uint32_t>((b & 0x7f800000u) == 0x7f800000u);
    }
    if (any)
      for (size_t i = base; i < end; ++i)
        if (!std::isfinite(x[i])) return i;
  }
  return n;
}

FP4GPTQ_SIMD_CLONES size_t first_non_finite_16(const std::byte* x, size_t n, uint16_t mask) {
  constexpr size_t kChunk = 512;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t end = base + kChunk < n ? base + kChunk : n;
    uint16_t any = 0;
    for (size_t i = base; i < end; ++i) {
      uint16_t b;
      std::memcpy(&b, x + 2 * i, 2);
      any |= static_cast<uint16_t>((b & mask) == mask);
    }
    if (any)
      for (size_t i = base; i < end; ++i) {
        uint16_t b;
        std::memcpy(&b, x + 2 * i, 2);
        if ((b & mask) == mask) return i;
      }
  }
  return n;
}

}  // namespace fp4gptq::numeric
