// MoE checkpoints in both expert layouts (DESIGN §7): per-expert 2D tensors and the fused 3D tensors
// (mlp.experts.gate_up_proj [E, 2·I, H], mlp.experts.down_proj [E, H, I]). The same weights in either layout
// must give the same per-expert results, the output keeps the input's layout, and expert solves running
// side by side on several threads give the same bytes as one thread.
#include <gtest/gtest.h>

#include "calib/calibration.hpp"
#include "fp4gptq/fp4gptq.hpp"
#include "io/json_file.hpp"
#include "pipeline/checkpoint_output.hpp"
#include "pipeline/eval_ppl.hpp"
#include "pipeline/quantize.hpp"
#include "pipeline/rtn.hpp"
#include "tests/pipeline/checkpoint_checks.hpp"
#include "tests/test_support.hpp"

namespace fp4gptq {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kExperts = 4, kInter = 32, kHidden = 64;
constexpr const char* kScales = "pseudo_quantized_model-4bit-16g_scales.safetensors";

tools::TinyModelOptions moe_model(bool fused) {
  auto o = test::tiny_dense("Qwen3MoeForCausalLM");
  o.experts = kExperts;
  o.experts_per_tok = 2;
  o.moe_intermediate = kInter;
  o.mlp_only_layers = {1};
  o.calib_samples = 12;
  o.calib_seqlen = 48;
  o.fused_experts = fused;
  return o;
}

void quantize(const fs::path& model, const fs::path& out, const fs::path& work, int threads = 0,
              std::vector<std::string> exclude = {}) {
  QuantizeConfig cfg;
  cfg.quiet = true;
  cfg.work_dir = work;
  cfg.threads = threads;
  cfg.exclude = std::move(exclude);
  auto lm = CausalLM::from_pretrained(model, cfg);
  lm.quantize(load_examples(model / "calibration.jsonl", lm.vocab_size()));
  lm.save_quantized(out);
}

void rtn(const fs::path& model, const fs::path& out, bool fuse_scales = true) {
  pipeline::RtnOptions o;
  o.model_dir = model;
  o.out_dir = out;
  o.quiet = true;
  o.fuse_scales = fuse_scales;
  pipeline::run_rtn(o);
}

std::string bytes_of(const io::SafetensorsFile& f, const std::string& name, uint64_t first = 0, uint64_t count = 0) {
  const auto& t = f.at(name);
  const auto b = f.bytes(t);
  const size_t esize = numeric::dtype_size(t.dtype);
  if (count == 0) count = b.size() / esize;
  return std::string(reinterpret_cast<const char*>(b.data()) + first * esize, count * esize);
}

// Every expert's weight, per_block_scale, scale_2, g_idx (and input_amax) in the fused output `fused` equal
// the per-expert output `per_expert`'s; every other tensor is the same bytes.
void expect_same_per_expert(const fs::path& per_expert, const fs::path& fused, bool input_amax) {
  const io::SafetensorsFile pm(per_expert / "pseudo_quantized_model-4bit-16g.safetensors"),
      fm(fused / "pseudo_quantized_model-4bit-16g.safetensors"), ps(per_expert / kScales), fs_(fused / kScales);
  const std::string L = "model.layers.0.mlp.experts.";
  size_t compared = 0;
  for (int64_t e = 0; e < kExperts; ++e) {
    const std::string x = L + std::to_string(e) + ".";
    // (module, fused tensor, row of the slice in the fused tensor, rows, cols, index into M.scale_2)
    const std::tuple<std::string, std::string, int64_t, int64_t, int64_t, int64_t> mods[] = {
        {x + "gate_proj", L + "gate_up_proj", e * 2 * kInter, kInter, kHidden, e * 2},
        {x + "up_proj", L + "gate_up_proj", (e * 2 + 1) * kInter, kInter, kHidden, e * 2 + 1},
        {x + "down_proj", L + "down_proj", e * kHidden, kHidden, kInter, e}};
    for (const auto& [m, M, row, rows, cols, s2] : mods) {
      SCOPED_TRACE(m);
      EXPECT_EQ(bytes_of(pm, m + ".weight"),
                bytes_of(fm, M, static_cast<uint64_t>(row * cols), static_cast<uint64_t>(rows * cols)));
      EXPECT_EQ(bytes_of(ps, m + ".per_block_scale"),
                bytes_of(fs_, M + ".per_block_scale", static_cast<uint64_t>(row * cols / 16),
                         static_cast<uint64_t>(rows * cols / 16)));
      EXPECT_EQ(bytes_of(ps, m + ".scale_2"), bytes_of(fs_, M + ".scale_2", static_cast<uint64_t>(s2), 1));
      EXPECT_EQ(bytes_of(ps, m + ".g_idx"), bytes_of(fs_, M + ".g_idx"));
      if (input_amax) {
        EXPECT_EQ(bytes_of(ps, m + ".input_amax"), bytes_of(fs_, M + ".input_amax", static_cast<uint64_t>(e), 1));
      }
      ++compared;
    }
  }
  EXPECT_EQ(compared, 3u * kExperts);
  for (const auto& t : pm.tensors()) {
    if (t.name.find(".experts.") == std::string::npos) {
      EXPECT_EQ(bytes_of(pm, t.name), bytes_of(fm, t.name)) << t.name;
    }
  }
}

TEST(MoeLayout, TinyModelWritesTheSameWeightsInBothLayouts) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "per", moe_model(false));
  tools::make_tiny_model(d / "fused", moe_model(true));
  const io::ModelDir per(d / "per"), fused(d / "fused");
  EXPECT_TRUE(fused.has("model.layers.0.mlp.experts.gate_up_proj"));
  EXPECT_FALSE(fused.has("model.layers.0.mlp.experts.0.gate_proj.weight"));
  EXPECT_EQ(fused.tensor("model.layers.0.mlp.experts.gate_up_proj").info->shape,
            (io::Shape{kExperts, 2 * kInter, kHidden}));
  EXPECT_EQ(fused.tensor("model.layers.0.mlp.experts.down_proj").info->shape, (io::Shape{kExperts, kHidden, kInter}));
  EXPECT_TRUE(fused.has("model.layers.1.mlp.gate_proj.weight")) << "layer 1 is dense (mlp_only_layers)";
  const auto gu = fused.tensor("model.layers.0.mlp.experts.gate_up_proj").read_f32();
  const auto down = fused.tensor("model.layers.0.mlp.experts.down_proj").read_f32();
  for (int64_t e = 0; e < kExperts; ++e) {
    const std::string x = "model.layers.0.mlp.experts." + std::to_string(e) + ".";
    const auto g = per.tensor(x + "gate_proj.weight").read_f32(), u = per.tensor(x + "up_proj.weight").read_f32(),
               dn = per.tensor(x + "down_proj.weight").read_f32();
    // transformers' chunk: rows 0..I-1 of gate_up_proj[e] are gate, I..2I-1 up
    EXPECT_TRUE(std::equal(g.begin(), g.end(), gu.begin() + e * 2 * kInter * kHidden)) << e;
    EXPECT_TRUE(std::equal(u.begin(), u.end(), gu.begin() + (e * 2 + 1) * kInter * kHidden)) << e;
    EXPECT_TRUE(std::equal(dn.begin(), dn.end(), down.begin() + e * kHidden * kInter)) << e;
  }
}

TEST(MoeLayout, EvalPplIsTheSameInBothLayouts) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "per", moe_model(false));
  tools::make_tiny_model(d / "fused", moe_model(true));
  std::vector<int32_t> stream;
  for (const auto& s : calib::read_token_jsonl(d / "per" / "calibration.jsonl", 128).samples)
    stream.insert(stream.end(), s.begin(), s.end());
  const auto per = pipeline::eval_perplexity(linalg::Context(), io::ModelDir(d / "per"), stream, 48,
                                             model::Compute::F32, numeric::DType::F32, true);
  const auto fused = pipeline::eval_perplexity(linalg::Context(), io::ModelDir(d / "fused"), stream, 48,
                                               model::Compute::F32, numeric::DType::F32, true);
  EXPECT_GT(per.ppl, 1.0);
  EXPECT_EQ(per.ppl, fused.ppl);
}

TEST(MoeLayout, FusedQuantizeMatchesPerExpertAndKeepsTheLayout) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "per", moe_model(false));
  tools::make_tiny_model(d / "fused", moe_model(true));
  quantize(d / "per", d / "qper", d.path());
  quantize(d / "fused", d / "qfused", d.path());
  test::check_checkpoint(d / "fused", d / "qfused", {{}, numeric::DType::F16, true, true});
  expect_same_per_expert(d / "qper", d / "qfused", /*input_amax=*/true);

  const auto per = io::read_json(d / "qper" / "quantization_report.json")["modules"];
  const auto fused = io::read_json(d / "qfused" / "quantization_report.json")["modules"];
  ASSERT_EQ(per.size(), fused.size());
  for (const auto& [name, m] : per.items()) {
    ASSERT_TRUE(fused.contains(name)) << name;
    EXPECT_EQ(m["rel_err"], fused[name]["rel_err"]) << name;
    EXPECT_EQ(m["tokens"], fused[name]["tokens"]) << name;
  }
  EXPECT_EQ(fused["model.layers.0.mlp.experts.1.up_proj"]["stored_in"],
            "model.layers.0.mlp.experts.gate_up_proj[1, 32:64]");
}

TEST(MoeLayout, FusedRtnMatchesPerExpert) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "per", moe_model(false));
  tools::make_tiny_model(d / "fused", moe_model(true));
  for (const bool fuse : {true, false}) {  // scale_2 [E, 2]: gate's and up's own with --no-fuse-scales
    SCOPED_TRACE(fuse ? "fused scale_2" : "per-tensor scale_2");
    const std::string tag = fuse ? "" : "-nofuse";
    rtn(d / "per", d / ("rper" + tag), fuse);
    rtn(d / "fused", d / ("rfused" + tag), fuse);
    test::check_checkpoint(d / "fused", d / ("rfused" + tag), {{}, numeric::DType::F16, fuse, false});
    expect_same_per_expert(d / ("rper" + tag), d / ("rfused" + tag), /*input_amax=*/false);
  }
}

TEST(MoeLayout, ExcludeMatchesTheFusedTensorName) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "fused", moe_model(true));
  const std::vector<std::string> exclude = {R"(mlp\.experts\.down_proj$)"};
  quantize(d / "fused", d / "q", d.path(), 0, exclude);
  // down_proj stays the source cast; gate_up_proj is quantized (both checked by check_checkpoint)
  test::check_checkpoint(d / "fused", d / "q", {exclude, numeric::DType::F16, true, true});
  const io::SafetensorsFile scales(d / "q" / kScales);
  EXPECT_TRUE(scales.find("model.layers.0.mlp.experts.gate_up_proj.per_block_scale"));
  EXPECT_FALSE(scales.find("model.layers.0.mlp.experts.down_proj.per_block_scale"));
  const auto skipped = io::read_json(d / "q" / "quantization_report.json")["skipped"];
  EXPECT_EQ(skipped.size(), static_cast<size_t>(kExperts));
}

// An expert's routed tokens gathered a few rows at a time (as past QuantizeOptions::expert_rows on a large
// calibration set) give the Hessians of one gather; with f64 accumulation, the same bytes.
TEST(MoeLayout, ExpertTokensInPiecesGiveTheSameResult) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "fused", moe_model(true));
  const io::ModelDir src(d / "fused");
  const auto plan = model::plan_model(src);
  const auto calib = calib::load_calibration(d / "fused" / "calibration.jsonl", 128, {});
  // Matmul tiles of 16 rows; an expert's ~100 tokens gathered 16 at a time or all at once. FP32 Hessians: the
  // accumulator sums rows in fixed chunks, whatever pieces they come in.
  for (const int64_t rows : {int64_t{1} << 20, int64_t{16}}) {
    pipeline::QuantizeOptions o;
    o.quiet = true;
    o.expert_tile = 16;
    o.expert_rows = rows;
    const auto out = d / ("rows" + std::to_string(rows));
    io::CheckpointWriter w(out, false, pipeline::make_checkpoint_plan(src, plan, numeric::DType::F16, 0, true));
    pipeline::quantize_into(w, src, plan, calib, o);
    w.commit();
  }
  test::expect_same_safetensors(d / "rows1048576", d / "rows16");
}

TEST(MoeLayout, ParallelExpertSolvesGiveTheBytesOfOneThread) {
  test::ScratchDir d;
  tools::make_tiny_model(d / "fused", moe_model(true));
  quantize(d / "fused", d / "t1", d.path(), 1);
  quantize(d / "fused", d / "t2", d.path(), 2);
  test::expect_same_safetensors(d / "t1", d / "t2");
}

}  // namespace
}  // namespace fp4gptq
