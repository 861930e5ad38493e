// The column loop of GPTQ (Frantar et al. 2022, Algorithm 1). For each lazy batch [i1, i2) of B columns:
//
//   for j in [i1, i2):
//     Q[:, j] = quant(W[:, j])
//     E[:, j] = (W[:, j] − Q[:, j]) / U[j, j]
//     W[:, j+1:i2] −= E[:, j] · U[j, j+1:i2]
//   W[:, i2:] −= E[:, i1:i2] · U[i1:i2, i2:]        (one GEMM)
//
// with U = Hinv, the upper Cholesky factor of H⁻¹. The layout that makes it fast: W is held transposed, so a
// column is contiguous and each update inside the batch is an axpy; the batch is cut into sub-blocks of 16
// columns (one NVFP4 block without act-order), with rank-1 updates only inside a sub-block, which then
// updates the rest of its batch with one small GEMM. Rows never interact, so each thread runs the whole loop on
// its own range of rows.
#include "gptq/column_loop.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "linalg/parallel.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/simd.hpp"
#include "nvfp4/scale_rules.hpp"
#include "nvfp4/scale_search.hpp"

namespace fp4gptq::gptq {

namespace {

using nvfp4::kBlockSize;

// Quantizes one column (n rows, each with its own effective scale) and returns Σ err² where
// err = (w − q) / d is also written out for the error propagation.
FP4GPTQ_SIMD_CLONES float quantize_column(const float* w, const float* eff, int64_t n, float d, uint8_t* codes,
                                          float* q, float* err) {
  float loss = 0.0f;
  for (int64_t r = 0; r < n; ++r) {
    codes[r] = nvfp4::quantize_value(w[r], eff[r], &q[r]);
    const float e = (w[r] - q[r]) / d;
    err[r] = e;
    loss += e * e;
  }
  return loss;
}

// The block-scale search (docs/DESIGN.md §4b) of rows [r0, r0 + nt) (nt ≤ kSearchTile) of the block
// [s1, s1 + 16): for each candidate around a row's amax-rule code, GPTQ's loss of the block alone — quantize
// column i, e_i = (w_i − q_i) / U_ii, w_j −= e_i U_ij for the later columns j of the block — and the code with
// the smallest Σ e_i² (ties keep the rule, then the smaller code). Candidates are taken by their offset from
// the rule's code, so each step runs across the tile's rows, which are contiguous in wt. Writes best[].
constexpr int64_t kSearchTile = 64;
constexpr int kMaxOffset = 6;  // the window [0.75, 1.25]× spans at most 4 codes below and 2 above

FP4GPTQ_SIMD_CLONES void searched_scales(const float* wt, int64_t rows, const float* u, int64_t n, int64_t r0,
                                         int64_t nt, float scale_2, const float* amax, uint8_t* best) {
  float x[kBlockSize][kSearchTile], eff[kSearchTile], loss[kSearchTile], best_loss[kSearchTile], v0[kSearchTile];
  uint8_t rule[kSearchTile];
  bool valid[kSearchTile];
  for (int64_t r = 0; r < nt; ++r) {
    rule[r] = best[r] = nvfp4::block_scale_code(amax[r], scale_2);
    v0[r] = numeric::e4m3_to_f32(rule[r]);
  }
  for (int k = 0; k <= 2 * kMaxOffset; ++k) {  // offset 0 (the rule) first, then ascending codes
    const int off = k == 0 ? 0 : k <= kMaxOffset ? k - kMaxOffset - 1 : k - kMaxOffset;
    bool any = false;
    for (int64_t r = 0; r < nt; ++r) {
      const int c = rule[r] + off;
      const float v = c >= 1 && c <= 0x7E ? numeric::e4m3_to_f32(static_cast<uint8_t>(c)) : 0.0f;
      valid[r] = amax[r] > 0.0f && v0[r] > 0.0f && c >= 1 && c <= 0x7E && v >= nvfp4::kSearchLow * v0[r] &&
                 v <= nvfp4::kSearchHigh * v0[r];
      eff[r] = valid[r] ? v * scale_2 : 1.0f;
      any |= valid[r];
    }
    if (!any) continue;
    for (int64_t j = 0; j < kBlockSize; ++j)
      for (int64_t r = 0; r < nt; ++r) x[j][r] = wt[j * rows + r0 + r];
    for (int64_t r = 0; r < nt; ++r) loss[r] = 0.0f;
    for (int64_t i = 0; i < kBlockSize; ++i) {
      const float d = u[i * n + i];
      for (int64_t r = 0; r < nt; ++r) {  // nvfp4::quantize_value's value, without its branches (eff > 0 here)
        const float v = x[i][r] / eff[r];
        const float q = std::copysign(numeric::e2m1_magnitude(numeric::e2m1_magnitude_index(std::fabs(v))), v) * eff[r];
        const float e = (x[i][r] - q) / d;
        loss[r] += e * e;
        x[i][r] = e;
      }
      for (int64_t j = i + 1; j < kBlockSize; ++j) {
        const float uij = u[i * n + j];
        for (int64_t r = 0; r < nt; ++r) x[j][r] -= x[i][r] * uij;
      }
    }
    for (int64_t r = 0; r < nt; ++r) {
      if (!valid[r]) continue;
      if (off == 0) {
        best_loss[r] = loss[r];
      } else if (loss[r] < best_loss[r]) {
        best_loss[r] = loss[r];
        best[r] = static_cast<uint8_t>(rule[r] + off);
      }
    }
  }
}

// Dynamic block scales of the block [s1, s2) for rows [r0, r1), from its current, error-updated weights
// (exact: the updates of every earlier column have reached it). Writes the scale bytes and eff[r].
void dynamic_scales(const ColumnLoop& L, int64_t s1, int64_t s2, int64_t r0, int64_t r1, float* eff) {
  const float* wt = L.wt;  // locals: the byte stores below could alias L's fields
  const int64_t rows = L.rows, nb = L.n / kBlockSize, b = nvfp4::block_index(s1);
  const float scale_2 = L.scale_2;
  uint8_t* scales = L.scales;
  if (L.search_scales) {
    float amax[kSearchTile];
    uint8_t best[kSearchTile];
    for (int64_t t0 = r0; t0 < r1; t0 += kSearchTile) {
      const int64_t nt = std::min(kSearchTile, r1 - t0);
      std::fill_n(amax, nt, 0.0f);
      for (int64_t j = s1; j < s2; ++j)
        for (int64_t r = 0; r < nt; ++r) amax[r] = std::max(amax[r], std::fabs(wt[j * rows + t0 + r]));
      searched_scales(wt + s1 * rows, rows, &L.u[s1 * L.n + s1], L.n, t0, nt, scale_2, amax, best);
      for (int64_t r = 0; r < nt; ++r) {
        scales[(t0 + r) * nb + b] = best[r];
        eff[t0 + r] = nvfp4::effective_scale(best[r], scale_2);
      }
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    float amax = 0;
    for (int64_t j = s1; j < s2; ++j) amax = std::max(amax, std::fabs(wt[j * rows + r]));
    const uint8_t sc = nvfp4::block_scale_code(amax, scale_2);
    scales[r * nb + b] = sc;
    eff[r] = nvfp4::effective_scale(sc, scale_2);
  }
}

// The columns [s1, s2) of the batch starting at i1, for rows [r0, r1): quantize each column, then the rank-1
// updates of the columns after it in the sub-block; the codes and values then go to their rows. Adds Σ err²
// to err_sq.
void sub_block_rows(const linalg::Context& ctx, const ColumnLoop& L, int64_t i1, int64_t s1, int64_t s2, int64_t r0,
                    int64_t r1, ColumnLoopScratch& s, double& err_sq) {
  const int64_t rows = L.rows, n = L.n, nb = n / kBlockSize;
  float* wt = L.wt;
  float* eff = s.eff.data();
  const float* u = L.u;
  if (!L.static_scales) dynamic_scales(L, s1, s2, r0, r1, eff);
  for (int64_t i = s1; i < s2; ++i) {
    if (L.static_scales) {
      const int64_t g = nvfp4::block_index(L.perm[i]);
      const uint8_t* scales = L.scales;
      const float scale_2 = L.scale_2;
      for (int64_t r = r0; r < r1; ++r) eff[r] = nvfp4::effective_scale(scales[r * nb + g], scale_2);
    }
    float* e = &s.err[(i - i1) * rows];
    const int64_t t = (i - s1) * rows + r0;
    err_sq += quantize_column(&wt[i * rows + r0], eff + r0, r1 - r0, u[i * n + i], &s.codes[t], &s.values[t], e + r0);
    for (int64_t j = i + 1; j < s2; ++j) ctx.axpy(r1 - r0, -u[i * n + j], e + r0, &wt[j * rows + r0]);
  }
  // The sub-block's columns, held column by column, into rows [r0, r1) of the outputs at their original columns
  // (while they are still in cache).
  const uint8_t* codes = s.codes.data();
  const float* values = s.values.data();
  const int64_t* perm = L.perm;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t i = s1; i < s2; ++i) {
      L.codes[r * n + perm[i]] = codes[(i - s1) * rows + r];
      L.values[r * n + perm[i]] = values[(i - s1) * rows + r];
    }
}

// The whole loop for rows [r0, r1): rows never interact in GPTQ (H is shared, the updates are row by row), so
// a row range runs start to finish on its own thread with no synchronisation. Returns its Σ err².
double row_range_loop(const linalg::Context& ctx, const ColumnLoop& L, int64_t r0, int64_t r1, ColumnLoopScratch& s) {
  const int64_t rows = L.rows, n = L.n, bs = L.block_size, nr = r1 - r0;
  const float* err = s.err.data();
  double err_sq = 0;
  for (int64_t i1 = 0; i1 < n; i1 += bs) {
    ctx.check_cancelled();
    const int64_t i2 = std::min(i1 + bs, n);
    for (int64_t s1 = i1; s1 < i2; s1 += kBlockSize) {
      const int64_t s2 = std::min(s1 + kBlockSize, i2);
      sub_block_rows(ctx, L, i1, s1, s2, r0, r1, s, err_sq);
      // W[:, s2:i2] −= E[:, s1:s2] · U[s1:s2, s2:i2]   (transposed)
      ctx.sgemm(true, false, i2 - s2, nr, s2 - s1, -1.0f, &L.u[s1 * n + s2], n, &err[(s1 - i1) * rows + r0], rows, 1.0f,
                &L.wt[s2 * rows + r0], rows);
    }
    // The lazy-batch update: W[:, i2:] −= E[:, i1:i2] · U[i1:i2, i2:]   (transposed)
    ctx.sgemm(true, false, n - i2, nr, i2 - i1, -1.0f, &L.u[i1 * n + i2], n, err + r0, rows, 1.0f,
              &L.wt[i2 * rows + r0], rows);
  }
  return err_sq;
}

}  // namespace

double run_column_loop(const linalg::Context& ctx, const ColumnLoop& L, ColumnLoopScratch& scratch) {
  const int64_t rows = L.rows;
  scratch.err.resize(static_cast<size_t>(L.block_size * rows));
  scratch.eff.resize(static_cast<size_t>(rows));
  scratch.values.resize(static_cast<size_t>(kBlockSize * rows));
  scratch.codes.resize(static_cast<size_t>(kBlockSize * rows));
  // One row range per thread (ranges of ≥ 256 rows, boundaries on 64 rows), each with one-thread BLAS: the
  // sub-blocks' quantization then runs on every core with no BLAS worker spinning beside it, and no thread
  // waits for another between sub-blocks. A module too small to split runs on ctx's BLAS threads.
  const int64_t ranges = std::clamp<int64_t>(rows / 256, 1, ctx.threads());
  if (ranges == 1) return row_range_loop(ctx, L, 0, rows, scratch);
  auto bound = [&](int64_t k) { return k == ranges ? rows : rows * k / ranges / 64 * 64; };
  std::vector<double> err_sq(static_cast<size_t>(ranges), 0.0);  // per row range, summed in order
  linalg::parallel_tasks(ctx, ranges, [&](int64_t k, int, const linalg::Context& single) {
    err_sq[k] = row_range_loop(single, L, bound(k), bound(k + 1), scratch);
  });
  return std::accumulate(err_sq.begin(), err_sq.end(), 0.0);
}

}  // namespace fp4gptq::gptq
