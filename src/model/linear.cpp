#include "model/linear.hpp"

#include <algorithm>

#include "numeric/half.hpp"
#include "nvfp4/activation_quant.hpp"

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

namespace {
// x as bf16 in a per-thread buffer that keeps its pages between calls.
const uint16_t* to_bf16_scratch(const float* x, size_t n) {
  thread_local std::vector<uint16_t> xb;
  xb.resize(n);
  numeric::f32_to_bf16(x, xb.data(), n);
  return xb.data();
}
// x NVFP4-quantized (W4A4) in a per-thread buffer, or x itself when gs is 0. With bf16 compute the engines
// quantize bf16 activations: x is rounded to bf16 first.
const float* input_of(const float* x, int64_t rows, int64_t cols, float gs, Compute compute) {
  if (gs == 0) return x;
  thread_local std::vector<float> xq;
  const auto n = static_cast<size_t>(rows * cols);
  xq.resize(n);
  if (compute == Compute::BF16) {
    thread_local std::vector<uint16_t> xb;
    xb.resize(n);
    numeric::f32_to_bf16(x, xb.data(), n);
    numeric::bf16_to_f32(xb.data(), xq.data(), n);
    x = xq.data();
  }
  nvfp4::fake_quantize_input(x, rows, cols, gs, xq.data());
  return xq.data();
}
}  // namespace

void Linear::forward(const linalg::Context& ctx, const float* x, int64_t rows, float* y) const {
  x = input_of(x, rows, in_, input_gs_, compute_);
  run(ctx, x, compute_ == Compute::BF16 ? to_bf16_scratch(x, static_cast<size_t>(rows * in_)) : nullptr, rows, y);
}

void Linear::forward_shared(const linalg::Context& ctx, const float* x, int64_t rows,
                            std::initializer_list<std::pair<const Linear*, float*>> outs) {
  const Linear& first = *outs.begin()->first;
  float gs = 0;
  for (const auto& o : outs)
    if (o.first->input_gs_ > 0) gs = gs > 0 ? std::min(gs, o.first->input_gs_) : o.first->input_gs_;
  x = input_of(x, rows, first.in_, gs, first.compute_);
  const uint16_t* xb =
      first.compute_ == Compute::BF16 ? to_bf16_scratch(x, static_cast<size_t>(rows * first.in_)) : nullptr;
  for (const auto& [l, y] : outs) l->run(ctx, x, xb, rows, y);
}

void Linear::run(const linalg::Context& ctx, const float* x, const uint16_t* xb, int64_t rows, float* y) const {
  if (compute_ == Compute::F32)
    ctx.sgemm(false, true, rows, out_, in_, 1.0f, x, in_, w32_.data(), in_, 0.0f, y, out_);
  else
    ctx.bf16_gemm(false, true, rows, out_, in_, xb, w16_.data(), y, false);
  if (!bias_.empty())
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < out_; ++o) y[r * out_ + o] += bias_[o];
}

}  // namespace fp4gptq::model
