"""The AutoGPTQ-shaped flow gives the CLI's bytes: dense (text through the tokenizer) and MoE (both expert layouts,
token ids), and quantize(FILE) reads a calibration file as `fp4gptq quantize --calib` does."""
import json

import pytest

import fp4gptq
from fp4gptq import AutoGPTQForCausalLM, AutoTokenizer, BaseQuantizeConfig, QUANT_METHOD
from conftest import TOKENIZERS, file_digests, report_rows, run_cli, token_examples

CALIB_TEXT = TOKENIZERS / "eval/eval.jsonl"


def python_quantize(model_dir, examples, out, **config):
    cfg = BaseQuantizeConfig(bits=4, group_size=16, desc_act=False, quant_method=QUANT_METHOD.NVFP4, quiet=True,
                             **config)
    model = AutoGPTQForCausalLM.from_pretrained(model_dir, cfg)
    report = model.quantize(examples, use_triton=False, cache_examples_on_gpu=False)
    model.save_quantized(out, use_safetensors=True)
    return report


def test_text_examples_from_the_tokenizer_match_the_cli(dense_model, tmp_path):
    run_cli("quantize", "--model", dense_model, "--calib", CALIB_TEXT, "--nsamples", 10, "--seqlen", 48,
            "--out", tmp_path / "cli", "--quiet")
    tokenizer = AutoTokenizer.from_pretrained(dense_model)
    texts = [json.loads(l)["text"] for l in CALIB_TEXT.read_text().splitlines()]
    examples = [e for e in (tokenizer(t, truncation=True, max_length=48) for t in texts) if e["input_ids"]][:10]
    assert len(examples) == 10
    report = python_quantize(dense_model, examples, tmp_path / "py")
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    assert report_rows(tmp_path / "py") == report_rows(tmp_path / "cli")
    # The report: the CLI's summary figures, one row per quantized module.
    cli = json.loads((tmp_path / "cli/quantization_report.json").read_text())
    assert report["modules"] == cli["summary"]["quantized_modules"] == len(report["per_module"]) == 14
    assert report["samples"] == 10 and report["tokens"] == sum(len(e["input_ids"]) for e in examples)
    assert report["mean_rel_err"] == pytest.approx(cli["summary"]["mean_rel_err"], rel=1e-12)
    assert report["per_module"][0]["module"] == "model.layers.0.self_attn.q_proj"
    assert report["per_module"][0]["rel_err"] == cli["modules"]["model.layers.0.self_attn.q_proj"]["rel_err"]


@pytest.mark.parametrize("fixture", ["moe_model", "moe_fused_model"])
def test_moe_token_examples_match_the_cli(fixture, request, tmp_path):
    model_dir = request.getfixturevalue(fixture)
    run_cli("quantize", "--model", model_dir, "--calib", model_dir / "calibration.jsonl", "--nsamples", 8, "--seqlen",
            20, "--out", tmp_path / "cli", "--quiet", "--threads", 2)
    python_quantize(model_dir, token_examples(model_dir, 8, 20), tmp_path / "py", threads=2)
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    assert report_rows(tmp_path / "py") == report_rows(tmp_path / "cli")


@pytest.mark.parametrize("mode", ["documents", "windows"])
def test_quantize_of_a_file_is_the_cli_run(dense_model, tmp_path, mode):
    options = dict(nsamples=6, seqlen=32, calib_mode=mode, seed=3, damp_percent=0.02, dtype="bfloat16",
                   model_file_base_name="gptq_model-4bit-16g", exclude=["mlp\\.down_proj"])
    run_cli("quantize", "--model", dense_model, "--calib", CALIB_TEXT, "--nsamples", 6, "--seqlen", 32, "--calib-mode",
            mode, "--seed", 3, "--damp", 0.02, "--dtype", "bfloat16", "--model-file-base-name", "gptq_model-4bit-16g",
            "--exclude", "mlp\\.down_proj", "--out", tmp_path / "cli", "--quiet")
    python_quantize(dense_model, str(CALIB_TEXT), tmp_path / "py", **options)
    digests = file_digests(tmp_path / "py")
    assert digests == file_digests(tmp_path / "cli")
    assert "gptq_model-4bit-16g.safetensors" in digests and "gptq_model-4bit-16g_scales.safetensors" in digests
    for d in ("py", "cli"):
        assert json.loads((tmp_path / d / "quantize_config.json").read_text())["model_file_base_name"] == \
            "gptq_model-4bit-16g"
    py, cli = (json.loads((tmp_path / d / "quantization_report.json").read_text()) for d in ("py", "cli"))
    assert py["calibration"] == cli["calibration"] and py["calibration"]["mode"] == mode
    assert report_rows(tmp_path / "py") == report_rows(tmp_path / "cli")
    assert set(py["skipped"]) == {"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"}


def test_rtn_needs_no_examples_and_matches_the_cli(moe_model, tmp_path):
    run_cli("rtn", "--model", moe_model, "--out", tmp_path / "cli", "--quiet")
    report = python_quantize(moe_model, None, tmp_path / "py", algorithm="rtn")
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    assert report["samples"] == 0 and report["modules"] > 0


def test_gptq_without_examples_is_refused(dense_model):
    model = fp4gptq.CausalLM.from_pretrained(dense_model, BaseQuantizeConfig(quiet=True))
    with pytest.raises(ValueError, match="needs calibration examples"):
        model.quantize()


def test_eval_ppl_is_the_clis(dense_model):
    data = TOKENIZERS / "eval/eval.txt"
    r = fp4gptq.eval_ppl(dense_model, data, seqlen=64, quiet=True)
    out = run_cli("eval-ppl", "--model", dense_model, "--data", data, "--seqlen", 64, "--quiet").stdout
    assert f"ppl {r['ppl']:.6f}" in out
    assert r["windows"] > 0 and r["scored_tokens"] == r["windows"] * 63


@pytest.mark.parametrize("fmt", ("compressed-tensors", "modelopt"))
def test_packed_formats_and_export_match_the_cli(moe_fused_model, tmp_path, fmt):
    """format= and activations= write the CLI's packed checkpoint; dtype= casts its unquantized tensors as --dtype;
    fp4gptq.export_checkpoint is `fp4gptq export`."""
    examples = token_examples(moe_fused_model, 8, 20)
    cli = ("quantize", "--model", moe_fused_model, "--calib", moe_fused_model / "calibration.jsonl", "--nsamples", 8,
           "--seqlen", 20, "--quiet", "--threads", 2, "--format", fmt, "--activations", "nvfp4")
    run_cli(*cli, "--out", tmp_path / "cli")
    python_quantize(moe_fused_model, examples, tmp_path / "py", threads=2, format=fmt, activations="nvfp4")
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    run_cli(*cli, "--dtype", "bfloat16", "--out", tmp_path / "cli-bf16")
    python_quantize(moe_fused_model, examples, tmp_path / "py-bf16", threads=2, format=fmt, activations="nvfp4",
                    dtype="bfloat16")
    assert file_digests(tmp_path / "py-bf16") == file_digests(tmp_path / "cli-bf16")
    run_cli("quantize", "--model", moe_fused_model, "--calib", moe_fused_model / "calibration.jsonl", "--nsamples", 8,
            "--seqlen", 20, "--quiet", "--threads", 2, "--out", tmp_path / "pseudo")
    r = fp4gptq.export_checkpoint(tmp_path / "pseudo", tmp_path / "x", format=fmt, activations="nvfp4",
                                  model_dir=moe_fused_model, quiet=True)
    assert r["modules"] == 2 * (4 * 3 + 4) and r["input_bytes"] > r["output_bytes"] > 0
    assert file_digests(tmp_path / "x") == file_digests(tmp_path / "cli")
    with pytest.raises(fp4gptq.InvalidInputError, match="format"):
        BaseQuantizeConfig(format="gguf")
    with pytest.raises(fp4gptq.InvalidInputError, match="W4A4"):
        BaseQuantizeConfig(algorithm="rtn", format=fmt, activations="nvfp4")
