// The fp4gptq command as a user runs it: exit codes, messages, --help, and the README's flow.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <sstream>

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

TEST(Cli, FusedExpertsInspectAndRtn) {
  test::ScratchDir dir;
  const auto model = (dir / "m").string(), out = (dir / "q").string();
  auto r = run_command(
      cli() + " make-tiny-model --arch Qwen3MoeForCausalLM --experts 4 --layers 1 --fused-experts --out " + model);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + " inspect --tensors --model " + model);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("fused 3D tensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("model.layers.0.mlp.experts.gate_up_proj"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[4, 128, 128]"), std::string::npos) << r.output;  // [E, 2*I, H]
  EXPECT_NE(r.output.find("quantized    16 Linear modules"), std::string::npos) << r.output;
  r = run_command(cli() + " rtn --quiet --model " + model + " --out " + out);
  ASSERT_EQ(r.status, 0) << r.output;
  r = run_command(cli() + " inspect --tensors --model " + out);
  ASSERT_EQ(r.status, 0) << "the output keeps the fused layout and loads again: " << r.output;
  EXPECT_NE(r.output.find("model.layers.0.mlp.experts.down_proj"), std::string::npos) << r.output;
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
  // One argument, quoted for the shell, so that it gets past CLI11 (which would reject a separate "parsecs" as
  // an extra argument, in a message naming neither the option nor the value) to the size parser.
  r = run_command(cli() + " rtn --model " + (dir / "m").string() + " --out " + (dir / "o").string() +
                  " --max-shard-size '3 parsecs'");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--max-shard-size"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("3 parsecs"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "o"));
}

class CliQuantize : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = run_command(cli() +
                               " make-tiny-model --hidden 64 --intermediate 96 --heads 4 --kv-heads 2 --head-dim 16 "
                               "--vocab 128 --calib-samples 8 --calib-seqlen 32 --out " +
                               model());
    ASSERT_EQ(r.status, 0) << r.output;
  }
  std::string model() const { return (dir / "m").string(); }
  std::string out() const { return (dir / "out").string(); }
  test::CommandResult quantize(const std::string& extra) {
    return run_command(cli() + " quantize --quiet --model " + model() + " --calib " + model() +
                       "/calibration.jsonl --out " + out() + " " + extra);
  }
  // Exit status 2, an "error:" line holding every part, and nothing left under the output's name.
  void expect_failure(const test::CommandResult& r, const std::vector<std::string>& parts) {
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("error: "), std::string::npos) << r.output;
    for (const auto& p : parts) EXPECT_NE(r.output.find(p), std::string::npos) << r.output << "\nmissing: " << p;
    EXPECT_TRUE(test::nothing_named(dir.path(), "out")) << r.output;
    EXPECT_TRUE(test::nothing_named(dir.path(), "fp4gptq-")) << r.output;
  }
  test::ScratchDir dir;
};

TEST_F(CliQuantize, WritesTheCheckpointAndEvalPplReadsIt) {
  auto r = quantize("--nsamples 6 --seqlen 24 --seed 3");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("on 6 samples / 144 tokens"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "pseudo_quantized_model-4bit-16g_scales.safetensors"));
  const auto a = run_command(cli() + " eval-ppl --quiet --model " + model() + " --data " + model() +
                             "/calibration.jsonl --seqlen 32");
  const auto b = run_command(cli() + " eval-ppl --quiet --model " + out() + " --data " + model() +
                             "/calibration.jsonl --seqlen 32");
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_NE(a.output.find("ppl "), std::string::npos);
  EXPECT_NE(a.output.find("8 windows of 32 tokens, 248 tokens scored"), std::string::npos) << a.output;
  EXPECT_NE(a.output, b.output) << "the quantized model is a different model";
}

TEST_F(CliQuantize, EvalComparesWithTheBaseAndStoresItsLogits) {
  ASSERT_EQ(quantize("--nsamples 6 --seqlen 24 --seed 3").status, 0);
  const std::string data = " --data " + model() + "/calibration.jsonl --seqlen 32";
  const auto ppl = run_command(cli() + " eval-ppl --quiet --model " + out() + data);
  auto r = run_command(cli() + " eval --quiet --json --model " + out() + " --base " + model() + data +
                       " --save-base-logits " + (dir / "base.lp").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["tokens"], 248);
  EXPECT_EQ(j["windows"], 8);
  EXPECT_GT(j["kld"]["mean"].get<double>(), 0.0);
  EXPECT_LE(j["kld"]["median"].get<double>(), j["kld"]["max"].get<double>());
  EXPECT_NE(ppl.output.find(fmt::format("ppl {:.6f}", j["ppl_model"].get<double>())), std::string::npos) << ppl.output;
  // From the stored file: no base, no data, the same text figures.
  const auto a = run_command(cli() + " eval --quiet --model " + out() + " --base " + model() + data);
  const auto b = run_command(cli() + " eval --quiet --model " + out() + " --base-logits " + (dir / "base.lp").string());
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_NE(b.output.find("top-1 agreement"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("ppl base"), std::string::npos) << b.output;
  EXPECT_EQ(a.output.substr(0, a.output.find("KLD")), b.output.substr(0, b.output.find("KLD")));
  r = run_command(cli() + " eval --quiet --model " + out() + data);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("no base"), std::string::npos) << r.output;
  r = run_command(cli() + " eval --quiet --model " + out() + " --base " + model() + data + " --save-base-logits " +
                  (dir / "base.lp").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("exists"), std::string::npos) << r.output;
}

TEST_F(CliQuantize, MissingOrGarbledConfig) {
  std::filesystem::rename(dir / "m" / "config.json", dir / "config.bak");
  expect_failure(quantize(""), {"config.json"});
  std::ofstream(dir / "m" / "config.json") << "{\"architectures\": [";
  expect_failure(quantize(""), {"config.json", "not valid JSON"});
}

TEST_F(CliQuantize, CheckpointNotMatchingConfig) {
  auto cfg = test::read_text(dir / "m" / "config.json");
  const std::string from = "\"intermediate_size\": 96", to = "\"intermediate_size\": 128";
  cfg.replace(cfg.find(from), from.size(), to);
  std::ofstream(dir / "m" / "config.json") << cfg;
  expect_failure(quantize(""), {"model.layers.0.mlp.gate_proj.weight", "[96, 64]", "expected [128, 64]"});
}

TEST_F(CliQuantize, EmptyOrOutOfVocabCalibration) {
  std::ofstream(dir / "m" / "calibration.jsonl") << "";
  expect_failure(quantize(""), {"calibration.jsonl", "empty"});
  std::ofstream(dir / "m" / "calibration.jsonl") << "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 999]}\n";
  expect_failure(quantize(""), {"calibration.jsonl:2", "999"});
}

TEST_F(CliQuantize, OutputNotWritableOrAlreadyAModel) {
  const auto r = run_command(cli() + " quantize --quiet --model " + model() + " --calib " + model() +
                             "/calibration.jsonl --out /proc/fp4gptq-cannot-write-here");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("/proc"), std::string::npos) << r.output;
  ASSERT_EQ(quantize("").status, 0);
  const auto before = test::read_text(dir / "out" / "quantization_report.json");
  const auto again = quantize("");
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  EXPECT_EQ(test::read_text(dir / "out" / "quantization_report.json"), before) << "the existing model is untouched";
  EXPECT_EQ(quantize("--overwrite --damp 0.02").status, 0);
  EXPECT_NE(test::read_text(dir / "out" / "quantize_config.json").find("0.02"), std::string::npos);
}

// The options README.md documents for `quantize`: the flags of its row in the commands table (--model
// --calib --out) and the first flag of every row of its "`quantize` options" table; `mentioned` gets every
// flag written anywhere in those rows (e.g. --seed in the --nsamples row).
std::vector<std::string> readme_quantize_options(std::set<std::string>& mentioned) {
  std::istringstream readme(test::read_text(test::source_dir() / "README.md"));
  const std::regex flag("--[a-z0-9-]+");
  std::vector<std::string> documented;
  bool in_table = false;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("### `quantize` options", 0) == 0) {
      in_table = true;
      continue;
    }
    const bool command_row = line.rfind("| `fp4gptq quantize ", 0) == 0;
    if (in_table && line.rfind("|", 0) != 0) in_table = false;
    if (!command_row && !(in_table && line.rfind("| `--", 0) == 0)) continue;
    const std::string first_cell = line.substr(0, line.find('|', 1));
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), flag), end; it != end; ++it) {
      documented.push_back(it->str());
      if (!command_row) break;
    }
    for (std::sregex_iterator it(line.begin(), line.end(), flag), end; it != end; ++it) mentioned.insert(it->str());
  }
  return documented;
}

// The options `--help` lists, one per line ("  --name TYPE  help"), without -h,--help.
std::set<std::string> help_options(const std::string& help) {
  std::set<std::string> out;
  const std::regex line_start(R"(^ +(?:-[a-z],)?(--[a-z0-9-]+)(?=[ =]|$))", std::regex::multiline);
  for (std::sregex_iterator it(help.begin(), help.end(), line_start), end; it != end; ++it)
    if ((*it)[1] != "--help") out.insert((*it)[1]);
  return out;
}

// README.md's quantize options and `quantize --help` list the same options: a README row the command lacks,
// or an option the README does not mention, fails here.
TEST(Cli, HelpDocumentsEveryQuantizeOption) {
  const auto r = run_command(cli() + " quantize --help");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto in_help = help_options(r.output);
  std::set<std::string> mentioned;
  const auto documented = readme_quantize_options(mentioned);
  ASSERT_GE(documented.size(), 20u) << "README.md's quantize options table was not found or not parsed";
  for (const auto& opt : documented) EXPECT_EQ(in_help.count(opt), 1u) << opt << " (README.md) is not in --help";
  for (const auto& opt : in_help) EXPECT_EQ(mentioned.count(opt), 1u) << opt << " (--help) is not in README.md";
}

TEST(Cli, HelpDocumentsEveryRtnOption) {
  const auto r = run_command(cli() + " rtn --help");
  EXPECT_EQ(r.status, 0);
  for (const char* opt :
       {"--model", "--out", "--dtype", "--max-shard-size", "--overwrite", "--no-fuse-scales", "--exclude", "--quiet"})
    EXPECT_NE(r.output.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace fp4gptq
