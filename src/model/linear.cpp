#include "model/linear.hpp"

#include "linalg/bf16_matmul.hpp"
#include "linalg/blas.hpp"
#include "numeric/half.hpp"

namespace fp4gptq::model {

void Linear::set_weight(const float* w) {
  const size_t n = static_cast<size_t>(out_ * in_);
  if (compute_ == Compute::F32) {
    w32_.assign(w, w + n);
  } else {
    w16_.resize(n);
    numeric::f32_to_bf16(w, w16_.data(), n);
  }
}

void Linear::set_bias(const float* b) { bias_.assign(b, b + out_); }

void Linear::forward(const float* x, int64_t rows, float* y) const {
  if (compute_ == Compute::F32) {
    linalg::sgemm(false, true, rows, out_, in_, 1.0f, x, in_, w32_.data(), in_, 0.0f, y, out_);
  } else {
    std::vector<uint16_t> xb(static_cast<size_t>(rows * in_));
    numeric::f32_to_bf16(x, xb.data(), xb.size());
    linalg::bf16_gemm(false, true, rows, out_, in_, xb.data(), w16_.data(), y, false);
  }
  if (!bias_.empty())
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out_; ++o) y[r * out_ + o] += bias_[o];
}

}  // namespace fp4gptq::model
