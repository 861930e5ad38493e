#include "pipeline/spread_solve.hpp"

#include <algorithm>
#include <numeric>

#include "pipeline/solved_transfer.hpp"

namespace fp4gptq::pipeline {

std::vector<int> spread_over_ranks(const std::vector<const model::PlannedLinear*>& mods, int ranks) {
  std::vector<size_t> order(mods.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto size = [&](size_t i) { return mods[i]->out * mods[i]->in; };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return size(a) > size(b); });
  std::vector<int64_t> load(static_cast<size_t>(std::max(ranks, 1)), 0);
  std::vector<int> owner(mods.size(), 0);
  for (const size_t i : order) {
    const auto least = std::min_element(load.begin(), load.end());  // the first of equal loads
    owner[i] = static_cast<int>(least - load.begin());
    *least += size(i);
  }
  return owner;
}

std::vector<SolvedModule> solve_on_ranks(const dist::Communicator& comm, ModuleSolver& solver,
                                         const linalg::Context& ctx, gptq::Workspace& ws,
                                         const std::vector<const model::PlannedLinear*>& mods, const ModuleInput& in,
                                         TimeSplit& split) {
  if (comm.size() == 1) return solver.solve(ctx, ws, mods, in, split);
  const auto owner = spread_over_ranks(mods, comm.size());
  std::vector<bool> mine(mods.size());
  for (size_t i = 0; i < mods.size(); ++i) mine[i] = owner[i] == comm.rank();
  auto own = solver.solve(ctx, ws, mods, in, split, mine);  // the root writes its own here

  std::vector<SolvedModule> all(mods.size());
  for (int r = 0; r < comm.size(); ++r) {  // collective: in rank order
    std::vector<const model::PlannedLinear*> planned;
    std::vector<size_t> at;
    for (size_t i = 0; i < mods.size(); ++i)
      if (owner[i] == r) planned.push_back(mods[i]), at.push_back(i);
    if (planned.empty()) continue;
    std::vector<SolvedModule> got;
    if (r == comm.rank()) got = std::move(own);
    float amax = in.input_amax;
    const auto t = Clock::now();
    broadcast_solved(comm, r, planned, got, amax, solver);
    split.comm_s += since(t);
    for (size_t k = 0; k < got.size(); ++k) {
      if (r != comm.rank() && comm.is_root()) solver.write(got[k], amax, split);
      all[at[k]] = std::move(got[k]);
    }
  }
  return all;
}

}  // namespace fp4gptq::pipeline
