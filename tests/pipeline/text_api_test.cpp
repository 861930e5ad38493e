// The C++ text API in AutoGPTQ's flow: Tokenizer::from_pretrained → encode each text → quantize, and
// load_examples from a text file; both give the checkpoint of the same library ids as token ids.
#include <gtest/gtest.h>

#include "fp4gptq/fp4gptq.hpp"
#include "tests/test_support.hpp"
#include "tests/tokenizer/tokenizer_data.hpp"

namespace fp4gptq {
namespace {

TEST(TextApi, AutoGptqFlowFromText) {
  test::ScratchDir dir;
  auto o = test::tiny_dense("Qwen3ForCausalLM");
  o.vocab = 151936;
  o.hidden = 32;
  o.intermediate = 64;
  o.heads = 2;
  o.kv_heads = 1;
  tools::make_tiny_model(dir / "m", o);
  test::write_tokenizer_dir(dir / "m", "qwen3");

  const auto tok = Tokenizer::from_pretrained(dir / "m");
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ(tok.decode({9707, 1879}), "Hello world");
  EXPECT_EQ(tok.token_to_id("<|im_start|>"), 151644);
  EXPECT_GE(tok.vocab_size(), 151669);

  const auto texts = test::corpus_texts();
  const auto expected = test::expected_for("qwen3");
  std::vector<Example> examples, library;
  for (size_t i = 0; i < 40 && examples.size() < 8; ++i) {
    auto e = tok.encode(texts[i]);
    if (e.empty()) continue;
    EXPECT_EQ(e, std::vector<int32_t>(expected[i].special.begin(), expected[i].special.end()));
    examples.push_back(e);
    library.emplace_back(expected[i].special.begin(), expected[i].special.end());
  }
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.work_dir = dir.path();
  auto a = CausalLM::from_pretrained(dir / "m", cfg);
  a.quantize(examples);
  a.save_quantized(dir / "qa");
  auto b = CausalLM::from_pretrained(dir / "m", cfg);
  b.quantize(library);
  b.save_quantized(dir / "qb");
  const std::string main = "pseudo_quantized_model-4bit-16g.safetensors";
  EXPECT_EQ(test::read_text(dir / "qa" / main), test::read_text(dir / "qb" / main));

  CalibrationSummary s;
  CalibrationConfig c;
  c.nsamples = 5;
  c.seqlen = 16;
  c.mode = CalibMode::Documents;
  c.vocab_size = a.vocab_size();
  const auto from_file = load_examples(test::tokenizer_data_dir() / "corpus.jsonl", tok, c, &s);
  ASSERT_EQ(from_file.size(), 5u);
  EXPECT_EQ(s.samples, 5);
  EXPECT_EQ(s.format, "text-jsonl");
  EXPECT_EQ(s.mode, "documents");
  EXPECT_EQ(s.tokens, static_cast<int64_t>(from_file[0].size() + from_file[1].size() + from_file[2].size() +
                                           from_file[3].size() + from_file[4].size()));
  EXPECT_EQ(calibration_format(test::tokenizer_data_dir() / "eval" / "eval.txt"), "text");
}

}  // namespace
}  // namespace fp4gptq
