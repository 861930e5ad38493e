#include "linalg/transpose.hpp"

#include <algorithm>

namespace fp4gptq::linalg {

namespace {
constexpr int64_t kTile = 32;
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst, const int64_t* perm) {
  for (int64_t j0 = 0; j0 < cols; j0 += kTile)
    for (int64_t i0 = 0; i0 < rows; i0 += kTile)
      for (int64_t j = j0; j < std::min(j0 + kTile, cols); ++j) {
        const int64_t sj = perm ? perm[j] : j;
        for (int64_t i = i0; i < std::min(i0 + kTile, rows); ++i) dst[j * rows + i] = src[i * cols + sj];
      }
}

void mirror_upper(float* a, int64_t n) {
  // Tile by tile, so that the column-wise reads of the upper triangle stay in cache.
  for (int64_t i0 = 0; i0 < n; i0 += kTile)
    for (int64_t j0 = 0; j0 <= i0; j0 += kTile)
      for (int64_t i = i0; i < std::min(i0 + kTile, n); ++i)
        for (int64_t j = j0; j < std::min({j0 + kTile, i, n}); ++j) a[i * n + j] = a[j * n + i];
}

}  // namespace fp4gptq::linalg
