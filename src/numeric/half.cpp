#include "numeric/half.hpp"

#include "numeric/simd.hpp"

namespace fp4gptq::numeric {

FP4GPTQ_SIMD_CLONES void f16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}
FP4GPTQ_SIMD_CLONES void bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}
FP4GPTQ_SIMD_CLONES void f32_to_f16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}
FP4GPTQ_SIMD_CLONES void f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

}  // namespace fp4gptq::numeric
