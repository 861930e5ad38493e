#include "gptq/hessian.hpp"

#include <algorithm>
#include <cstring>

#include "fp4gptq/error.hpp"
#include "linalg/transpose.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::gptq {

namespace {

// Feeds the kept rows of x [rows, dim] to update(rows, n) in chunks of exactly `chunk` rows, buffering the
// rest in `pending` for the next call (or the final flush). Whole chunks of contiguous kept rows are passed
// straight from x.
template <typename T, typename F>
int64_t feed(std::vector<T>& pending, const T* x, int64_t rows, int64_t dim, const uint8_t* keep, int64_t chunk,
             F&& update) {
  const auto d = static_cast<size_t>(dim);
  int64_t kept = 0;
  for (int64_t r = 0; r < rows;) {
    if (keep && !keep[r]) {
      ++r;
      continue;
    }
    if (pending.empty() && !keep && rows - r >= chunk) {
      update(x + r * dim, chunk);
      r += chunk;
      kept += chunk;
      continue;
    }
    pending.insert(pending.end(), x + r * dim, x + (r + 1) * dim);
    ++r;
    ++kept;
    if (pending.size() == static_cast<size_t>(chunk) * d) {
      update(pending.data(), chunk);
      pending.clear();
    }
  }
  return kept;
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t dim, HessianDType dtype) : dim_(dim), dtype_(dtype) {
  if (dim <= 0) throw Error("HessianAccumulator: dimension must be positive, got " + std::to_string(dim));
  if (dtype == HessianDType::F32)
    sum32_.assign(static_cast<size_t>(dim * dim), 0.0f);
  else
    sum64_.assign(static_cast<size_t>(dim * dim), 0.0);
}

void HessianAccumulator::update_f32(const linalg::Context& ctx, const float* r, int64_t n) {
  if (dtype_ == HessianDType::F32) {
    ctx.syrk_upper_ata(dim_, n, 1.0f, r, dim_, 1.0f, sum32_.data(), dim_);
  } else {
    const std::vector<double> wide(r, r + n * dim_);
    ctx.syrk_upper_ata(dim_, n, 1.0, wide.data(), dim_, 1.0, sum64_.data(), dim_);
  }
}

void HessianAccumulator::update_bf16(const linalg::Context& ctx, const uint16_t* r, int64_t n) {
  if (dtype_ == HessianDType::F64) {
    std::vector<float> f32(static_cast<size_t>(n * dim_));
    numeric::bf16_to_f32(r, f32.data(), f32.size());
    update_f32(ctx, f32.data(), n);
    return;
  }
  // XᵀX in bf16, upper triangle only: column block j gets rows [0, end_j) — a symmetric rank-k update in
  // blocks, (B+1)/(2B) of the full product's work for B blocks.
  const int64_t blocks = std::clamp<int64_t>(dim_ / 128, 1, 8);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = dim_ * b / blocks, c1 = dim_ * (b + 1) / blocks;
    ctx.bf16_gemm(c1, c1 - c0, n, {r, 1, dim_}, {r + c0, dim_, 1}, sum32_.data() + c0, dim_, /*accumulate=*/true);
  }
}

void HessianAccumulator::add(const linalg::Context& ctx, const float* x, int64_t rows, const uint8_t* keep) {
  tokens_ +=
      feed(pending32_, x, rows, dim_, keep, kChunkRows, [&](const float* r, int64_t n) { update_f32(ctx, r, n); });
}

void HessianAccumulator::add_bf16(const linalg::Context& ctx, const uint16_t* x, int64_t rows, const uint8_t* keep) {
  tokens_ +=
      feed(pending16_, x, rows, dim_, keep, kChunkRows, [&](const uint16_t* r, int64_t n) { update_bf16(ctx, r, n); });
}

void HessianAccumulator::flush(const linalg::Context& ctx) {
  if (!pending32_.empty()) update_f32(ctx, pending32_.data(), static_cast<int64_t>(pending32_.size()) / dim_);
  if (!pending16_.empty()) update_bf16(ctx, pending16_.data(), static_cast<int64_t>(pending16_.size()) / dim_);
  pending32_.clear();
  pending16_.clear();
}

void HessianAccumulator::add_to(const linalg::Context& ctx, ExactSum& sum) {
  flush(ctx);
  if (tokens_ == 0) return;
  if (dtype_ == HessianDType::F32)
    sum.add(sum32_.data());
  else
    sum.add(sum64_.data());
}

std::vector<float> HessianAccumulator::hessian(const linalg::Context& ctx) {
  flush(ctx);
  std::vector<float> h(static_cast<size_t>(dim_ * dim_), 0.0f);
  if (tokens_ == 0) return h;
  const double scale = 2.0 / static_cast<double>(tokens_);
  for (int64_t i = 0; i < dim_; ++i)
    for (int64_t j = i; j < dim_; ++j) {
      const size_t k = static_cast<size_t>(i * dim_ + j);
      h[k] =
          dtype_ == HessianDType::F32 ? static_cast<float>(sum32_[k] * scale) : static_cast<float>(sum64_[k] * scale);
    }
  linalg::mirror_upper(h.data(), dim_);
  return h;
}

}  // namespace fp4gptq::gptq
