// Packed NVFP4 checkpoints through the C++ API (docs/DESIGN.md §7b), also under the sanitizers (the Python tests of
// tests/python/test_packed_*.py cover the CLI and the decoders written from each format's source): the codes
// unpacked from a packed checkpoint, times their scales, are the pseudo checkpoint's stored weights; export of the
// pseudo directory equals the run written packed; packed checkpoints evaluate as the pseudo one; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "fp4gptq/fp4gptq.hpp"
#include "io/model_dir.hpp"
#include "numeric/e2m1.hpp"
#include "numeric/fp8_e4m3.hpp"
#include "numeric/half.hpp"
#include "nvfp4/packing.hpp"
#include "tests/test_support.hpp"
#include "tools/tiny_model.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;

tools::TinyModelOptions model_options(bool moe, bool fused) {
  auto o = test::tiny_dense(moe ? "Qwen3MoeForCausalLM" : "Qwen3ForCausalLM");
  o.experts_per_tok = 2;
  o.calib_samples = 8;
  o.calib_seqlen = 32;
  o.fused_experts = fused;
  return o;
}

void quantize(const fs::path& model, const fs::path& out, Format format, Activations act = Activations::None) {
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.threads = 2;
  cfg.work_dir = out.parent_path();
  cfg.format = format;
  cfg.activations = act;
  auto lm = CausalLM::from_pretrained(model, cfg);
  lm.quantize(load_examples(model / "calibration.jsonl", lm.vocab_size()));
  lm.save_quantized(out);
}

std::string file_bytes(const fs::path& p) { return test::read_text(p); }

std::string tensor_bytes(const io::ModelDir& d, const std::string& name) {
  const auto& t = d.tensor(name);
  const auto b = t.file->bytes(*t.info);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

float scalar(const io::ModelDir& d, const std::string& name) {
  float v = 0;
  std::memcpy(&v, tensor_bytes(d, name).data(), sizeof v);
  return v;
}

// Every packed module of `packed` decodes (code · fp8(scale) · scale_2 in FP32, then fp16: the pseudo
// checkpoint's rule, DESIGN §4) to the pseudo checkpoint's stored weight; returns the modules compared.
int check_against_pseudo(const fs::path& pseudo_dir, const fs::path& packed_dir, bool modelopt) {
  const io::ModelDir pseudo(pseudo_dir), packed(packed_dir);
  const io::SafetensorsFile scales(pseudo_dir / "pseudo_quantized_model-4bit-16g_scales.safetensors");
  int modules = 0;
  for (const auto& name : packed.tensor_names()) {
    const std::string suffix = modelopt ? ".weight_scale_2" : ".weight_global_scale";
    if (!name.ends_with(suffix)) continue;
    const std::string M = name.substr(0, name.size() - suffix.size());
    SCOPED_TRACE(M);
    const auto codes_t = tensor_bytes(packed, M + (modelopt ? ".weight" : ".weight_packed"));
    const auto block_scales = tensor_bytes(packed, M + ".weight_scale");
    const float global = scalar(packed, name);
    // The pseudo weight: per expert in a per-expert source; the tiny fused model is compared through the
    // per-expert one elsewhere (moe_layout_test), so only 2D modules here.
    if (!pseudo.has(M + ".weight")) continue;
    const auto stored = pseudo.tensor(M + ".weight").read_f32();
    EXPECT_EQ(block_scales,
              std::string(reinterpret_cast<const char*>(scales.bytes(scales.at(M + ".per_block_scale")).data()),
                          block_scales.size()));
    float want_s2 = 0;
    scales.read_f32(scales.at(M + ".scale_2"), 0, 1, &want_s2);
    if (modelopt) {
      EXPECT_EQ(global, want_s2);
    } else {
      EXPECT_EQ(global, want_s2 == 0 ? 1.0f : 1.0f / want_s2);
    }
    const auto codes = nvfp4::unpack_nibbles(reinterpret_cast<const uint8_t*>(codes_t.data()), codes_t.size() * 2);
    EXPECT_EQ(codes.size(), stored.size());
    if (codes.size() != stored.size()) return -1;
    size_t differ = 0;
    for (size_t i = 0; i < codes.size(); ++i) {
      EXPECT_FALSE(codes[i] == 8) << "negative zero code at " << i;  // canonical: every zero is code 0
      const float eff =
          numeric::e4m3_to_f32(static_cast<uint8_t>(block_scales[i / 16])) * (modelopt ? global : want_s2);
      const float v = numeric::f16_to_f32(numeric::f32_to_f16(numeric::e2m1_decode(codes[i]) * eff));
      differ += v != stored[i];
    }
    EXPECT_EQ(differ, 0u);
    ++modules;
  }
  return modules;
}

TEST(PackedOutput, CodesAreThePseudoCheckpointsAndExportEqualsTheRunWrittenPacked) {
  test::ScratchDir d;
  for (const bool moe : {false, true}) {
    SCOPED_TRACE(moe ? "moe" : "dense");
    const fs::path model = d / (moe ? "moe" : "dense");
    tools::make_tiny_model(model, model_options(moe, false));
    quantize(model, d / (model.filename().string() + "-pseudo"), Format::Pseudo);
    for (const auto format : {Format::CompressedTensors, Format::ModelOpt}) {
      const bool mo = format == Format::ModelOpt;
      const fs::path packed = d / (model.filename().string() + (mo ? "-mo" : "-ct"));
      quantize(model, packed, format, Activations::NVFP4);
      EXPECT_EQ(check_against_pseudo(d / (model.filename().string() + "-pseudo"), packed, mo),
                moe ? 2 * (4 + 4 * 3) : 14);
      ExportConfig x;
      x.format = format;
      x.activations = Activations::NVFP4;
      x.model_dir = model;
      x.quiet = true;
      const fs::path exported = packed.string() + "-x";
      const auto r = export_checkpoint(d / (model.filename().string() + "-pseudo"), exported, x);
      EXPECT_GT(r.input_bytes, r.output_bytes);
      for (const char* f : {"model.safetensors", "config.json", "quantize_config.json", "model.safetensors.index.json"})
        EXPECT_EQ(file_bytes(exported / f), file_bytes(packed / f)) << f;
      EXPECT_EQ(fs::exists(packed / "hf_quant_config.json"), mo);
      // Evaluated on load as the engines decode it: the pseudo checkpoint's perplexity (ModelOpt exactly; the
      // compressed-tensors reciprocal within its fp32 ulp), and W4A4 simulated (inputs quantized too).
      EvalConfig e;
      e.seqlen = 32;
      e.quiet = true;
      const auto data = model / "calibration.jsonl";
      const double pseudo_ppl = evaluate_perplexity(d / (model.filename().string() + "-pseudo"), data, e).ppl;
      const double w4a4 = evaluate_perplexity(packed, data, e).ppl;
      EXPECT_TRUE(std::isfinite(w4a4));
      EXPECT_NE(w4a4, pseudo_ppl);
      const fs::path a16 = packed.string() + "-a16";
      quantize(model, a16, format);
      EXPECT_NEAR(evaluate_perplexity(a16, data, e).ppl / pseudo_ppl, 1.0, mo ? 1e-6 : 1e-4);
    }
  }
}

TEST(PackedOutput, RefusesWhatTheEnginesCannotLoad) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "m", model_options(false, false));
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.format = Format::CompressedTensors;
  cfg.fuse_scales = false;
  test::expect_error([&] { check_config(cfg); }, {"fused global scales"});
  cfg.fuse_scales = true;
  cfg.exclude = {R"(layers\.1\.self_attn\.v_proj)"};
  test::expect_error([&] { CausalLM::from_pretrained(d / "m", cfg); },
                     {"model.layers.1.self_attn.v_proj would be left unquantized", "q_proj", "k_proj"});
  cfg.exclude = {};
  cfg.algorithm = Algorithm::RTN;
  cfg.activations = Activations::NVFP4;
  test::expect_error([&] { check_config(cfg); }, {"W4A4", "calibration"});
}

TEST(PackedOutput, ExportOfAWeightOffTheGridOrWithoutScalesWritesNothing) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "m", model_options(false, false));
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.algorithm = Algorithm::RTN;
  cfg.work_dir = d.path();
  auto lm = CausalLM::from_pretrained(d / "m", cfg);
  lm.quantize();
  lm.save_quantized(d / "pseudo");
  // One stored weight moved off its grid by one fp16 ulp (element [2, 7] of layer 0's up_proj).
  const fs::path main = d / "pseudo" / "pseudo_quantized_model-4bit-16g.safetensors";
  std::string bytes = test::read_text(main);
  size_t at = 0;
  {
    const io::SafetensorsFile f(main);
    const auto& t = f.at("model.layers.0.mlp.up_proj.weight");
    at = f.header_bytes().size() + t.begin + static_cast<size_t>((2 * t.shape[1] + 7) * 2);
  }
  uint16_t h = 0;
  std::memcpy(&h, bytes.data() + at, 2);
  h = (h & 0x7fff) ? h + 1 : 0x3c00;
  std::memcpy(bytes.data() + at, &h, 2);
  test::write_text(main, bytes);
  ExportConfig x;
  x.quiet = true;
  test::expect_error([&] { export_checkpoint(d / "pseudo", d / "out", x); },
                     {"'model.layers.0.mlp.up_proj.weight'", "[2, 7]", "no NVFP4 grid point"});
  EXPECT_FALSE(fs::exists(d / "out"));
  EXPECT_TRUE(test::nothing_named(d.path(), "out"));
  fs::remove(d / "pseudo" / "pseudo_quantized_model-4bit-16g_scales.safetensors");
  test::expect_error([&] { export_checkpoint(d / "pseudo", d / "out", x); }, {"_scales.safetensors", "missing"});
  EXPECT_FALSE(fs::exists(d / "out"));
}

}  // namespace
}  // namespace fp4gptq
