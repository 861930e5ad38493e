#include "nvfp4/scale_search.hpp"

#include "nvfp4/scale_rules.hpp"

namespace fp4gptq::nvfp4 {

int scale_candidates(uint8_t code, uint8_t* out) {
  const float v = numeric::e4m3_to_f32(code);
  if (!(v > 0.0f)) {
    out[0] = code;
    return 1;
  }
  // Positive E4M3 codes 0x01 .. 0x7E are ordered by value (0x7F is NaN).
  int lo = code, hi = code;
  while (lo > 1 && numeric::e4m3_to_f32(static_cast<uint8_t>(lo - 1)) >= kSearchLow * v) --lo;
  while (hi < 0x7E && numeric::e4m3_to_f32(static_cast<uint8_t>(hi + 1)) <= kSearchHigh * v) ++hi;
  int n = 0;
  for (int c = lo; c <= hi && n < kMaxCandidates; ++c) out[n++] = static_cast<uint8_t>(c);
  return n;
}

uint8_t mse_block_scale(const float* x, float block_amax, float scale_2) {
  const uint8_t rule = block_scale_code(block_amax, scale_2);
  if (block_amax == 0.0f) return rule;
  uint8_t cand[kMaxCandidates];
  const int n = scale_candidates(rule, cand);
  auto error = [&](uint8_t c) {
    const float eff = effective_scale(c, scale_2);
    double e = 0;
    for (int i = 0; i < kBlockSize; ++i) {
      float q;
      quantize_value(x[i], eff, &q);
      e += (static_cast<double>(x[i]) - q) * (static_cast<double>(x[i]) - q);
    }
    return e;
  };
  uint8_t best = rule;
  double best_err = error(rule);
  for (int k = 0; k < n; ++k) {
    if (cand[k] == rule) continue;
    const double e = error(cand[k]);
    if (e < best_err) best = cand[k], best_err = e;
  }
  return best;
}

}  // namespace fp4gptq::nvfp4
