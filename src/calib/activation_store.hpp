#pragma once
// Activations of all calibration tokens at one point of a layer ([rows, width]), kept as bf16 or FP32
// (--act-dtype). Converted to FP32 a chunk at a time for compute.
#include <cstdint>
#include <vector>

#include "numeric/dtype.hpp"

namespace fp4gptq::calib {

class ActivationStore {
 public:
  ActivationStore() = default;
  ActivationStore(numeric::DType dtype, int64_t rows, int64_t width);
  // Re-shapes the store, keeping its memory (pages already faulted in) when it is large enough.
  void reset(numeric::DType dtype, int64_t rows, int64_t width);

  void store(int64_t row0, int64_t rows, const float* x);  // rounds to bf16 when the store is bf16
  void load(int64_t row0, int64_t rows, float* out) const;
  numeric::DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t width() const { return width_; }
  const float* f32(int64_t row0) const { return &f32_[static_cast<size_t>(row0 * width_)]; }
  const uint16_t* bf16(int64_t row0) const { return &bf16_[static_cast<size_t>(row0 * width_)]; }
  uint64_t bytes() const { return f32_.size() * 4 + bf16_.size() * 2; }

 private:
  numeric::DType dtype_ = numeric::DType::F32;
  int64_t rows_ = 0, width_ = 0;
  std::vector<float> f32_;
  std::vector<uint16_t> bf16_;
};

}  // namespace fp4gptq::calib
