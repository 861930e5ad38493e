#include "nvfp4/canonical_codes.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FP4GPTQ_HAVE_AVX2_PATH 1
#endif

#include "numeric/half.hpp"
#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::nvfp4 {

namespace {

// The block's grid as stored: grid[k] = dtype(e2m1_k · eff), computed as the quantizer computes values (FP32
// product, then rounded), as magnitude bits. Magnitude bits of non-negative 16-bit floats order as the values
// do, and the grid is non-decreasing in k, so for |x| the first k with grid[k] >= |x| (k = #{j: grid[j] < |x|})
// is the smallest magnitude giving |x|, when some grid[j] == |x|.
void block_grid(uint8_t scale, float scale_2, bool bf16, uint16_t grid[8]) {
  const float eff = effective_scale(scale, scale_2);
  for (int k = 0; k < 8; ++k) {
    const float v = numeric::e2m1_magnitude(k) * eff;
    grid[k] = static_cast<uint16_t>((bf16 ? numeric::f32_to_bf16(v) : numeric::f32_to_f16(v)) & 0x7fff);
  }
}

// One block, portably, into 8 packed bytes: false when a value is on no grid point.
bool block_codes(const uint16_t* x, const uint16_t grid[8], uint8_t* p) {
  bool ok = true;
  uint8_t c[kBlockSize];
  for (int i = 0; i < kBlockSize; ++i) {
    const uint16_t a = x[i] & 0x7fff;
    int k = 0;
    bool hit = false;
    for (int j = 0; j < 8; ++j) {
      k += grid[j] < a;
      hit = hit || grid[j] == a;
    }
    ok = ok && hit;
    c[i] = static_cast<uint8_t>(k | (k > 0 && (x[i] >> 15)) << 3);
  }
  for (int j = 0; j < kBlockSize / 2; ++j) p[j] = static_cast<uint8_t>(c[2 * j] | c[2 * j + 1] << 4);
  return ok;
}

#ifdef FP4GPTQ_HAVE_AVX2_PATH
// A whole row segment with AVX2 (and F16C): per block, the grid's 8 products in one register rounded to nearest
// even (fp16: F16C, IEEE as f32_to_f16; bf16: the integer rounding of f32_to_bf16 on 8 lanes), then the 16 stored
// values in one register (magnitudes <= 0x7fff, so signed compares work) against each grid point. Returns false
// at the first block that has a value on no grid point (left to the portable path to name): *done says how many
// values were finished.
__attribute__((target("avx2,f16c"))) bool recover_avx2(const uint16_t* stored, size_t n, const uint8_t* scales,
                                                       float scale_2, bool bf16, uint8_t* packed, size_t* done) {
  const __m256 magnitudes = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);  // e2m1_magnitude(0..7)
  const __m256i low15 = _mm256_set1_epi16(0x7fff), eight = _mm256_set1_epi16(8), zero = _mm256_setzero_si256();
  // Pairs packed: each 32-bit lane holds (even, odd) codes as 16-bit halves; lane | lane >> 12 has
  // even | odd << 4 in its low byte; those bytes are gathered into the low 32 bits of each 128-bit half.
  const __m256i gather = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1,
                                          -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  for (size_t b = 0; b < n / kBlockSize; ++b) {
    const __m256 products = _mm256_mul_ps(magnitudes, _mm256_set1_ps(effective_scale(scales[b], scale_2)));
    __m128i grid;
    if (bf16) {  // (bits + 0x7fff + bit 16) >> 16 per lane, then the 8 results narrowed to 16 bits in order
      const __m256i bits = _mm256_castps_si256(products);
      const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
      const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
      grid = _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
    } else {
      grid = _mm256_cvtps_ph(products, _MM_FROUND_TO_NEAREST_INT);
    }
    grid = _mm_and_si128(grid, _mm_set1_epi16(0x7fff));
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(stored + b * kBlockSize));
    const __m256i a = _mm256_and_si256(v, low15);
    __m256i k = zero, hit = zero;
    alignas(16) uint16_t g[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(g), grid);
    for (int j = 0; j < 8; ++j) {
      const __m256i gj = _mm256_set1_epi16(static_cast<int16_t>(g[j]));
      k = _mm256_sub_epi16(k, _mm256_cmpgt_epi16(a, gj));  // a > g: -1, so k counts grid points below a
      hit = _mm256_or_si256(hit, _mm256_cmpeq_epi16(a, gj));
    }
    if (_mm256_movemask_epi8(hit) != -1) {
      *done = b * kBlockSize;
      return false;
    }
    const __m256i sign = _mm256_and_si256(_mm256_and_si256(_mm256_srai_epi16(v, 15), _mm256_cmpgt_epi16(k, zero)), eight);
    const __m256i code = _mm256_or_si256(k, sign);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_or_si256(code, _mm256_srli_epi32(code, 12)), gather);
    const uint64_t word = static_cast<uint32_t>(_mm256_extract_epi32(bytes, 0)) |
                          static_cast<uint64_t>(static_cast<uint32_t>(_mm256_extract_epi32(bytes, 4))) << 32;
    __builtin_memcpy(packed + b * kBlockSize / 2, &word, sizeof word);
  }
  *done = n;
  return true;
}
#endif

}  // namespace

size_t recover_codes(const uint16_t* stored, size_t n, const uint8_t* block_scales, float scale_2, numeric::DType dtype,
                     uint8_t* packed, bool vectorized) {
  const bool bf16 = dtype == numeric::DType::BF16;
  size_t first = 0;  // values done by the vectorized path
#ifdef FP4GPTQ_HAVE_AVX2_PATH
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  if (vectorized && avx2 && recover_avx2(stored, n, block_scales, scale_2, bf16, packed, &first)) return n;
#else
  (void)vectorized;
#endif
  uint16_t grid[8];
  for (size_t b = first / kBlockSize; b < n / kBlockSize; ++b) {
    block_grid(block_scales[b], scale_2, bf16, grid);
    const uint16_t* x = stored + b * kBlockSize;
    if (block_codes(x, grid, packed + b * kBlockSize / 2)) continue;
    for (int i = 0; i < kBlockSize; ++i) {  // the first value on no grid point
      bool hit = false;
      for (int j = 0; j < 8; ++j) hit = hit || grid[j] == (x[i] & 0x7fff);
      if (!hit) return b * kBlockSize + static_cast<size_t>(i);
    }
  }
  return n;
}

}  // namespace fp4gptq::nvfp4
