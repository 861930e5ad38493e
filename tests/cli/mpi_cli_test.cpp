// `mpirun -np N fp4gptq quantize` on the local machine (docs/DESIGN.md §13): for N = 2 and 3 (an uneven split) the
// checkpoint is byte-identical to one process's, the report has every rank's figures, each rank keeps only its
// shards' activations, and a rank that fails ends the job with its message, status 2 and no output.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

using test::cli;
using test::run_command;
namespace fs = std::filesystem;

#ifdef FP4GPTQ_MPIEXEC
// Loopback only, more ranks than cores allowed, and Open MPI's consent to run as root where CI does.
std::string mpirun(int n) {
  return fmt::format("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_tcp_if_include=lo "
                     "timeout 300 {} --oversubscribe --bind-to none -np {} ",
                     FP4GPTQ_MPIEXEC, n);
}

// 32 samples of 64 tokens in shards of two samples: 16 shards (8 + 8 over 2 ranks, 5 + 5 + 6 over 3).
std::string quantize_args(const std::string& model, const std::string& out) {
  return " quantize --quiet --threads 1 --shard-tokens 128 --model " + model + " --calib " + model +
         "/calibration.jsonl --out " + out;
}

std::string file(const fs::path& p) { return test::read_text(p); }

nlohmann::json modules_without_time(const fs::path& out) {
  auto r = nlohmann::json::parse(file(out / "quantization_report.json"));
  for (auto& [name, row] : r["modules"].items()) row.erase("time_s");
  return r["modules"];
}

class MpiQuantize : public ::testing::TestWithParam<const char*> {};

TEST_P(MpiQuantize, ByteIdenticalToOneProcessForTwoAndThreeRanks) {
  test::ScratchDir dir;
  const auto model = dir / "m";
  const std::string arch = GetParam();
  auto r = run_command(cli() + " make-tiny-model --layers 2 --arch " + arch + " --out " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + quantize_args(model.string(), (dir / "q1").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto one = nlohmann::json::parse(file(dir / "q1" / "quantization_report.json"));
  for (const int n : {2, 3}) {
    const auto out = dir / ("q" + std::to_string(n));
    r = run_command(mpirun(n) + cli() + quantize_args(model.string(), out.string()));
    ASSERT_EQ(r.status, 0) << r.output;
    for (const char* f : {"pseudo_quantized_model-4bit-16g.safetensors", "pseudo_quantized_model-4bit-16g_scales.safetensors",
                          "config.json", "quantize_config.json"})
      EXPECT_TRUE(file(dir / "q1" / f) == file(out / f)) << f << " differs at -np " << n;
    EXPECT_EQ(modules_without_time(dir / "q1"), modules_without_time(out)) << "report rows at -np " << n;
    const auto rep = nlohmann::json::parse(file(out / "quantization_report.json"));
    ASSERT_EQ(rep["ranks"].size(), static_cast<size_t>(n));
    EXPECT_FALSE(one.contains("ranks")) << "one process reports no ranks";
    int64_t tokens = 0;
    for (const auto& rank : rep["ranks"]) {
      tokens += rank["tokens"].get<int64_t>();
      EXPECT_GT(rank["bytes_sent"].get<uint64_t>(), 0u);
      EXPECT_GT(rank["peak_rss_bytes"].get<uint64_t>(), 0u);
    }
    EXPECT_EQ(tokens, 2048) << "every token on exactly one rank";
    EXPECT_EQ(rep["calibration"]["tokens"], 2048);
    if (n == 2) {  // 8 of 16 shards each: half the activations of one process
      const auto act = [](const nlohmann::json& rank) { return rank["activation_bytes_peak"].get<double>(); };
      const auto r1 = run_command(mpirun(1) + cli() + quantize_args(model.string(), (dir / "q1b").string()));
      ASSERT_EQ(r1.status, 0) << r1.output;
      const auto single = nlohmann::json::parse(file(dir / "q1b" / "quantization_report.json"));
      EXPECT_TRUE(file(dir / "q1" / "pseudo_quantized_model-4bit-16g.safetensors") ==
                  file(dir / "q1b" / "pseudo_quantized_model-4bit-16g.safetensors"))
          << "mpirun -np 1 is one process";
      EXPECT_FALSE(single.contains("ranks"));
      for (const auto& rank : rep["ranks"]) EXPECT_GT(act(rank), 0.0);
      EXPECT_EQ(act(rep["ranks"][0]), act(rep["ranks"][1])) << "an even split";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, MpiQuantize, ::testing::Values("Qwen3ForCausalLM", "Qwen3MoeForCausalLM"));

TEST(MpiFaults, AFailingRankEndsTheJobWithItsMessageAndNoOutput) {
  test::ScratchDir dir;
  const auto model = dir / "m";
  auto r = run_command(cli() + " make-tiny-model --layers 3 --arch Qwen3MoeForCausalLM --out " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const std::string mode : {"error", "oom", "kill"}) {
    const auto out = dir / ("q-" + mode);
    r = run_command("FP4GPTQ_TEST_FAULT=" + mode + ":1:1 " + mpirun(2) + cli() +
                    quantize_args(model.string(), out.string()));
    EXPECT_NE(r.status, 0) << mode << ": " << r.output;
    EXPECT_NE(r.status, 124) << mode << ": the other rank must not wait for ever";
    EXPECT_FALSE(fs::exists(out)) << mode << ": no output directory";
    if (mode == "error") {
      EXPECT_EQ(r.status, 2) << r.output;
      EXPECT_NE(r.output.find("rank 1 of 2: error: FP4GPTQ_TEST_FAULT: injected failure at layer 1"), std::string::npos)
          << r.output;
    }
    if (mode == "oom") {
      EXPECT_NE(r.output.find("rank 1 of 2: error: std::bad_alloc"), std::string::npos) << r.output;
    }
  }
  // The job's next run starts over and finishes.
  r = run_command(mpirun(2) + cli() + quantize_args(model.string(), (dir / "q-error").string()));
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(MpiFaults, OtherCommandsAndResumeAreRefusedOnSeveralRanks) {
  test::ScratchDir dir;
  const auto model = dir / "m";
  auto r = run_command(cli() + " make-tiny-model --layers 1 --out " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(mpirun(2) + cli() + " rtn --model " + model.string() + " --out " + (dir / "r").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("only `quantize` runs on several MPI ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "r"));
  r = run_command(mpirun(2) + cli() + quantize_args(model.string(), (dir / "q").string()) + " --resume");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("resume is not available on several MPI ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "q"));
}
#else
TEST(MpiQuantize, NeedsTheMpiBuild) { GTEST_SKIP() << "built without MPI (FP4GPTQ_MPI off or Open MPI not found)"; }
#endif

}  // namespace
}  // namespace fp4gptq
