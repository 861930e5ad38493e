// What the C++ API gives its callers beyond the flow itself (the Python bindings rely on each): error kinds,
// the log sink, check_config before any file is read, the report as written, model_file_base_name, and
// load_calibration reading a file as the CLI does.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "fp4gptq/fp4gptq.hpp"
#include "tests/test_support.hpp"
#include "tests/tokenizer/tokenizer_data.hpp"

namespace fp4gptq {
namespace {

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::Cancelled;
}

TEST(ApiContract, ErrorsCarryTheirKind) {
  test::ScratchDir dir;
  EXPECT_EQ(kind_of([&] { CausalLM::from_pretrained(dir / "nowhere"); }), ErrorKind::MissingFile);
  std::filesystem::create_directories(dir / "m");
  EXPECT_EQ(kind_of([&] { CausalLM::from_pretrained(dir / "m"); }), ErrorKind::MissingFile);  // no config.json
  test::write_text(dir / "m/config.json", "{\"a\": ");
  EXPECT_EQ(kind_of([&] { CausalLM::from_pretrained(dir / "m"); }), ErrorKind::InvalidInput);
  EXPECT_EQ(kind_of([&] { load_examples(dir / "missing.jsonl", 10); }), ErrorKind::MissingFile);
  EXPECT_EQ(kind_of([&] { Tokenizer::from_pretrained(dir.path()); }), ErrorKind::MissingFile);

  tools::make_tiny_model(dir / "tiny", test::tiny_dense("Qwen3ForCausalLM"));
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.algorithm = Algorithm::RTN;
  cfg.work_dir = "/proc";  // the staging directory cannot be made: not the input's fault
  auto lm = CausalLM::from_pretrained(dir / "tiny", cfg);
  EXPECT_EQ(kind_of([&] { lm.quantize(); }), ErrorKind::Internal);
  EXPECT_EQ(Cancelled().kind(), ErrorKind::Cancelled);
}

TEST(ApiContract, CheckConfigNamesTheField) {
  QuantizeConfig c;
  EXPECT_NO_THROW(check_config(c));
  const auto bad = [](const std::function<void(QuantizeConfig&)>& edit, const std::string& field) {
    QuantizeConfig c;
    edit(c);
    test::expect_error([&] { check_config(c); }, {"QuantizeConfig." + field});
  };
  bad([](auto& c) { c.block_size = 40; }, "block_size");
  bad([](auto& c) { c.damp_percent = -0.5; }, "damp_percent");
  bad([](auto& c) { c.threads = -1; }, "threads");
  bad([](auto& c) { c.moe_min_tokens = -2; }, "moe_min_tokens");
  bad([](auto& c) { c.checkpoint_every = -1; }, "checkpoint_every");
  bad([](auto& c) { c.model_file_base_name = "x/y"; }, "model_file_base_name");
  bad([](auto& c) { c.model_file_base_name = ""; }, "model_file_base_name");
  bad([](auto& c) { c.dtype = DType::Float32; }, "dtype: float32 is not allowed (float16 or bfloat16 expected)");
  test::expect_error([] {
    QuantizeConfig c;
    c.bits = 8;
    check_config(c);
  }, {"only NVFP4"});
}

TEST(ApiContract, LogSinkGetsProgressAndWarnings) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "tiny", test::tiny_dense("Qwen3ForCausalLM"));
  std::mutex m;
  std::vector<std::pair<LogLevel, std::string>> lines;
  set_log_sink([&](LogLevel l, const std::string& s) {
    const std::lock_guard<std::mutex> lock(m);
    lines.emplace_back(l, s);
  });
  QuantizeConfig cfg;
  cfg.algorithm = Algorithm::RTN;
  cfg.work_dir = dir.path();
  cfg.exclude = {"layers\\.0\\.mlp\\.down_proj"};
  auto lm = CausalLM::from_pretrained(dir / "tiny", cfg);
  const auto r = lm.quantize();
  set_log_sink({});
  bool progress = false, warning = false;
  for (const auto& [level, line] : lines) {
    progress |= level == LogLevel::Info && line.find("[rtn] layer 1/") == 0;
    warning |= level == LogLevel::Warning && line.find("model.layers.0.mlp.down_proj left unquantized") == 0;
  }
  EXPECT_TRUE(progress && warning) << lines.size() << " lines";
  lm.save_quantized(dir / "out");
  // The report handed back is the file written.
  EXPECT_EQ(nlohmann::json::parse(r.json), nlohmann::json::parse(test::read_text(dir / "out/quantization_report.json")));
  EXPECT_EQ(nlohmann::json::parse(r.json)["summary"]["quantized_modules"].get<int64_t>(), r.modules);
}

TEST(ApiContract, ModelFileBaseNameNamesBothFilesAndTheShards) {
  test::ScratchDir dir;
  tools::make_tiny_model(dir / "tiny", test::tiny_dense("Qwen3ForCausalLM"));
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.algorithm = Algorithm::RTN;
  cfg.work_dir = dir.path();
  cfg.model_file_base_name = "gptq_model-4bit-16g";
  auto one = CausalLM::from_pretrained(dir / "tiny", cfg);
  one.quantize();
  one.save_quantized(dir / "one");
  EXPECT_TRUE(std::filesystem::exists(dir / "one/gptq_model-4bit-16g.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "one/gptq_model-4bit-16g_scales.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "one/pseudo_quantized_model-4bit-16g.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(test::read_text(dir / "one/quantize_config.json"))["model_file_base_name"],
            "gptq_model-4bit-16g");
  cfg.max_shard_bytes = 20000;
  auto sharded = CausalLM::from_pretrained(dir / "tiny", cfg);
  sharded.quantize();
  sharded.save_quantized(dir / "sharded");
  std::vector<std::string> shards;
  for (const auto& e : std::filesystem::directory_iterator(dir / "sharded"))
    if (e.path().extension() == ".safetensors") shards.push_back(e.path().filename().string());
  std::sort(shards.begin(), shards.end());
  ASSERT_GE(shards.size(), 3u);  // at least two shards and the scales file
  char first[64];
  std::snprintf(first, sizeof first, "gptq_model-4bit-16g-00001-of-%05zu.safetensors", shards.size() - 1);
  EXPECT_EQ(shards.front(), first);
  EXPECT_EQ(shards.back(), "gptq_model-4bit-16g_scales.safetensors");
  const auto index = nlohmann::json::parse(test::read_text(dir / "sharded/model.safetensors.index.json"));
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"].get<std::string>().rfind("gptq_model-4bit-16g-", 0), 0u);
  // The scales file and the weights of a renamed checkpoint are the default's bytes.
  cfg.model_file_base_name = QuantizeConfig{}.model_file_base_name;
  cfg.max_shard_bytes = 0;
  auto plain = CausalLM::from_pretrained(dir / "tiny", cfg);
  plain.quantize();
  plain.save_quantized(dir / "plain");
  EXPECT_EQ(test::read_text(dir / "one/gptq_model-4bit-16g_scales.safetensors"),
            test::read_text(dir / "plain/pseudo_quantized_model-4bit-16g_scales.safetensors"));
}

// A work directory on another filesystem than the output: the checkpoint is copied beside the output, then
// renamed into place; nothing is left in either place.
TEST(ApiContract, SaveToAnotherFilesystemThanTheWorkDir) {
  test::ScratchDir dir;
  struct stat shm {}, here {};
  if (::stat("/dev/shm", &shm) != 0 || ::stat(dir.path().c_str(), &here) != 0 || shm.st_dev == here.st_dev)
    GTEST_SKIP() << "no second filesystem here";
  const auto work = std::filesystem::path("/dev/shm") / ("fp4gptq-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(work);
  tools::make_tiny_model(dir / "tiny", test::tiny_dense("Qwen3ForCausalLM"));
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.algorithm = Algorithm::RTN;
  cfg.work_dir = work;
  auto far = CausalLM::from_pretrained(dir / "tiny", cfg);
  far.quantize();
  far.save_quantized(dir / "far");
  EXPECT_TRUE(std::filesystem::is_empty(work));
  std::filesystem::remove_all(work);
  EXPECT_FALSE(std::filesystem::exists(dir / "far.fp4gptq-staging"));
  cfg.work_dir = dir.path();
  auto near = CausalLM::from_pretrained(dir / "tiny", cfg);
  near.quantize();
  near.save_quantized(dir / "near");
  for (const auto* f : {"pseudo_quantized_model-4bit-16g.safetensors", "pseudo_quantized_model-4bit-16g_scales.safetensors",
                        "config.json", "quantize_config.json", ".fp4gptq-output"})
    EXPECT_EQ(test::read_text(dir / "far" / f), test::read_text(dir / "near" / f)) << f;
}

TEST(ApiContract, LoadCalibrationReadsTokenIdsAndText) {
  test::ScratchDir dir;
  test::write_text(dir / "ids.jsonl", "{\"input_ids\": [1, 2, 3, 4]}\n{\"input_ids\": [5, 6]}\n");
  CalibrationConfig c;
  c.seqlen = 3;
  c.vocab_size = 10;
  CalibrationSummary s;
  EXPECT_EQ(load_calibration(dir / "ids.jsonl", dir.path(), BosPolicy::File, c, &s),
            (std::vector<Example>{{1, 2, 3}, {5, 6}}));
  EXPECT_EQ(s.format, "token-ids");
  EXPECT_EQ(s.tokens, 5);
  EXPECT_EQ(s.describe(), "2 samples, 5 tokens (token-id file)");
  c.vocab_size = 0;
  test::expect_error([&] { load_calibration(dir / "ids.jsonl", dir.path(), BosPolicy::File, c); },
                     {"ids.jsonl", "size was not given"});
  c.vocab_size = 10;
  c.mode = CalibMode::Windows;
  test::expect_error([&] { load_calibration(dir / "ids.jsonl", dir.path(), BosPolicy::File, c); },
                     {"windows calibration needs text"});

  test::write_tokenizer_dir(dir / "tok", "qwen3");
  test::write_text(dir / "text.jsonl", "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n{\"text\": \"Hello\"}\n");
  c = {};
  c.vocab_size = 151936;
  EXPECT_EQ(load_calibration(dir / "text.jsonl", dir / "tok", BosPolicy::File, c, &s),
            (std::vector<Example>{{9707, 1879}, {9707}}));
  EXPECT_EQ(s.format, "text-jsonl");
  EXPECT_EQ(s.too_short, 1);
}

TEST(ApiContract, EncodeTruncatesAsTransformers) {
  test::ScratchDir dir;
  test::write_tokenizer_dir(dir / "tok", "qwen3");
  const auto tok = Tokenizer::from_pretrained(dir / "tok");
  const auto full = tok.encode("one two three four");
  ASSERT_GT(full.size(), 3u);
  EXPECT_EQ(tok.encode("one two three four", true, 3), Example(full.begin(), full.begin() + 3));
  EXPECT_EQ(tok.encode("one two three four", true, 100), full);
  EXPECT_TRUE(tok.encode("one", true, 0).empty());  // Qwen3 adds no special tokens
}

}  // namespace
}  // namespace fp4gptq
