#include "gptq/hessian.hpp"

#include <algorithm>
#include <cstring>

#include "fp4gptq/error.hpp"
#include "linalg/bf16_matmul.hpp"
#include "linalg/blas.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::gptq {

namespace {

constexpr int64_t kChunkRows = 2048;  // rows per update: bounds the temporary copies

// Calls fn(rows, n) for each chunk of at most kChunkRows rows of x [total, dim], with the padding rows
// (keep[r] == 0) left out by copying the kept ones together.
template <typename T, typename F>
void for_kept_chunks(const T* x, int64_t total, int64_t dim, const uint8_t* keep, F&& fn) {
  std::vector<T> kept;
  for (int64_t first = 0; first < total; first += kChunkRows) {
    const int64_t count = std::min(kChunkRows, total - first);
    const T* rows = x + first * dim;
    int64_t n = count;
    if (keep) {
      kept.resize(static_cast<size_t>(count * dim));
      n = 0;
      for (int64_t r = first; r < first + count; ++r)
        if (keep[r]) std::memcpy(&kept[static_cast<size_t>(n++ * dim)], x + r * dim, static_cast<size_t>(dim) * sizeof(T));
      rows = kept.data();
    }
    if (n > 0) fn(rows, n);
  }
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t dim, HessianDType dtype) : dim_(dim), dtype_(dtype) {
  if (dim <= 0) throw Error("HessianAccumulator: dimension must be positive, got " + std::to_string(dim));
  if (dtype == HessianDType::F32)
    sum32_.assign(static_cast<size_t>(dim * dim), 0.0f);
  else
    sum64_.assign(static_cast<size_t>(dim * dim), 0.0);
}

void HessianAccumulator::add(const float* x, int64_t rows, const uint8_t* keep) {
  std::vector<double> wide;
  for_kept_chunks(x, rows, dim_, keep, [&](const float* r, int64_t n) {
    if (dtype_ == HessianDType::F32) {
      linalg::ssyrk_upper_ata(dim_, n, 1.0f, r, dim_, 1.0f, sum32_.data(), dim_);
    } else {
      wide.assign(r, r + n * dim_);
      linalg::dsyrk_upper_ata(dim_, n, 1.0, wide.data(), dim_, 1.0, sum64_.data(), dim_);
    }
    tokens_ += n;
  });
}

void HessianAccumulator::add_bf16(const uint16_t* x, int64_t rows, const uint8_t* keep) {
  std::vector<float> f32;
  for_kept_chunks(x, rows, dim_, keep, [&](const uint16_t* r, int64_t n) {
    if (dtype_ == HessianDType::F64) {
      f32.resize(static_cast<size_t>(n * dim_));
      numeric::bf16_to_f32(r, f32.data(), f32.size());
      add(f32.data(), n);
      return;
    }
    // XᵀX through oneDNN, upper triangle only: column block j gets rows [0, end_j) — a symmetric rank-k
    // update in blocks, (B+1)/(2B) of the full product's work for B blocks.
    const int64_t blocks = std::clamp<int64_t>(dim_ / 128, 1, 8);
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = dim_ * b / blocks, c1 = dim_ * (b + 1) / blocks;
      linalg::bf16_gemm(c1, c1 - c0, n, {r, 1, dim_}, {r + c0, dim_, 1}, sum32_.data() + c0, dim_, /*accumulate=*/true);
    }
    tokens_ += n;
  });
}

std::vector<float> HessianAccumulator::hessian() const {
  std::vector<float> h(static_cast<size_t>(dim_ * dim_), 0.0f);
  if (tokens_ == 0) return h;
  const double scale = 2.0 / static_cast<double>(tokens_);
  for (int64_t i = 0; i < dim_; ++i)
    for (int64_t j = i; j < dim_; ++j) {
      const size_t k = static_cast<size_t>(i * dim_ + j);
      const float v = dtype_ == HessianDType::F32 ? static_cast<float>(sum32_[k] * scale)
                                                  : static_cast<float>(sum64_[k] * scale);
      h[k] = v;
      h[static_cast<size_t>(j * dim_ + i)] = v;
    }
  return h;
}

}  // namespace fp4gptq::gptq
