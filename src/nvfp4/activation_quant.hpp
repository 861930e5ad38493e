#pragma once
// W4A4 activation quantization as the serving engines apply it to a Linear's input (vLLM's ref_nvfp4_quant /
// scaled_fp4_quant; docs/DESIGN.md §7b): per row, blocks of 16 consecutive values, each with an FP8 E4M3 scale
// under the layer's static input global scale gs = 2688 / input_amax.
#include <cstdint>

namespace fp4gptq::nvfp4 {

// x [rows, cols] (cols a multiple of 16) quantized and dequantized into out (may equal x), in FP32 as vLLM:
//   s = fp8(clamp(gs · (block_amax · (1/6)), 448));  q = e2m1(x · 1/(s · (1/gs)));  out = q · (s / gs).
// A block whose scale is 0 becomes 0.
void fake_quantize_input(const float* x, int64_t rows, int64_t cols, float input_global_scale, float* out);

}  // namespace fp4gptq::nvfp4
