// safetensors read throughput: a 512 MiB BF16 file of 64 tensors, read through the mmap and converted to
// FP32 tensor by tensor, pages released after each (as the pipeline does). First iteration reads from disk
// or the page cache; later ones from the page cache. Bytes counted are file bytes.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "io/safetensors_reader.hpp"
#include "io/safetensors_writer.hpp"

namespace {

namespace fs = std::filesystem;
using fp4gptq::io::SafetensorsFile;

const fs::path& bench_file() {
  static const fs::path path = [] {
    const fs::path p = fs::temp_directory_path() / ("fp4gptq-bench-" + std::to_string(::getpid()) + ".safetensors");
    std::vector<fp4gptq::io::TensorSpec> specs;
    for (int i = 0; i < 64; ++i)
      specs.push_back({"t" + std::to_string(i), fp4gptq::numeric::DType::BF16, {2048, 2048}});
    fp4gptq::io::SafetensorsWriter w(p, specs);
    std::vector<uint16_t> data(2048 * 2048);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint16_t>(0x3c00 + (i * 2654435761u >> 24));
    for (const auto& s : specs) w.write(s.name, data.data(), data.size() * 2);
    w.finish();
    std::atexit([] { fs::remove(bench_file()); });
    return p;
  }();
  return path;
}

void BM_OpenAndValidate(benchmark::State& state) {
  const fs::path& path = bench_file();  // created before timing starts
  for (auto _ : state) {
    SafetensorsFile f(path);
    benchmark::DoNotOptimize(f.tensors().data());
  }
}
BENCHMARK(BM_OpenAndValidate)->Unit(benchmark::kMicrosecond);

void BM_ReadAllToF32(benchmark::State& state) {
  SafetensorsFile f(bench_file());
  std::vector<float> buf(2048 * 2048);
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (const auto& t : f.tensors()) {
      f.read_f32(t, 0, t.numel(), buf.data());
      f.release(t);
      bytes += t.nbytes();
    }
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ReadAllToF32)->Unit(benchmark::kMillisecond);

}  // namespace
