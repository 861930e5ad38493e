// The fp4gptq command as a user runs it: exit codes, messages, --help, and the README's flow.
#include <gtest/gtest.h>

#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

using test::cli;
using test::run_command;

TEST(Cli, TinyModelInspectRtn) {
  test::ScratchDir dir;
  const auto model = (dir / "m").string(), out = (dir / "q").string();
  auto r = run_command(cli() + " make-tiny-model --arch Qwen3MoeForCausalLM --experts 4 --layers 2 --out " + model);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + " inspect --model " + model + " --exclude 'experts\\.3\\.'");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Qwen3MoeForCausalLM"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mlp.experts.*.gate_proj x4"), std::string::npos) << r.output;
  // 2 layers x (4 attention + 4 experts x 3) = 32 Linears, less expert 3's three per layer
  EXPECT_NE(r.output.find("quantized    26 Linear modules"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mlp.experts.*.gate_proj x4 [64x128] (1 not quantized: excluded"), std::string::npos);
  EXPECT_NE(r.output.find("MoE router (mlp.gate)"), std::string::npos);
  r = run_command(cli() + " rtn --model " + model + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("layer 2/2"), std::string::npos) << "progress on stderr: " << r.output;
  EXPECT_NE(r.output.find("peak RSS"), std::string::npos);
  r = run_command(cli() + " rtn --quiet --overwrite --model " + model + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("layer 1/2"), std::string::npos) << "--quiet silences progress: " << r.output;
}

TEST(Cli, ErrorsExitWith2AndNameTheCulprit) {
  test::ScratchDir dir;
  auto r = run_command(cli() + " rtn --model " + (dir / "nope").string() + " --out " + (dir / "o").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("error: "), std::string::npos);
  EXPECT_NE(r.output.find("nope"), std::string::npos);
  r = run_command(cli() + " make-tiny-model --arch BertModel --out " + (dir / "b").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("BertModel"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "b"));
  r = run_command(cli() + " make-tiny-model --out " + (dir / "m").string() + " --calib-samples 1");
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + " rtn --model " + (dir / "m").string() + " --out " + (dir / "o").string() + " --dtype int8");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--dtype"), std::string::npos);
  r = run_command(cli() + " rtn --model " + (dir / "m").string() + " --out " + (dir / "o").string() +
                  " --max-shard-size 3 parsecs");
  EXPECT_NE(r.status, 0);
}

TEST(Cli, HelpDocumentsEveryRtnOption) {
  const auto r = run_command(cli() + " rtn --help");
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--model", "--out", "--dtype", "--max-shard-size", "--overwrite", "--no-fuse-scales",
                          "--exclude", "--quiet"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace fp4gptq
