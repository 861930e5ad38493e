#pragma once
// The output errors GPTQ reports per module (docs/DESIGN.md §5): rel_err = tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), comparable
// across modules, for GPTQ and for round-to-nearest on the same H and scale_2, so that every module shows
// what GPTQ gained.
#include <cstdint>
#include <string>
#include <vector>

#include "gptq/result.hpp"
#include "linalg/context.hpp"

namespace fp4gptq::gptq {

// tr(A H Aᵀ) for A [rows, cols] and H [cols, cols] by a GEMM (the reference definition; used by tests and
// for the fallback path).
double quadratic_form_trace(const linalg::Context& ctx, const float* a, int64_t rows, int64_t cols, const float* h);

// Round-to-nearest of w on scale_2 (block scales by `search`) as a GPTQ result: fallback set, `why` as its
// note, rel_err its relative output error on H (0 when tr(W H Wᵀ) is 0) and rtn_rel_err the amax rule's
// round-to-nearest's (the same without search). What a module gets when GPTQ cannot or must not run.
GptqResult rtn_result(const linalg::Context& ctx, const float* w, int64_t rows, int64_t cols, const float* h,
                      float scale_2, const std::string& name, const std::string& why,
                      nvfp4::BlockScaleSearch search = nvfp4::BlockScaleSearch::None);

// The output errors of one GPTQ solve, without a product by H. With Hd + λI = R Rᵀ (Hd: H with 1 on the
// dead diagonals, in processing order), tr(A H Aᵀ) = ‖A R‖² − λ‖A‖² − ‖A[:, dead]‖²: W's form (W is 0 at dead
// columns) and RTN's come from one triangular product of the stacked [W; ΔW_rtn], taken while R is at hand.
// GPTQ's own needs no product: ΔW = E·U (E the scaled errors, U = R⁻¹), so ΔW (Hd + λI) ΔWᵀ = E Eᵀ and
// tr(ΔW H ΔWᵀ) = ‖E‖² − λ‖ΔW‖² (ΔW is 0 at dead columns), exact always.
// With `sample_rows` < rows, the product takes that many evenly spaced rows only (1/16 of the cost for 4096
// rows at the default 256): tr(W H Wᵀ) is then the ratio estimate C · Σₛ f_r / Σₛ c_r, f_r row r's form and c_r
// = Σ_i (Hd + λI)_ii W_ri² its diagonal part (C over every row, cheap), and rtn_rel_err the ratio Σₛ g_r / Σₛ f_r
// of RTN's row forms g_r to W's on the same rows (Cochran, Sampling Techniques, ch. 6: both ratios vary far
// less from row to row than the forms do).
class OutputErrors {
 public:
  // w: the original weight [rows, cols] (it must outlive this), scale_2 its global scale. When not enabled
  // nothing is computed and both errors stay 0.
  OutputErrors(bool enabled, const float* w, int64_t rows, int64_t cols, float scale_2, int64_t sample_rows = 0)
      : enabled_(enabled), w_(w), rows_(rows), cols_(cols), scale_2_(scale_2), sample_rows_(sample_rows) {}

  // W's and RTN's forms with the upper factor R [cols, cols] of one damping attempt (the last one taken
  // counts), in the processing order `perm`, with W zeroed at the `dead` columns.
  // stacked, row: scratch (2·rows·cols and cols floats).
  void take_forms(const linalg::Context& ctx, const float* r, const std::vector<uint8_t>& dead,
                  const std::vector<int64_t>& perm, std::vector<float>& stacked, std::vector<float>& row);

  // Sets res.rel_err, res.rtn_rel_err and res.error_rows; res.q.dequant is GPTQ's result, err_sq its Σ err²,
  // lambda the damping that worked, dead the columns take_forms saw.
  void finish(double err_sq, double lambda, const std::vector<uint8_t>& dead, GptqResult& res) const;

 private:
  bool enabled_;
  const float* w_;
  int64_t rows_, cols_;
  float scale_2_;
  int64_t sample_rows_;
  int64_t taken_ = 0;  // rows in the forms below
  // ‖W R‖², ‖ΔW_rtn R‖², ‖W‖² (dead columns 0), ‖ΔW_rtn‖², ‖ΔW_rtn[:, dead]‖²: weighted sums over the rows taken
  double w_form_ = 0, rtn_form_ = 0, w_sq_ = 0, rtn_sq_ = 0, dead_sq_ = 0;
};

}  // namespace fp4gptq::gptq
