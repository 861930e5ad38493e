// The public API's side of docs/DESIGN.md §9: the cancellation hook stops a run and leaves nothing behind, and
// save_quantized never replaces the model it read, even one fp4gptq wrote and with overwrite.
#include <gtest/gtest.h>

#include <atomic>

#include "fp4gptq/fp4gptq.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;

class ApiSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    auto o = test::tiny_dense("Qwen3ForCausalLM");
    o.calib_samples = 4;
    tools::make_tiny_model(model(), o);
    fs::create_directories(work());
    cfg.quiet = true;
    cfg.work_dir = work();
  }
  fs::path model() const { return dir / "m"; }
  fs::path work() const { return dir / "work"; }
  test::ScratchDir dir;
  QuantizeConfig cfg;
};

TEST_F(ApiSafety, CancellationHookStopsTheRunAndRemovesItsStaging) {
  std::atomic<int> polls{0};
  cfg.cancelled = [&] { return ++polls > 20; };  // polled at every chunk, module and lazy batch
  auto lm = CausalLM::from_pretrained(model(), cfg);
  const auto examples = load_examples(model() / "calibration.jsonl", lm.vocab_size());
  EXPECT_THROW(lm.quantize(examples), Cancelled);
  EXPECT_GT(polls.load(), 20);
  EXPECT_TRUE(fs::is_empty(work())) << "the staging directory is removed";
  test::expect_error([&] { lm.save_quantized(dir / "q"); }, {"quantize() first"});
  EXPECT_FALSE(fs::exists(dir / "q"));
}

TEST_F(ApiSafety, SaveQuantizedNeverReplacesTheModelItRead) {
  ASSERT_TRUE(fs::exists(model() / ".fp4gptq-output")) << "make-tiny-model marks its output";
  const auto weights = test::read_text(model() / "model.safetensors");
  cfg.algorithm = Algorithm::RTN;
  auto lm = CausalLM::from_pretrained(model(), cfg);
  lm.quantize();
  test::expect_error([&] { lm.save_quantized(model(), /*overwrite=*/true); }, {"is the input"});
  test::expect_error([&] { lm.save_quantized(dir.path(), true); }, {"contains the input"});
  EXPECT_EQ(test::read_text(model() / "model.safetensors"), weights);
  lm.save_quantized(dir / "q");  // the staged checkpoint survives a refused save
  EXPECT_TRUE(fs::exists(dir / "q" / ".fp4gptq-output"));
}

}  // namespace
}  // namespace fp4gptq
