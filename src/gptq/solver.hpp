#pragma once
// GPTQ (Frantar et al. 2022, AutoGPTQ's fasterquant) with the NVFP4 quantizer, exactly as docs/DESIGN.md §5: dead
// columns, damping with automatic retry and RTN fallback, Hinv = upper Cholesky factor of H⁻¹, lazy column
// blocks with the trailing update as one GEMM, dynamic or static block scales, act-order (desc_act).
#include <cstdint>
#include <string>
#include <vector>

#include "gptq/column_loop.hpp"
#include "gptq/gptq_config.hpp"
#include "gptq/output_error.hpp"
#include "gptq/result.hpp"
#include "linalg/context.hpp"

namespace fp4gptq::gptq {

// Large buffers of one solve, kept by the caller across calls (one per worker thread): on VMs a fresh page
// costs ~2 µs to fault in, which for a 4096×4096 module would add a quarter of the solve time.
struct Workspace {
  std::vector<float> wm;   // W with dead columns zeroed, original order
  std::vector<float> hd;   // H with the dead-column fix, processing order
  std::vector<float> u;    // Hinv
  std::vector<float> big;  // [W; ΔW_rtn]·R of the output errors' rows, then Wᵀ
  std::vector<float> row;  // one weight row (round-to-nearest for the output errors)
  ColumnLoopScratch loop;  // the column loop's scratch
};

// Quantizes w [rows, cols] with the Hessian h [h_dim, h_dim] (full symmetric, FP32). `name` names the module
// in errors: h_dim != cols, cols % 16 != 0, non-finite values in w or h, and invalid options are rejected.
GptqResult gptq_quantize(const linalg::Context& ctx, Workspace& ws, const float* w, int64_t rows, int64_t cols,
                         const float* h, int64_t h_dim, const GptqConfig& config, const std::string& name);

// One module of a group that reads one input, for gptq_quantize_group: its weight [rows, cols], its
// configuration (scale_2 set: fused groups share one) and its name.
struct GroupModule {
  const float* w = nullptr;
  int64_t rows = 0;
  GptqConfig config;
  std::string name;
};

// The modules of one input (q/k/v; gate/up; an expert's gate/up) with their shared Hessian h [cols, cols]:
// the part of GPTQ that depends on H alone — dead columns, processing order, the damped Cholesky
// factorisation and its inverse, with the retries — runs once for all of them (their act-order, damping and
// output-error options must agree), then each module's column loop. Each result equals gptq_quantize's of
// that module alone; seconds[i] gets module i's time, the factorisation shared by rows.
std::vector<GptqResult> gptq_quantize_group(const linalg::Context& ctx, Workspace& ws,
                                            const std::vector<GroupModule>& modules, int64_t cols, const float* h,
                                            std::vector<double>* seconds = nullptr);

}  // namespace fp4gptq::gptq
