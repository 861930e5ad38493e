"""examples/quantize_qwen3.py, the AutoGPTQ-shaped script, runs on a generated model and writes what the CLI
writes for the same calibration examples."""
import json
import os
import subprocess
import sys

from conftest import SOURCE, TOKENIZERS, file_digests, report_rows, run_cli


def test_the_script_quantizes_a_tiny_model_as_the_cli(dense_model, tmp_path):
    r = subprocess.run([sys.executable, str(SOURCE / "examples/quantize_qwen3.py"), "--model_name", str(dense_model),
                        "--calib", str(TOKENIZERS / "eval/eval.jsonl"), "--num_calibrations", "12", "--seqlen", "40",
                        "--out", str(tmp_path / "py"), "--threads", "2"], capture_output=True, text=True,
                       env=os.environ)
    assert r.returncode == 0, r.stderr
    assert "14 modules quantized (0 fallbacks, 0 left unquantized) on 12 samples" in r.stdout
    assert "[gptq] layer 2/2 done" in r.stderr  # progress through logging, set up by the script
    run_cli("quantize", "--model", dense_model, "--calib", TOKENIZERS / "eval/eval.jsonl", "--nsamples", 12,
            "--seqlen", 40, "--threads", 2, "--out", tmp_path / "cli", "--quiet")
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    assert report_rows(tmp_path / "py") == report_rows(tmp_path / "cli")
    assert json.loads((tmp_path / "py/quantize_config.json").read_text())["quant_method"] == "nvfp4"


def test_the_script_writes_a_packed_checkpoint(dense_model, tmp_path):
    r = subprocess.run([sys.executable, str(SOURCE / "examples/quantize_qwen3.py"), "--model_name", str(dense_model),
                        "--calib", str(TOKENIZERS / "eval/eval.jsonl"), "--num_calibrations", "12", "--seqlen", "40",
                        "--out", str(tmp_path / "py"), "--threads", "2", "--format", "modelopt", "--activations",
                        "nvfp4"], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    run_cli("quantize", "--model", dense_model, "--calib", TOKENIZERS / "eval/eval.jsonl", "--nsamples", 12,
            "--seqlen", 40, "--threads", 2, "--out", tmp_path / "cli", "--quiet", "--format", "modelopt",
            "--activations", "nvfp4")
    assert file_digests(tmp_path / "py") == file_digests(tmp_path / "cli")
    assert json.loads((tmp_path / "py/hf_quant_config.json").read_text())["quantization"]["quant_algo"] == "NVFP4"
