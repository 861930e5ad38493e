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
  return fmt::format(
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_tcp_if_include=lo "
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
    for (const char* f : {"pseudo_quantized_model-4bit-16g.safetensors",
                          "pseudo_quantized_model-4bit-16g_scales.safetensors", "config.json", "quantize_config.json"})
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
    int64_t solved = 0;
    for (const auto& rank : rep["ranks"]) solved += rank["modules_solved"].get<int64_t>();
    EXPECT_EQ(solved, static_cast<int64_t>(rep["modules"].size())) << "every module solved on exactly one rank";
    if (arch == "Qwen3ForCausalLM") {  // per layer, largest first onto the least loaded rank (sizes out·in):
      // q 16384, k 8192, v 8192, o 16384, gate 32768, up 32768, down 32768; -np 2: q o gate down | k v up;
      // -np 3: q o gate down | k up | v.
      const std::vector<int64_t> want = n == 2 ? std::vector<int64_t>{8, 6} : std::vector<int64_t>{8, 4, 2};
      for (int k = 0; k < n; ++k) EXPECT_EQ(rep["ranks"][k]["modules_solved"], want[k]) << "rank " << k << " of " << n;
    }
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

TEST(MpiFaults, OtherCommandsAreRefusedOnSeveralRanks) {
  test::ScratchDir dir;
  const auto model = dir / "m";
  auto r = run_command(cli() + " make-tiny-model --layers 1 --out " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(mpirun(2) + cli() + " rtn --model " + model.string() + " --out " + (dir / "r").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("only `quantize` runs on several MPI ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "r"));
}

// A rank killed in layer 2 of 3: every rank's activations after layer 2 were checkpointed and journaled, so
// `--resume` on as many ranks continues there and ends byte-identical to one uninterrupted process; on
// another rank count it is refused, naming the change, and leaves the staging directory as it was.
TEST(MpiFaults, AKilledJobResumesOnAsManyRanks) {
  test::ScratchDir dir;
  const auto model = dir / "m";
  auto r = run_command(cli() + " make-tiny-model --layers 3 --arch Qwen3MoeForCausalLM --out " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + quantize_args(model.string(), (dir / "one").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  const auto out = dir / "q";
  const auto staging = dir / "q.fp4gptq-staging";
  r = run_command("FP4GPTQ_TEST_FAULT=kill:1:2 " + mpirun(2) + cli() + quantize_args(model.string(), out.string()));
  ASSERT_NE(r.status, 0) << r.output;
  ASSERT_FALSE(fs::exists(out));
  const auto journal = nlohmann::json::parse(file(staging / ".fp4gptq-resume.json"));
  EXPECT_EQ(journal["layers_done"], 2);
  ASSERT_EQ(journal["ranks"].size(), 2u);
  int64_t rows = 0;
  for (int rank = 0; rank < 2; ++rank) {
    const auto& e = journal["ranks"][rank];
    EXPECT_EQ(e["file"], fmt::format(".fp4gptq-activations.rank{}.2", rank));
    EXPECT_TRUE(fs::exists(staging / e["file"].get<std::string>())) << e;
    EXPECT_FALSE(fs::exists(staging / fmt::format(".fp4gptq-activations.rank{}.1", rank))) << "the previous one goes";
    rows += e["rows"].get<int64_t>();
  }
  EXPECT_EQ(rows, 2048) << "every token's activations on exactly one rank";

  r = run_command(mpirun(3) + cli() + quantize_args(model.string(), out.string()) + " --resume");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("ranks was 2, now 3"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(staging / ".fp4gptq-activations.rank1.2")) << "a refused resume keeps the run";

  // Rank 1's checkpoint missing: rank 1 names it and the job ends.
  const auto rank1 = staging / ".fp4gptq-activations.rank1.2", aside = dir / "rank1.saved";
  fs::rename(rank1, aside);
  r = run_command(mpirun(2) + cli() + quantize_args(model.string(), out.string()) + " --resume");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(
      r.output.find("rank 1 of 2: error: " + rank1.string() + ": cannot resume: the activation checkpoint is missing"),
      std::string::npos)
      << r.output;
  fs::rename(aside, rank1);

  auto args = quantize_args(model.string(), out.string());
  args.erase(args.find(" --quiet"), 8);  // for the progress line that says where it continues
  r = run_command(mpirun(2) + cli() + args + " --resume");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: layers 1-2 of 3 were finished by an earlier run"), std::string::npos) << r.output;
  for (const char* f :
       {"pseudo_quantized_model-4bit-16g.safetensors", "pseudo_quantized_model-4bit-16g_scales.safetensors"})
    EXPECT_TRUE(file(dir / "one" / f) == file(out / f)) << f << " differs after the resume";
  EXPECT_EQ(modules_without_time(dir / "one"), modules_without_time(out));
  EXPECT_FALSE(fs::exists(staging));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find("activations"), std::string::npos) << e.path() << " is left";
}
#else
TEST(MpiQuantize, NeedsTheMpiBuild) { GTEST_SKIP() << "built without MPI (FP4GPTQ_MPI off or Open MPI not found)"; }
#endif

}  // namespace
}  // namespace fp4gptq
