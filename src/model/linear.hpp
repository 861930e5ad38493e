#pragma once
// A Linear layer y = x·Wᵀ + b with W [out, in], computed in FP32 (OpenBLAS sgemm) or with bf16 weights and
// activations and FP32 accumulation (oneDNN; AMX or AVX512-BF16 where the CPU has them).
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "linalg/context.hpp"

namespace fp4gptq::model {

enum class Compute { F32, BF16 };

class Linear {
 public:
  Linear() = default;
  Linear(int64_t out, int64_t in, Compute compute) : out_(out), in_(in), compute_(compute) {}

  void set_weight(const float* w);  // [out, in], FP32 values (rounded to bf16 for Compute::BF16)
  void set_bias(const float* b);    // [out]
  // W4A4: the input is NVFP4-quantized under this input global scale before the product, as the engines do
  // (nvfp4/activation_quant.hpp), from its bf16 values under Compute::BF16; Linears sharing an input
  // (forward_shared) use the smallest (the largest input amax), as vLLM's ModelOpt path and TensorRT-LLM do.
  void set_input_quant(float input_global_scale) { input_gs_ = input_global_scale; }
  float input_quant() const { return input_gs_; }
  void forward(const linalg::Context& ctx, const float* x, int64_t rows,
               float* y) const;  // x [rows, in] -> y [rows, out]
  // Several Linears reading the same x (q/k/v; gate/up): x is converted to bf16 once.
  static void forward_shared(const linalg::Context& ctx, const float* x, int64_t rows,
                             std::initializer_list<std::pair<const Linear*, float*>> outs);
  int64_t out() const { return out_; }
  int64_t in() const { return in_; }

 private:
  void run(const linalg::Context& ctx, const float* x, const uint16_t* xb, int64_t rows,
           float* y) const;  // xb: x as bf16 (BF16 compute)
  int64_t out_ = 0, in_ = 0;
  Compute compute_ = Compute::F32;
  std::vector<float> w32_, bias_;
  std::vector<uint16_t> w16_;
  float input_gs_ = 0;  // 0: the input is used as it is
};

}  // namespace fp4gptq::model
