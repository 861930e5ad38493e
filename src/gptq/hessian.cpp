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

// Copies the kept rows of x[first, first+count) into out; returns how many.
template <typename T>
int64_t gather_kept(const T* x, int64_t dim, int64_t first, int64_t count, const uint8_t* keep, std::vector<T>& out) {
  out.resize(static_cast<size_t>(count * dim));
  int64_t n = 0;
  for (int64_t r = first; r < first + count; ++r)
    if (keep[r]) std::memcpy(&out[static_cast<size_t>(n++ * dim)], x + r * dim, static_cast<size_t>(dim) * sizeof(T));
  return n;
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
  std::vector<float> kept;
  std::vector<double> wide;
  for (int64_t first = 0; first < rows; first += kChunkRows) {
    const int64_t count = std::min(kChunkRows, rows - first);
    const float* rows_ptr = x + first * dim_;
    int64_t n = count;
    if (keep) {
      n = gather_kept(x, dim_, first, count, keep, kept);
      rows_ptr = kept.data();
    }
    if (n == 0) continue;
    if (dtype_ == HessianDType::F32) {
      linalg::ssyrk_upper_ata(dim_, n, 1.0f, rows_ptr, dim_, 1.0f, sum32_.data(), dim_);
    } else {
      wide.assign(rows_ptr, rows_ptr + n * dim_);
      linalg::dsyrk_upper_ata(dim_, n, 1.0, wide.data(), dim_, 1.0, sum64_.data(), dim_);
    }
    tokens_ += n;
  }
}

void HessianAccumulator::add_bf16(const uint16_t* x, int64_t rows, const uint8_t* keep) {
  std::vector<uint16_t> kept;
  std::vector<float> f32;
  for (int64_t first = 0; first < rows; first += kChunkRows) {
    const int64_t count = std::min(kChunkRows, rows - first);
    const uint16_t* rows_ptr = x + first * dim_;
    int64_t n = count;
    if (keep) {
      n = gather_kept(x, dim_, first, count, keep, kept);
      rows_ptr = kept.data();
    }
    if (n == 0) continue;
    if (dtype_ == HessianDType::F32) {
      // XᵀX through oneDNN, upper triangle only: column block j gets rows [0, end_j) — a symmetric rank-k
      // update in blocks, (B+1)/(2B) of the full product's work for B blocks.
      const int64_t blocks = std::clamp<int64_t>(dim_ / 128, 1, 8);
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t c0 = dim_ * b / blocks, c1 = dim_ * (b + 1) / blocks;
        linalg::bf16_gemm(c1, c1 - c0, n, {rows_ptr, 1, dim_}, {rows_ptr + c0, dim_, 1}, sum32_.data() + c0, dim_,
                          /*accumulate=*/true);
      }
      tokens_ += n;
    } else {
      f32.resize(static_cast<size_t>(n * dim_));
      numeric::bf16_to_f32(rows_ptr, f32.data(), f32.size());
      add(f32.data(), n);
    }
  }
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
