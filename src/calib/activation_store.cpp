#include "calib/activation_store.hpp"

#include <algorithm>

#include "fp4gptq/error.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::calib {

ActivationStore::ActivationStore(numeric::DType dtype, int64_t rows, int64_t width) { reset(dtype, rows, width); }

void ActivationStore::reset(numeric::DType dtype, int64_t rows, int64_t width) {
  dtype_ = dtype;
  rows_ = rows;
  width_ = width;
  const size_t n = static_cast<size_t>(rows * width);
  if (dtype == numeric::DType::BF16) {
    bf16_.resize(n);
    f32_.clear();
  } else if (dtype == numeric::DType::F32) {
    f32_.resize(n);
    bf16_.clear();
  } else {
    throw Error("activation dtype must be bfloat16 or float32");
  }
}

void ActivationStore::store(int64_t row0, int64_t rows, const float* x) {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  if (dtype_ == numeric::DType::BF16)
    numeric::f32_to_bf16(x, &bf16_[off], n);
  else
    std::copy(x, x + n, &f32_[off]);
}

void ActivationStore::load(int64_t row0, int64_t rows, float* out) const {
  const size_t off = static_cast<size_t>(row0 * width_), n = static_cast<size_t>(rows * width_);
  if (dtype_ == numeric::DType::BF16)
    numeric::bf16_to_f32(&bf16_[off], out, n);
  else
    std::copy(&f32_[off], &f32_[off] + n, out);
}

}  // namespace fp4gptq::calib
