#pragma once
// Solved modules sent from the rank that solved them to every rank of a data-parallel run (docs/DESIGN.md §13):
// the quantized matrix (codes, FP8 block scales, scale_2) and the report row, so every rank can swap the weight
// in and the root can write and report it.
#include <vector>

#include "dist/communicator.hpp"
#include "pipeline/module_solver.hpp"

namespace fp4gptq::pipeline {

// Collective: `mods` (solved on rank `from`, whose planned modules are `planned` in order) become the same on
// every rank; input_amax travels with them. The weights as stored are not sent: `solver` rebuilds them from
// the codes and scales (bit for bit), a fifth of the bytes.
void broadcast_solved(const dist::Communicator& comm, int from, const std::vector<const model::PlannedLinear*>& planned,
                      std::vector<SolvedModule>& mods, float& input_amax, const ModuleSolver& solver);

}  // namespace fp4gptq::pipeline
