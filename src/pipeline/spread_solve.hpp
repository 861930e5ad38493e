#pragma once
// The modules of one dense group spread over the ranks of a data-parallel run (docs/DESIGN.md §13): every rank
// holds the group's summed Hessian; each module is solved on one rank and sent to all, so q/k/v (and gate/up)
// are solved side by side. A module's result does not depend on which rank solves it, or with which others
// (GPTQ solves each module of one input on the same factor of H on its own), so the output is the same for
// every rank count.
#include <vector>

#include "dist/communicator.hpp"
#include "pipeline/module_solver.hpp"

namespace fp4gptq::pipeline {

// The rank that solves each of `mods`: the largest (out·in) first, each onto the least loaded rank (the
// longest-processing-time rule), ties to the lower rank and, for equal sizes, the earlier module first.
std::vector<int> spread_over_ranks(const std::vector<const model::PlannedLinear*>& mods, int ranks);

// Collective: solves `mods` (which read the input `in`) spread over the ranks, written by the root; every
// rank returns all of them in order, with the weights as stored.
std::vector<SolvedModule> solve_on_ranks(const dist::Communicator& comm, ModuleSolver& solver,
                                         const linalg::Context& ctx, gptq::Workspace& ws,
                                         const std::vector<const model::PlannedLinear*>& mods, const ModuleInput& in,
                                         TimeSplit& split);

}  // namespace fp4gptq::pipeline
