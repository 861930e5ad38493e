#pragma once
// Block-scale search (docs/DESIGN.md §4b): instead of the amax rule's FP8 block scale, the FP8 code within
// [0.75, 1.25]× of it that gives the block the smallest error. The format is unchanged: only which FP8 byte a
// block stores differs, so every reader decodes it as before. The error is the plain squared error here
// (round-to-nearest, and GPTQ's static scales); GPTQ's dynamic scales weigh it by the solver's loss
// (gptq/column_loop.cpp).
#include <cstdint>

namespace fp4gptq::nvfp4 {

enum class BlockScaleSearch {
  None,  // the amax rule (ModelOpt's, bit-compatible)
  Mse,   // the candidate with the smallest error
};

// How a run picks its scales: the block-scale search and K of scale_2 = amax / (6·K) (448: ModelOpt's rule;
// smaller K leaves the FP8 block scales headroom above the amax rule, as ModelOpt's "four over six" recipe).
struct ScaleRule {
  BlockScaleSearch search = BlockScaleSearch::None;
  float scale2_max = 448.0f;
  bool is_default() const { return search == BlockScaleSearch::None && scale2_max == 448.0f; }
};

// "none" or "mse", as quantize_config.json and the CLI spell it.
inline const char* search_name(BlockScaleSearch s) { return s == BlockScaleSearch::Mse ? "mse" : "none"; }

constexpr float kSearchLow = 0.75f, kSearchHigh = 1.25f;
constexpr int kMaxCandidates = 16;

// The FP8 codes searched for a block whose amax rule gives `code`: finite positive codes with values in
// [0.75, 1.25]·fp8(code), ascending, `code` among them. Writes them to out (kMaxCandidates) and returns how many.
int scale_candidates(uint8_t code, uint8_t* out);

// Round-to-nearest of 16 values x with the candidate scale that minimises Σ (x − q)²; ties keep the amax
// rule's code. Returns the scale byte; block_amax == 0 gives the rule's 1.0.
uint8_t mse_block_scale(const float* x, float block_amax, float scale_2);

}  // namespace fp4gptq::nvfp4
