// GPTQ benchmarks: Hessian accumulation (f32 and bf16 rows) and the solve, as achieved GFLOP/s beside this
// machine's sgemm and bf16-matmul peaks measured in the same run (counter `of_peak`). FLOP accounting of
// DESIGN §5: solve = out·in² + 4/3·in³; Hessian = 2·N·in² (the full XᵀX GEMM, though syrk skips half).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>

#include "gptq/exact_sum.hpp"
#include "gptq/hessian.hpp"
#include "gptq/solver.hpp"
#include "linalg/context.hpp"
#include "numeric/half.hpp"
#include "tools/tiny_model.hpp"

namespace {

using namespace fp4gptq;

const linalg::Context& ctx() {  // every core
  static const linalg::Context c;
  return c;
}

std::vector<float> randn(size_t n, const std::string& stream, double std = 1.0) {
  tools::NormalRng rng(42, stream);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(std * rng.next());
  return v;
}

template <typename F>
double best_seconds(F&& f, int reps = 3) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

struct Peaks {
  double sgemm = 0, bf16 = 0;  // GFLOP/s
};
const Peaks& peaks() {
  static const Peaks p = [] {
    const int64_t n = 4096;
    const auto a = randn(static_cast<size_t>(n * n), "a"), b = randn(static_cast<size_t>(n * n), "b");
    std::vector<float> c(static_cast<size_t>(n * n));
    std::vector<uint16_t> ab(a.size()), bb(b.size());
    numeric::f32_to_bf16(a.data(), ab.data(), a.size());
    numeric::f32_to_bf16(b.data(), bb.data(), b.size());
    const double flops = 2.0 * n * n * n;
    Peaks r;
    r.sgemm = flops /
              best_seconds([&] { ctx().sgemm(false, false, n, n, n, 1, a.data(), n, b.data(), n, 0, c.data(), n); }) /
              1e9;
    r.bf16 = flops /
             best_seconds([&] { ctx().bf16_gemm(false, false, n, n, n, ab.data(), bb.data(), c.data(), false); }) / 1e9;
    std::fprintf(stderr, "machine peaks (4096^3, best of 3): sgemm %.1f GFLOP/s, oneDNN bf16 matmul %.1f GFLOP/s\n",
                 r.sgemm, r.bf16);
    return r;
  }();
  return p;
}

void report(benchmark::State& state, double flops, double peak) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_GFLOP/s"] = peak;
  state.counters["flops_per_iter"] = flops;
}

void BM_PeakSgemm(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(peaks().sgemm);
  state.counters["GFLOP/s"] = peaks().sgemm;
}
BENCHMARK(BM_PeakSgemm)->Iterations(1);

void BM_PeakBf16Matmul(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(peaks().bf16);
  state.counters["GFLOP/s"] = peaks().bf16;
}
BENCHMARK(BM_PeakBf16Matmul)->Iterations(1);

// Hessian: N tokens of dimension `in`, added in batches of 2048 rows as the pipeline does.
void BM_HessianF32(benchmark::State& state) {
  const int64_t in = state.range(0), n = state.range(1);
  const auto x = randn(static_cast<size_t>(n * in), "x");
  for (auto _ : state) {
    gptq::HessianAccumulator acc(in);
    acc.add(ctx(), x.data(), n);
    benchmark::DoNotOptimize(acc.tokens());
  }
  report(state, 2.0 * n * in * in, peaks().sgemm);
}
BENCHMARK(BM_HessianF32)->Args({4096, 8192})->Args({11008, 4096})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_HessianBf16(benchmark::State& state) {
  const int64_t in = state.range(0), n = state.range(1);
  const auto x = randn(static_cast<size_t>(n * in), "x");
  std::vector<uint16_t> xb(x.size());
  numeric::f32_to_bf16(x.data(), xb.data(), x.size());
  for (auto _ : state) {
    gptq::HessianAccumulator acc(in);
    acc.add_bf16(ctx(), xb.data(), n);
    benchmark::DoNotOptimize(acc.tokens());
  }
  report(state, 2.0 * n * in * in, peaks().bf16);
}
BENCHMARK(BM_HessianBf16)->Args({4096, 8192})->Args({11008, 4096})->Unit(benchmark::kMillisecond)->UseRealTime();

// Shards' partial Hessians through the order-independent sum (gptq/exact_sum.hpp) and out as the FP32 matrix:
// what an input of several shards pays on top of the accumulation (one thread, as an expert worker). (One
// shard on one rank skips it: pipeline::ShardedHessian.) Counter: nanoseconds per upper-triangle entry and
// partial, the matrix's conversion included.
void BM_ExactSum(benchmark::State& state) {
  const int64_t in = state.range(0), parts = state.range(1);
  const auto part = randn(static_cast<size_t>(in * in), "h");
  for (auto _ : state) {
    gptq::ExactSum sum(in);
    for (int64_t p = 0; p < parts; ++p) sum.add(part.data());
    benchmark::DoNotOptimize(sum.matrix(1.0 / 4096).data());
  }
  const double entries = static_cast<double>(in * (in + 1) / 2 * parts);
  state.counters["ns_per_entry"] =
      benchmark::Counter(entries / 1e9, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ExactSum)->Args({2048, 1})->Args({2048, 8})->Unit(benchmark::kMillisecond)->UseRealTime();

// Solve of an [out, in] module with a correlated Hessian (low-rank activations plus noise).
// H of 2·in tokens with low-rank structure plus noise, as real inputs.
std::vector<float> bench_hessian(int64_t in) {
  const int64_t tokens = 2 * in, rank = 64;
  const auto z = randn(static_cast<size_t>(tokens * rank), "z"), a = randn(static_cast<size_t>(rank * in), "a");
  auto x = randn(static_cast<size_t>(tokens * in), "noise", 0.1);
  ctx().sgemm(false, false, tokens, in, rank, 1.0f, z.data(), rank, a.data(), in, 1.0f, x.data(), in);
  gptq::HessianAccumulator acc(in);
  acc.add(ctx(), x.data(), tokens);
  return acc.hessian(ctx());
}

void BM_Solve(benchmark::State& state) {
  const int64_t out = state.range(0), in = state.range(1);
  const auto w = randn(static_cast<size_t>(out * in), "w", 0.02);
  const auto h = bench_hessian(in);
  gptq::GptqConfig cfg;
  cfg.output_errors = state.range(2) != 0;
  if (state.range(2) == 2) cfg.output_error_rows = 0;  // every row: exact forms
  if (state.range(3)) cfg.scale_rule.search = nvfp4::BlockScaleSearch::Mse;
  gptq::Workspace ws;
  gptq::gptq_quantize(ctx(), ws, w.data(), out, in, h.data(), in, cfg, "warm-up");  // workspace pages faulted in once
  double rel = 0, rtn = 0;
  for (auto _ : state) {
    const auto r = gptq::gptq_quantize(ctx(), ws, w.data(), out, in, h.data(), in, cfg, "bench");
    rel = r.rel_err;
    rtn = r.rtn_rel_err;
  }
  report(state, static_cast<double>(out) * in * in + 4.0 / 3.0 * in * in * static_cast<double>(in), peaks().sgemm);
  state.counters["rel_err"] = rel;
  state.counters["rtn_rel_err"] = rtn;
}
// Third argument: 1 = with the output errors as the pipeline runs them (the forms of rel_err's denominator and
// RTN's on 256 rows), 2 = the same exact (the forms on every row: two out·in² triangular products), 0 = the
// GPTQ solve alone. Fourth: 1 = --block-scale-search mse.
BENCHMARK(BM_Solve)
    ->ArgNames({"out", "in", "output_errors", "mse"})
    ->Args({4096, 4096, 0, 0})
    ->Args({4096, 4096, 1, 0})
    ->Args({4096, 4096, 2, 0})
    ->Args({4096, 4096, 1, 1})
    ->Args({11008, 4096, 0, 0})
    ->Args({11008, 4096, 1, 0})
    ->Args({4096, 11008, 0, 0})
    ->Args({4096, 11008, 1, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

// q/k/v of a Qwen3-8B-sized layer ([4096, 1024, 1024] × 4096, one input): solved one by one, each factoring H
// (shared = 0), or as one group sharing the factorisation (shared = 1, what quantize does); output errors on.
void BM_SolveQkv(benchmark::State& state) {
  const int64_t in = 4096;
  const std::vector<int64_t> rows = {4096, 1024, 1024};
  const auto h = bench_hessian(in);
  std::vector<std::vector<float>> w;
  for (size_t m = 0; m < rows.size(); ++m)
    w.push_back(randn(static_cast<size_t>(rows[m] * in), "w" + std::to_string(m), 0.02));
  std::vector<gptq::GroupModule> group;
  for (size_t m = 0; m < rows.size(); ++m) group.push_back({w[m].data(), rows[m], gptq::GptqConfig{}, "m"});
  gptq::Workspace ws;
  auto run = [&] {
    if (state.range(0)) return gptq::gptq_quantize_group(ctx(), ws, group, in, h.data());
    std::vector<gptq::GptqResult> r;
    for (const auto& m : group)
      r.push_back(gptq::gptq_quantize(ctx(), ws, m.w, m.rows, in, h.data(), in, m.config, m.name));
    return r;
  };
  run();  // workspace pages faulted in once
  for (auto _ : state) benchmark::DoNotOptimize(run());
  double flops = 0;
  for (const auto r : rows) flops += static_cast<double>(r) * in * in + 4.0 / 3.0 * in * in * static_cast<double>(in);
  report(state, flops, peaks().sgemm);
}
BENCHMARK(BM_SolveQkv)
    ->ArgNames({"shared"})
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(2);

}  // namespace
