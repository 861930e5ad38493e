// Bad input to `rtn`: each error names the culprit, and no output directory is left behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/json_file.hpp"
#include "io/safetensors_writer.hpp"
#include "pipeline/rtn.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq::pipeline {
namespace {

namespace fs = std::filesystem;

class RtnBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    tools::make_tiny_model(model(), test::tiny_dense("Qwen3ForCausalLM"));
    opts.model_dir = model();
    opts.out_dir = dir / "out";
    opts.quiet = true;
  }
  fs::path model() const { return dir / "model"; }

  // Rewrites model.safetensors through `edit`, which may change each tensor's spec or drop it (return false).
  void rewrite(const std::function<bool(io::TensorSpec&, std::vector<std::byte>&)>& edit) {
    const auto path = model() / "model.safetensors";
    std::vector<io::TensorSpec> specs;
    std::vector<std::vector<std::byte>> data;
    {
      const io::SafetensorsFile f(path);
      for (const auto& t : f.tensors()) {
        io::TensorSpec s{t.name, t.dtype, t.shape};
        const auto b = f.bytes(t);
        std::vector<std::byte> bytes(b.begin(), b.end());
        if (!edit(s, bytes)) continue;
        specs.push_back(s);
        data.push_back(std::move(bytes));
      }
    }
    io::SafetensorsWriter w(path, specs);
    for (size_t i = 0; i < specs.size(); ++i) w.write(specs[i].name, data[i].data(), data[i].size());
    w.finish();
  }

  void expect_failure(const std::vector<std::string>& parts) {
    test::expect_error([&] { run_rtn(opts); }, parts);
    EXPECT_TRUE(test::nothing_named(dir.path(), "out")) << "no output (or staging) directory may remain";
  }

  test::ScratchDir dir;
  RtnOptions opts;
};

TEST_F(RtnBadInput, MissingTensor) {
  rewrite([](auto& s, auto&) { return s.name != "model.layers.1.self_attn.v_proj.weight"; });
  expect_failure({"model.layers.1.self_attn.v_proj.weight", "missing"});
}

TEST_F(RtnBadInput, WrongShape) {
  rewrite([](auto& s, auto&) {
    if (s.name == "model.layers.0.mlp.up_proj.weight") s.shape = {64, 96};  // same bytes, transposed
    return true;
  });
  expect_failure({"model.layers.0.mlp.up_proj.weight", "[64, 96]", "expected [96, 64]"});
}

TEST_F(RtnBadInput, TruncatedSafetensors) {
  fs::resize_file(model() / "model.safetensors", fs::file_size(model() / "model.safetensors") - 100);
  expect_failure({"model.safetensors", "lm_head.weight", "beyond the data area"});
}

TEST_F(RtnBadInput, UnknownArchitecture) {
  auto cfg = io::read_json(model() / "config.json");
  cfg["architectures"] = {"FalconForCausalLM"};
  io::write_json(model() / "config.json", cfg);
  expect_failure({"config.json", "FalconForCausalLM", "supported", "Qwen3MoeForCausalLM"});
}

TEST_F(RtnBadInput, GarbledConfig) {
  std::ofstream(model() / "config.json") << "{ this is not json";
  expect_failure({"config.json", "not valid JSON"});
}

TEST_F(RtnBadInput, Fp16OverflowNamesTheTensorAndSuggestsBfloat16) {
  rewrite([](auto& s, auto& bytes) {
    if (s.name == "model.layers.1.post_attention_layernorm.weight") {
      const uint16_t big = 0x4789;  // bf16 70144
      std::memcpy(bytes.data() + 6, &big, 2);
    }
    return true;
  });
  expect_failure({"model.layers.1.post_attention_layernorm.weight", "float16", "bfloat16 output keeps the range"});
  opts.dtype = numeric::DType::BF16;
  run_rtn(opts);  // bfloat16 keeps the range
  EXPECT_TRUE(fs::exists(dir / "out" / "model.safetensors.index.json"));
}

// A copied tensor whose dtype is already the output's took a fast path that skipped the finite check.
TEST_F(RtnBadInput, NonFiniteInACopiedTensorOfTheOutputDtype) {
  rewrite([](auto& s, auto& bytes) {
    if (s.name == "model.layers.1.input_layernorm.weight") {
      const uint16_t nan = 0x7fc0;  // bf16 NaN
      std::memcpy(bytes.data() + 10, &nan, 2);
    }
    return true;
  });
  opts.dtype = numeric::DType::BF16;  // the source is bfloat16 too: bytes copied as they are
  expect_failure({"model.layers.1.input_layernorm.weight", "non-finite", "element 5"});
  opts.allow_nonfinite = true;  // explicitly kept (with a warning)
  run_rtn(opts);
  const io::SafetensorsFile out(dir / "out" / "pseudo_quantized_model-4bit-16g.safetensors");
  const auto v = out.read_f32(out.at("model.layers.1.input_layernorm.weight"));
  EXPECT_TRUE(std::isnan(v[5]));
  EXPECT_FALSE(std::isnan(v[4]));
}

TEST_F(RtnBadInput, QuantizedWeightBeyondFp16) {
  rewrite([](auto& s, auto& bytes) {
    if (s.name == "model.layers.0.self_attn.o_proj.weight") {
      const uint16_t big = 0x47c3;  // bf16 99840: dequantized value 448·6·(amax/2688) = amax > 65504
      std::memcpy(bytes.data(), &big, 2);
    }
    return true;
  });
  expect_failure({"model.layers.0.self_attn.o_proj.weight", "float16"});
}

TEST_F(RtnBadInput, ExistingOutputRefusedUnlessOverwrite) {
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out" / "pseudo_quantized_model-4bit-16g.safetensors") << "old";
  test::expect_error([&] { run_rtn(opts); }, {(dir / "out").string(), "overwriting"});
  EXPECT_EQ(test::read_text(dir / "out" / "pseudo_quantized_model-4bit-16g.safetensors"), "old");
  opts.overwrite = true;
  test::expect_error([&] { run_rtn(opts); }, {(dir / "out").string(), "not written by fp4gptq"});
  EXPECT_EQ(test::read_text(dir / "out" / "pseudo_quantized_model-4bit-16g.safetensors"), "old");
  std::ofstream(dir / "out" / ".fp4gptq-output") << "{}";  // as if fp4gptq had written it
  run_rtn(opts);
  EXPECT_GT(fs::file_size(dir / "out" / "pseudo_quantized_model-4bit-16g.safetensors"), 1000u);
  EXPECT_TRUE(test::nothing_named(dir.path(), "out."));
}

TEST_F(RtnBadInput, OutputParentMissing) {
  opts.out_dir = dir / "missing" / "out";
  test::expect_error([&] { run_rtn(opts); }, {"missing", "does not exist"});
}

}  // namespace
}  // namespace fp4gptq::pipeline
