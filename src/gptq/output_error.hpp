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
// tr(ΔW H ΔWᵀ) = ‖E‖² − λ‖ΔW‖² (ΔW is 0 at dead columns).
class OutputErrors {
 public:
  // w: the original weight [rows, cols] (it must outlive this), scale_2 its global scale. When not enabled
  // nothing is computed and both errors stay 0.
  OutputErrors(bool enabled, const float* w, int64_t rows, int64_t cols, float scale_2)
      : enabled_(enabled), w_(w), rows_(rows), cols_(cols), scale_2_(scale_2) {}

  // W's and RTN's forms with the upper factor R [cols, cols] of one damping attempt (the last one taken
  // counts), in the processing order `perm`, with W zeroed at the `dead` columns.
  // stacked, row: scratch (2·rows·cols and cols floats).
  void take_forms(const linalg::Context& ctx, const float* r, const std::vector<uint8_t>& dead,
                  const std::vector<int64_t>& perm, std::vector<float>& stacked, std::vector<float>& row);

  // Sets res.rel_err and res.rtn_rel_err; res.q.dequant is GPTQ's result, err_sq its Σ err², lambda the
  // damping that worked, dead the columns take_forms saw.
  void finish(double err_sq, double lambda, const std::vector<uint8_t>& dead, GptqResult& res) const;

 private:
  bool enabled_;
  const float* w_;
  int64_t rows_, cols_;
  float scale_2_;
  double w_form_ = 0, rtn_form_ = 0;  // ‖W R‖², ‖ΔW_rtn R‖²
  double w_sq_ = 0, rtn_sq_ = 0, dead_sq_ = 0;  // ‖W‖² (dead columns 0), ‖ΔW_rtn‖², ‖ΔW_rtn[:, dead]‖²
};

}  // namespace fp4gptq::gptq
