// Encode throughput of fp4gptq's tokenizer on a real text, the same measurement as
// bench/tokenizer/tokenizers_bench.mjs makes of the Hugging Face tokenizers library (bench/tokenizer/run.sh runs
// both side by side). Inputs from the environment:
//   FP4GPTQ_BENCH_TEXT        the text file (bench/tokenizer/make_bench_text.py writes one)
//   FP4GPTQ_BENCH_TOKENIZERS  comma-separated tokenizer.json or tokenizer.json.gz paths
// Two modes per tokenizer: "whole" (one encode of the whole file) and "chunks" (pieces of about 64 KB cut at line
// ends, encoded one after another). One warm-up encode first, as the library's run (it fills the BPE caches).
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace {

std::string read_file(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + path);
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    gzclose(f);
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The name of a tokenizer: its directory (tests/data/tokenizers/qwen3/tokenizer.json.gz -> qwen3).
std::string name_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return path;
  const auto prev = path.find_last_of('/', slash - 1);
  return path.substr(prev == std::string::npos ? 0 : prev + 1, slash - (prev == std::string::npos ? 0 : prev + 1));
}

std::vector<std::string> chunks_of(const std::string& text, size_t size) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + size);
    if (end < text.size()) {
      const size_t nl = text.find('\n', end);
      end = nl == std::string::npos ? text.size() : nl + 1;
    }
    out.push_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

void encode_bench(benchmark::State& state, std::shared_ptr<fp4gptq::tokenizer::Tokenizer> tok,
                  std::shared_ptr<std::vector<std::string>> pieces, int64_t bytes) {
  int64_t tokens = 0;
  for (const auto& p : *pieces) tokens += static_cast<int64_t>(tok->encode(p, false).size());  // warm-up
  for (auto _ : state) {
    int64_t n = 0;
    for (const auto& p : *pieces) n += static_cast<int64_t>(tok->encode(p, false).size());
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(tokens) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  const char* text_path = std::getenv("FP4GPTQ_BENCH_TEXT");
  const char* list = std::getenv("FP4GPTQ_BENCH_TOKENIZERS");
  if (!text_path || !list) {
    std::fprintf(stderr, "set FP4GPTQ_BENCH_TEXT=<text file> and FP4GPTQ_BENCH_TOKENIZERS=<tokenizer.json[.gz],...> "
                         "(bench/tokenizer/run.sh does)\n");
    return 2;
  }
  const auto text = read_file(text_path);
  const auto whole = std::make_shared<std::vector<std::string>>(1, text);
  const auto chunks = std::make_shared<std::vector<std::string>>(chunks_of(text, 65536));
  std::stringstream ss(list);
  std::string path;
  while (std::getline(ss, path, ',')) {
    if (path.empty()) continue;
    auto tok = std::make_shared<fp4gptq::tokenizer::Tokenizer>(
        fp4gptq::tokenizer::Tokenizer::from_json(read_file(path), path));
    const auto bytes = static_cast<int64_t>(text.size());
    benchmark::RegisterBenchmark(("encode/" + name_of(path) + "/whole").c_str(), encode_bench, tok, whole, bytes)
        ->Unit(benchmark::kMillisecond)->MinTime(2.0);
    benchmark::RegisterBenchmark(("encode/" + name_of(path) + "/chunks").c_str(), encode_bench, tok, chunks, bytes)
        ->Unit(benchmark::kMillisecond)->MinTime(2.0);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
