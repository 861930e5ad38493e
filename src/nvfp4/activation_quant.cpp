#include "nvfp4/activation_quant.hpp"

#include <algorithm>
#include <cmath>

#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::nvfp4 {

void fake_quantize_input(const float* x, int64_t rows, int64_t cols, float gs, float* out) {
  const float inv_gs = 1.0f / gs, inv_six = 1.0f / numeric::kE2M1Max;
  for (int64_t b = 0; b < rows * cols / kBlockSize; ++b) {
    const float* v = x + b * kBlockSize;
    float* o = out + b * kBlockSize;
    float amax = 0;
    for (int i = 0; i < kBlockSize; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float s = numeric::e4m3_to_f32(numeric::f32_to_e4m3(std::min(gs * (amax * inv_six), numeric::kE4M3Max)));
    if (s == 0.0f) {
      std::fill_n(o, kBlockSize, 0.0f);
      continue;
    }
    const float to_grid = 1.0f / (s * inv_gs), back = s / gs;
    for (int i = 0; i < kBlockSize; ++i) {
      const float t = std::clamp(v[i] * to_grid, -numeric::kE2M1Max, numeric::kE2M1Max);
      o[i] = std::copysign(numeric::e2m1_magnitude(numeric::e2m1_magnitude_index(std::fabs(t))), t) * back;
    }
  }
}

}  // namespace fp4gptq::nvfp4
