// NVFP4 round-to-nearest throughput (GB/s of FP32 input) and the fp16/bf16 conversions around it.
#include <benchmark/benchmark.h>

#include <vector>

#include "numeric/half.hpp"
#include "nvfp4/quantizer.hpp"
#include "tools/tiny_model.hpp"

namespace {

std::vector<float> random_matrix(int64_t rows, int64_t cols) {
  fp4gptq::tools::NormalRng rng(1, "bench");
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(rng.next() * 0.02);
  return w;
}

void BM_QuantizeRtn(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const auto w = random_matrix(rows, cols);
  for (auto _ : state) {
    auto q = fp4gptq::nvfp4::quantize_rtn(w.data(), rows, cols);
    benchmark::DoNotOptimize(q.codes.data());
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * 4);
}
BENCHMARK(BM_QuantizeRtn)->Args({4096, 4096})->Args({11008, 4096})->Args({4096, 11008})->Unit(benchmark::kMillisecond);

void BM_QuantizeRowKernel(benchmark::State& state) {  // one row at a time, outputs preallocated
  const int64_t cols = state.range(0);
  const auto w = random_matrix(64, cols);
  std::vector<uint8_t> codes(cols), scales(cols / 16);
  std::vector<float> deq(cols);
  int64_t r = 0;
  for (auto _ : state) {
    fp4gptq::nvfp4::quantize_row_rtn(&w[(r++ % 64) * cols], cols, 0.001f, codes.data(), scales.data(), deq.data());
    benchmark::DoNotOptimize(deq.data());
  }
  state.SetBytesProcessed(state.iterations() * cols * 4);
}
BENCHMARK(BM_QuantizeRowKernel)->Arg(4096);

void BM_F32ToF16(benchmark::State& state) {
  const auto w = random_matrix(1, state.range(0));
  std::vector<uint16_t> out(w.size());
  for (auto _ : state) {
    fp4gptq::numeric::f32_to_f16(w.data(), out.data(), w.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * w.size() * 4);
}
BENCHMARK(BM_F32ToF16)->Arg(1 << 22);

void BM_BF16ToF32(benchmark::State& state) {
  std::vector<uint16_t> in(static_cast<size_t>(state.range(0)), 0x3c00);
  std::vector<float> out(in.size());
  for (auto _ : state) {
    fp4gptq::numeric::bf16_to_f32(in.data(), out.data(), in.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * in.size() * 2);
}
BENCHMARK(BM_BF16ToF32)->Arg(1 << 22);

}  // namespace
