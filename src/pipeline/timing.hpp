#pragma once
// Wall-clock timing of the pipeline's parts, with the FLOPs of each (docs/DESIGN.md §5 accounting for Hessians and
// solves), so a report can say where the time went and at what rate.
#include <chrono>

namespace fp4gptq::pipeline {

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct TimeSplit {
  double forward_s = 0, hessian_s = 0, solve_s = 0, io_s = 0;
  double forward_flops = 0, hessian_flops = 0, solve_flops = 0;
  double comm_s = 0;  // in collectives between ranks (waiting for the slowest included); part of the others' time
};

}  // namespace fp4gptq::pipeline
