// The CLI never loses a user's data and survives being killed (docs/DESIGN.md §9, README "Safety"): inputs are
// never replaced, --overwrite replaces only fp4gptq's own outputs, SIGTERM stops cleanly, and a SIGKILLed run
// resumed with --resume ends byte-identical to an uninterrupted one.
#include <gtest/gtest.h>

#include <map>

#include "io/json_file.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;
using test::cli;
using test::run_command;

// Every file of a directory by name, with its bytes.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::directory_iterator(dir)) m[e.path().filename().string()] = test::read_text(e.path());
  return m;
}

// quantization_report.json without what differs between any two runs: wall-clock times and memory.
nlohmann::ordered_json report_without_timings(const fs::path& out) {
  auto r = io::read_json(out / "quantization_report.json", io::JsonLimits{});
  for (const char* k : {"seconds", "peak_rss_bytes", "time_split_s"}) r["summary"].erase(k);
  for (auto& [name, row] : r["modules"].items()) row.erase("time_s");
  return r;
}

void expect_same_output(const fs::path& a, const fs::path& b) {
  auto fa = files_of(a), fb = files_of(b);
  fa.erase("quantization_report.json");
  fb.erase("quantization_report.json");
  ASSERT_EQ(fa.size(), fb.size());
  for (const auto& [name, bytes] : fa) {
    ASSERT_TRUE(fb.count(name)) << name;
    EXPECT_TRUE(bytes == fb.at(name)) << name << " differs";
  }
  EXPECT_EQ(report_without_timings(a), report_without_timings(b));
}

class SafetyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir / "models");
    auto r = run_command(cli() + " make-tiny-model --layers 4 --calib-samples 8 --out " + model().string());
    ASSERT_EQ(r.status, 0) << r.output;
    before_ = files_of(model());
  }
  fs::path model() const { return dir / "models" / "m"; }
  std::string quantize(const fs::path& out, const std::string& extra = "") const {
    return cli() + " quantize --quiet --model " + model().string() + " --calib " +
           (model() / "calibration.jsonl").string() + " --out " + out.string() + " " + extra;
  }
  void expect_model_untouched() const { EXPECT_TRUE(files_of(model()) == before_) << "the input model changed"; }

  test::ScratchDir dir;
  std::map<std::string, std::string> before_;
};

TEST_F(SafetyCli, InputsAreNeverReplacedOrEntered) {
  for (const auto& out : {model().string(), model().string() + "/", (dir / "models").string(), dir.path().string(),
                          (model() / "q").string(), (dir / "models" / "x" / ".." / "m").string()}) {
    auto r = run_command(cli() + " rtn --overwrite --model " + model().string() + " --out " + out);
    EXPECT_EQ(r.status, 2) << out << ": " << r.output;
    EXPECT_NE(r.output.find("input"), std::string::npos) << r.output;
    r = run_command(quantize(out, "--overwrite"));
    EXPECT_EQ(r.status, 2) << out << ": " << r.output;
  }
  auto r = run_command(quantize(model() / "calibration.jsonl", "--overwrite"));  // the calibration file itself
  EXPECT_EQ(r.status, 2) << r.output;
  expect_model_untouched();
  EXPECT_TRUE(test::nothing_named(dir / "models", "m.")) << "no staging beside the model";
}

TEST_F(SafetyCli, OverwriteLeavesForeignDirectoriesAlone) {
  const fs::path out = dir / "results";
  fs::create_directories(out);
  std::ofstream(out / "notes.txt") << "mine";
  auto r = run_command(cli() + " rtn --overwrite --model " + model().string() + " --out " + out.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("not written by fp4gptq"), std::string::npos) << r.output;
  EXPECT_EQ(test::read_text(out / "notes.txt"), "mine");
}

TEST_F(SafetyCli, TrailingSlashOutputWorks) {
  // "--out q/" put the staging inside q/ and refused (or failed to rename) after the whole run.
  auto r = run_command(quantize(dir.path().string() + "/q/"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "q" / ".fp4gptq-output"));
  EXPECT_TRUE(fs::exists(dir / "q" / "pseudo_quantized_model-4bit-16g.safetensors"));
  EXPECT_TRUE(test::nothing_named(dir.path(), "q.")) << "nothing left beside the output";
  r = run_command(quantize(dir.path().string() + "/q/", "--overwrite"));  // our own output: replaced
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(test::nothing_named(dir.path(), "q."));
}

TEST_F(SafetyCli, SigtermStopsAndRemovesTheStaging) {
  auto r = run_command("FP4GPTQ_TEST_SIGNAL_AFTER_LAYER=15:1 " + quantize(dir / "q"));
  EXPECT_EQ(r.status, 143) << r.output;
  EXPECT_NE(r.output.find("stopped by SIGTERM"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "q"));
  EXPECT_TRUE(test::nothing_named(dir.path(), "q.")) << "the staging directory is removed";
}

TEST_F(SafetyCli, KilledRunResumesByteIdentical) {
  auto r = run_command(quantize(dir / "ref"));
  ASSERT_EQ(r.status, 0) << r.output;
  // SIGKILL after layer 2 of 4 is journaled (as a power loss would stop it: no cleanup runs).
  r = run_command("FP4GPTQ_TEST_SIGNAL_AFTER_LAYER=9:2 " + quantize(dir / "q"));
  ASSERT_NE(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(dir / "q.fp4gptq-staging" / ".fp4gptq-resume.json"));
  EXPECT_FALSE(fs::exists(dir / "q"));

  // Other options are refused, naming what changed, and the killed run stays resumable.
  r = run_command(quantize(dir / "q", "--resume --damp 0.05"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("damp_percent was 0.01, now 0.05"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(dir / "q.fp4gptq-staging" / ".fp4gptq-resume.json"));
  r = run_command(quantize(dir / "q", "--resume --max-shard-size 200KB"));  // another file layout
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("output layout was"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "q.fp4gptq-staging" / "pseudo_quantized_model-4bit-16g-00001-of-00002.safetensors.partial"))
      << "a refused resume opens no files";

  r = run_command(cli() + " quantize --model " + model().string() + " --calib " +
                  (model() / "calibration.jsonl").string() + " --out " + (dir / "q").string() + " --resume");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resuming: layers 1-2 of 4"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("layer 1/4"), std::string::npos) << "finished layers are not redone: " << r.output;
  expect_same_output(dir / "ref", dir / "q");
  EXPECT_TRUE(test::nothing_named(dir.path(), "q.")) << "nothing left beside the output";
}

TEST_F(SafetyCli, ResumePointsEveryNLayers) {
  auto r = run_command(quantize(dir / "ref"));
  ASSERT_EQ(r.status, 0) << r.output;
  // Resume points after layers 3 and 4 only: killed after the one at 3, the resumed run redoes layer 4 alone.
  r = run_command("FP4GPTQ_TEST_SIGNAL_AFTER_LAYER=9:3 " + quantize(dir / "q", "--checkpoint-every 3"));
  ASSERT_NE(r.status, 0) << r.output;
  const auto journal = io::read_json(dir / "q.fp4gptq-staging" / ".fp4gptq-resume.json", io::JsonLimits{});
  EXPECT_EQ(journal["layers_done"], 3);
  EXPECT_EQ(journal["layer_crc"].size(), 3u);
  r = run_command(quantize(dir / "q", "--resume"));  // the resume-point spacing is not part of the fingerprint
  ASSERT_EQ(r.status, 0) << r.output;
  expect_same_output(dir / "ref", dir / "q");
  EXPECT_TRUE(test::nothing_named(dir.path(), "q."));
}

TEST_F(SafetyCli, KilledRunIsCleanedUpByTheNextRun) {
  auto r = run_command("FP4GPTQ_TEST_SIGNAL_AFTER_LAYER=9:1 " + quantize(dir / "q"));
  ASSERT_NE(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(dir / "q.fp4gptq-staging"));
  r = run_command(quantize(dir / "q"));  // no --resume: the stale staging is removed and the run starts over
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(test::nothing_named(dir.path(), "q."));
  EXPECT_FALSE(fs::exists(dir / "q" / ".fp4gptq-resume.json")) << "the journal is not part of the output";
}

}  // namespace
}  // namespace fp4gptq
