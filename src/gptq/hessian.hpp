#pragma once
// Hessian accumulator of GPTQ: H = 2/N Σ x xᵀ over the calibration tokens (rows) a module sees, padding rows
// excluded (docs/DESIGN.md §5). The sum is accumulated as a symmetric rank-k update (syrk) for FP32 rows, or blocked
// bf16 matmuls with FP32 accumulation over the upper triangle for bf16 rows, and scaled by 2/N once at the end.
// Rows are summed in fixed chunks of kChunkRows kept rows, whatever pieces they arrive in, so H does not
// depend on how the caller split its rows between add() calls. Modules sharing an input (q/k/v; gate/up)
// share one accumulator.
#include <cstdint>
#include <vector>

#include "gptq/exact_sum.hpp"
#include "linalg/context.hpp"

namespace fp4gptq::gptq {

enum class HessianDType { F32, F64 };

class HessianAccumulator {
 public:
  static constexpr int64_t kChunkRows = 2048;  // rows per update: bounds the buffered rows

  explicit HessianAccumulator(int64_t dim, HessianDType dtype = HessianDType::F32);

  // Adds `rows` token rows of length dim(). keep[r] == 0 marks a padding row, left out (nullptr: keep all).
  void add(const linalg::Context& ctx, const float* x, int64_t rows, const uint8_t* keep = nullptr);
  void add_bf16(const linalg::Context& ctx, const uint16_t* x, int64_t rows, const uint8_t* keep = nullptr);

  int64_t dim() const { return dim_; }
  int64_t tokens() const { return tokens_; }
  // H = 2/N Σ x xᵀ as a full symmetric FP32 [dim, dim] matrix (all zeros when no token was added), after
  // summing the rows still buffered.
  std::vector<float> hessian(const linalg::Context& ctx);
  // Adds Σ x xᵀ (unscaled, after summing the rows still buffered) to `sum`: one shard's partial sum of a
  // data-parallel Hessian (exact_sum.hpp).
  void add_to(const linalg::Context& ctx, ExactSum& sum);

 private:
  void flush(const linalg::Context& ctx);
  void update_f32(const linalg::Context& ctx, const float* rows, int64_t n);
  void update_bf16(const linalg::Context& ctx, const uint16_t* rows, int64_t n);
  int64_t dim_;
  HessianDType dtype_;
  int64_t tokens_ = 0;
  std::vector<float> sum32_;      // F32: Σ x xᵀ (upper triangle authoritative)
  std::vector<double> sum64_;     // F64
  std::vector<float> pending32_;  // kept rows not yet summed (fewer than kChunkRows)
  std::vector<uint16_t> pending16_;
};

}  // namespace fp4gptq::gptq
