#pragma once
// Step 3 of GPTQ, the column loop, in the layout that makes it fast; solver.cpp has the method around it.
#include <cstdint>
#include <vector>

#include "linalg/context.hpp"

namespace fp4gptq::gptq {

// What the loop reads and writes. Columns are in processing order (act-order permutes them); block scales
// stay in the original column order, as stored.
struct ColumnLoop {
  float* wt;       // Wᵀ [n, rows]: column j of W is row j here, contiguous; error-updated in place
  const float* u;  // Hinv [n, n]: the upper Cholesky factor of H⁻¹, in processing order
  int64_t rows, n;
  int64_t block_size;   // lazy-batch width (a multiple of 16)
  const int64_t* perm;  // processing column j is original column perm[j]
  bool static_scales;   // read each block's scale from `scales`, or set it when the loop reaches the block
  uint8_t* scales;      // [rows, n/16] FP8 E4M3 block-scale bytes
  float scale_2;
  uint8_t* codes;  // [rows, n] outputs: E2M1 codes and dequantized values, in the original column order
  float* values;
  bool search_scales = false;  // dynamic scales: the candidate with the smallest in-block GPTQ loss
};

// The loop's scratch, kept across solves (see Workspace): a lazy batch's scaled errors, each row's effective
// scale, and one sub-block's codes and values before they go to their rows.
struct ColumnLoopScratch {
  std::vector<float> err, eff, values;
  std::vector<uint8_t> codes;
};

// Quantizes every column and returns Σ err² over all of them (err = (w − q) / Hinv_jj; AutoGPTQ's loss is half
// of it).
double run_column_loop(const linalg::Context& ctx, const ColumnLoop& loop, ColumnLoopScratch& scratch);

}  // namespace fp4gptq::gptq
