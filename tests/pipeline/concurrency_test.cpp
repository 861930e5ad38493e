// Two CausalLMs quantizing different models at the same time in one process, one on 1 thread and one on 2,
// write the bytes each writes alone: a run keeps its threads, scratch and backend state to itself.
#include <gtest/gtest.h>

#include <exception>
#include <thread>

#include "fp4gptq/fp4gptq.hpp"
#include "tests/pipeline/checkpoint_checks.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;

void quantize(const fs::path& model, const fs::path& out, const fs::path& work, int threads) {
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.work_dir = work;
  cfg.threads = threads;
  auto lm = CausalLM::from_pretrained(model, cfg);
  lm.quantize(load_examples(model / "calibration.jsonl", lm.vocab_size()));
  lm.save_quantized(out);
}

TEST(Concurrency, TwoModelsAtOnceWriteTheBytesOfEachAlone) {
  test::ScratchDir d;
  auto dense = test::tiny_dense("Qwen3ForCausalLM");
  dense.calib_samples = 8;
  dense.calib_seqlen = 48;
  tools::make_tiny_model(d / "dense", dense);
  auto moe = test::tiny_dense("Qwen3MoeForCausalLM");
  moe.experts_per_tok = 2;
  moe.calib_samples = 8;
  moe.calib_seqlen = 48;
  tools::make_tiny_model(d / "moe", moe);
  quantize(d / "dense", d / "dense-alone", d.path(), 1);
  quantize(d / "moe", d / "moe-alone", d.path(), 2);
  for (int round = 0; round < 3; ++round) {
    const auto a = d / ("dense-" + std::to_string(round)), b = d / ("moe-" + std::to_string(round));
    std::exception_ptr ea, eb;
    std::thread ta([&] {
      try {
        quantize(d / "dense", a, d.path(), 1);
      } catch (...) {
        ea = std::current_exception();
      }
    });
    std::thread tb([&] {
      try {
        quantize(d / "moe", b, d.path(), 2);
      } catch (...) {
        eb = std::current_exception();
      }
    });
    ta.join();
    tb.join();
    if (ea) std::rethrow_exception(ea);
    if (eb) std::rethrow_exception(eb);
    test::expect_same_safetensors(d / "dense-alone", a);
    test::expect_same_safetensors(d / "moe-alone", b);
  }
}

}  // namespace
}  // namespace fp4gptq
