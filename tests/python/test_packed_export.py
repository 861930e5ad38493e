"""Packed NVFP4 outputs end to end through the CLI (docs/DESIGN.md §7b): `export --model ORIG` of a pseudo checkpoint
equals `quantize --format` of the same run byte for byte; eval-ppl reads all three formats and agrees; inspect
names them; what the engines cannot load and what is not an NVFP4 checkpoint are refused with nothing written."""
import json
import math
import pathlib
import re
import shutil
import struct

import pytest

from conftest import file_digests, run_cli

FORMATS = ("compressed-tensors", "modelopt")


def quantize(model, out, *extra):
    run_cli("quantize", "--model", model, "--calib", pathlib.Path(model) / "calibration.jsonl", "--out", out,
            "--threads", 2, "--quiet", *extra)
    return out


@pytest.fixture(scope="module", params=("dense_model", "moe_model", "moe_fused_model"))
def runs(request, tmp_path_factory):
    """The pseudo checkpoint and the four packed ones of one model, each from its own quantize run."""
    model = request.getfixturevalue(request.param)
    d = tmp_path_factory.mktemp("packed-" + request.param)
    out = {"model": model, "dir": d, "pseudo": quantize(model, d / "pseudo")}
    for f in FORMATS:
        for a in ("none", "nvfp4"):
            out[f, a] = quantize(model, d / f"{f}-{a}", "--format", f, "--activations", a)
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("act", ("none", "nvfp4"))
def test_export_with_the_original_equals_quantize_with_the_format(runs, fmt, act, tmp_path):
    out = tmp_path / "x"
    run_cli("export", "--from", runs["pseudo"], "--model", runs["model"], "--format", fmt, "--activations", act,
            "--out", out, "--quiet")
    assert file_digests(out) == file_digests(runs[fmt, act])
    assert (out / "model.safetensors").exists() and not list(out.glob("*_scales.safetensors"))


def test_export_without_the_original_keeps_the_pseudo_dtype(runs, tmp_path):
    out = tmp_path / "x"
    run_cli("export", "--from", runs["pseudo"], "--format", "modelopt", "--out", out, "--quiet")
    header = read_header(out / "model.safetensors")
    assert header["model.norm.weight"]["dtype"] == "F16"  # copied as the pseudo checkpoint has it
    assert header["model.layers.0.self_attn.q_proj.weight"]["dtype"] == "U8"
    # the packed tensors equal those of the run written packed
    packed = read_header(runs["modelopt", "none"] / "model.safetensors")
    for name, info in header.items():
        if info.get("dtype") in ("U8", "F8_E4M3"):
            assert tensor_bytes(out / "model.safetensors", name) == tensor_bytes(
                runs["modelopt", "none"] / "model.safetensors", name), name
    assert {k for k, v in header.items() if v.get("dtype") == "U8"} == {
        k for k, v in packed.items() if v.get("dtype") == "U8"}


def ppl(model, data, *extra):
    line = run_cli("eval-ppl", "--model", model, "--data", data, "--seqlen", 24, "--quiet", *extra).stdout
    return float(re.search(r"ppl ([0-9.]+)", line).group(1))


def test_eval_ppl_reads_every_format_alike(runs):
    data = pathlib.Path(runs["model"]) / "calibration.jsonl"
    pseudo = ppl(runs["pseudo"], data)
    assert ppl(runs["modelopt", "none"], data) == pytest.approx(pseudo, rel=1e-6)
    assert ppl(runs["compressed-tensors", "none"], data) == pytest.approx(pseudo, rel=1e-4)
    # W4A4: the activations are quantized too, so the perplexity moves. The two formats' input global scales
    # differ in their last bit (2688/amax vs 1/(amax/2688), as each engine computes it), which can move an
    # activation block scale, so their perplexities are close but need not be equal.
    for fmt in FORMATS:
        w4a4 = ppl(runs[fmt, "nvfp4"], data)
        assert w4a4 != pseudo and math.isfinite(w4a4)


def test_export_keeps_the_scale_choices(dense_model, tmp_path):
    """A pseudo checkpoint of --block-scale-search mse --scale2-max 256 exported equals the run written packed,
    and both record the choices (docs/DESIGN.md §4b)."""
    flags = ("--block-scale-search", "mse", "--scale2-max", 256)
    pseudo = quantize(dense_model, tmp_path / "pseudo", *flags)
    packed = quantize(dense_model, tmp_path / "packed", "--format", "modelopt", *flags)
    run_cli("export", "--from", pseudo, "--model", dense_model, "--format", "modelopt", "--out", tmp_path / "x",
            "--quiet")
    assert file_digests(tmp_path / "x") == file_digests(packed)
    for d in (pseudo, packed):
        qc = json.loads((d / "quantize_config.json").read_text())
        assert qc["block_scale_search"] == "mse" and qc["scale2_max"] == 256


def test_eval_kld_judges_every_format_against_the_original(runs, tmp_path):
    """eval (docs/DESIGN.md §8b) on the three formats of one run: the W4A16 ones hold the same weights, so the
    same divergence; the base's stored logits give what the base itself gives."""
    import fp4gptq
    data = pathlib.Path(runs["model"]) / "calibration.jsonl"
    kw = dict(data=data, seqlen=24, quiet=True)
    pseudo = fp4gptq.eval_kld(runs["pseudo"], runs["model"], save_base_logits=tmp_path / "base.lp", **kw)
    assert pseudo["kld"]["mean"] > 0 and 0.5 < pseudo["top1_agreement"] <= 1
    assert pseudo["ppl_model"] == pytest.approx(ppl(runs["pseudo"], data), rel=1e-6)
    for fmt in FORMATS:
        packed = fp4gptq.eval_kld(runs[fmt, "none"], runs["model"], **kw)
        assert packed["kld"]["mean"] == pytest.approx(pseudo["kld"]["mean"], rel=1e-3), fmt
        stored = fp4gptq.eval_kld(runs[fmt, "none"], base_logits=tmp_path / "base.lp", quiet=True)
        assert stored["kld"]["mean"] == pytest.approx(packed["kld"]["mean"], rel=1e-3), fmt
        assert stored["ppl_base"] == packed["ppl_base"]
        w4a4 = fp4gptq.eval_kld(runs[fmt, "nvfp4"], runs["model"], **kw)
        assert w4a4["kld"]["mean"] > pseudo["kld"]["mean"], fmt  # the activations are quantized too
    same = fp4gptq.eval_kld(runs["modelopt", "none"], runs["modelopt", "none"], **kw)
    assert same["kld"]["max"] == 0 and same["top1_agreement"] == 1
    other = tmp_path / "reversed.jsonl"
    other.write_text("".join(reversed(data.read_text().splitlines(keepends=True))))
    with pytest.raises(fp4gptq.InvalidInputError, match="other tokens"):
        fp4gptq.eval_kld(runs["pseudo"], base_logits=tmp_path / "base.lp", data=other, quiet=True)


def test_inspect_names_the_format(runs):
    text = {k: run_cli("inspect", "--model", runs[k]).stdout for k in
            ("model", "pseudo", ("compressed-tensors", "none"), ("modelopt", "nvfp4"))}
    assert "format       original weights" in text["model"]
    assert "format       pseudo-quantized NVFP4 (gptq)" in text["pseudo"]
    assert "compressed-tensors nvfp4-pack-quantized NVFP4 (W4A16)" in text["compressed-tensors", "none"]
    assert "modelopt NVFP4 (W4A4)" in text["modelopt", "nvfp4"]


def test_packed_configs_say_what_the_engines_read(runs):
    ct = json.loads((runs["compressed-tensors", "nvfp4"] / "config.json").read_text())["quantization_config"]
    assert (ct["quant_method"], ct["format"], ct["quantization_status"]) == (
        "compressed-tensors", "nvfp4-pack-quantized", "compressed")
    group = ct["config_groups"]["group_0"]
    assert group["targets"] == ["Linear"]
    for args in (group["weights"], group["input_activations"]):
        assert (args["num_bits"], args["type"], args["strategy"], args["group_size"], args["symmetric"]) == (
            4, "float", "tensor_group", 16, True)
    assert group["weights"]["dynamic"] is False and group["input_activations"]["dynamic"] == "local"
    assert "lm_head" in ct["ignore"]
    a16 = json.loads((runs["compressed-tensors", "none"] / "config.json").read_text())["quantization_config"]
    assert a16["config_groups"]["group_0"]["input_activations"] is None
    mo = json.loads((runs["modelopt", "none"] / "hf_quant_config.json").read_text())["quantization"]
    assert (mo["quant_algo"], mo["group_size"], mo["kv_cache_quant_algo"]) == ("W4A16_NVFP4", 16, None)
    assert json.loads((runs["modelopt", "none"] / "config.json").read_text())["quantization_config"][
        "quant_method"] == "modelopt"
    # torch_dtype: the source's (bf16 tensors stay bf16)
    assert json.loads((runs["modelopt", "none"] / "config.json").read_text())["torch_dtype"] == "bfloat16"


# --- what is refused, before any work or with nothing left behind -----------------------------------------------

def read_header(path):
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n])


def tensor_bytes(path, name):
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    b, e = json.loads(data[8:8 + n])[name]["data_offsets"]
    return data[8 + n + b:8 + n + e]


def refused(args, *expected, out=None):
    r = run_cli(*args, check=False)
    assert r.returncode == 2, r.stderr
    for e in expected:
        assert e in r.stderr, r.stderr
    if out is not None:
        assert not pathlib.Path(out).exists(), "a refused run left its output"
        assert not list(pathlib.Path(out).parent.glob(pathlib.Path(out).name + ".*")), "staging left behind"
    return r.stderr


def test_packed_formats_refuse_what_engines_cannot_load(dense_model, tmp_path):
    calib = pathlib.Path(dense_model) / "calibration.jsonl"
    base = ("quantize", "--model", dense_model, "--calib", calib, "--quiet", "--format", "modelopt")
    refused((*base, "--out", tmp_path / "a", "--no-fuse-scales"), "fused global scales", out=tmp_path / "a")
    refused((*base, "--out", tmp_path / "b", "--exclude", r"layers\.0\.self_attn\.k_proj"),
            "model.layers.0.self_attn.k_proj would be left unquantized", "q_proj", out=tmp_path / "b")
    refused(("rtn", "--model", dense_model, "--out", tmp_path / "c", "--format", "compressed-tensors", "--activations",
             "nvfp4"), "W4A4", out=tmp_path / "c")
    refused(("quantize", "--model", dense_model, "--calib", calib, "--out", tmp_path / "d", "--activations", "nvfp4"),
            "packed formats only", out=tmp_path / "d")
    # excluding a whole fused group is fine: it is listed as ignored
    out = quantize(dense_model, tmp_path / "e", "--format", "compressed-tensors", "--exclude", r"layers\.1\.mlp\.(gate|up)_proj")
    ignore = json.loads((out / "config.json").read_text())["quantization_config"]["ignore"]
    assert "model.layers.1.mlp.gate_proj" in ignore and "model.layers.1.mlp.up_proj" in ignore
    assert read_header(out / "model.safetensors")["model.layers.1.mlp.gate_proj.weight"]["dtype"] == "BF16"


def copy_pseudo(runs, tmp_path):
    d = tmp_path / "pseudo"
    shutil.copytree(runs["pseudo"], d)
    return d


def test_export_refuses_a_weight_off_the_grid(runs, tmp_path):
    d = copy_pseudo(runs, tmp_path)
    f = d / "pseudo_quantized_model-4bit-16g.safetensors"
    data = bytearray(f.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    name = "model.layers.1.self_attn.o_proj.weight"
    b, _ = json.loads(data[8:8 + n])[name]["data_offsets"]
    at = 8 + n + b + 2 * 5  # element [0, 5]: one fp16 ulp up is on no grid point of its block
    value = struct.unpack("<H", data[at:at + 2])[0]
    data[at:at + 2] = struct.pack("<H", value + 1 if value & 0x7fff else 0x3c00)
    f.write_bytes(bytes(data))
    refused(("export", "--from", d, "--format", "compressed-tensors", "--out", tmp_path / "x"), f"'{name}'",
            "no NVFP4 grid point", "[0, 5]", out=tmp_path / "x")


def test_export_refuses_a_missing_or_truncated_scales_file(runs, tmp_path):
    d = copy_pseudo(runs, tmp_path)
    scales = d / "pseudo_quantized_model-4bit-16g_scales.safetensors"
    whole = scales.read_bytes()
    scales.write_bytes(whole[:len(whole) // 2])
    refused(("export", "--from", d, "--format", "modelopt", "--out", tmp_path / "x"), str(scales), out=tmp_path / "x")
    scales.unlink()
    refused(("export", "--from", d, "--format", "modelopt", "--out", tmp_path / "y"), str(scales), "missing",
            out=tmp_path / "y")


def test_export_refuses_what_is_not_a_pseudo_checkpoint(runs, tmp_path):
    refused(("export", "--from", runs["model"], "--format", "modelopt", "--out", tmp_path / "x"), "quantize_config.json",
            out=tmp_path / "x")
    refused(("export", "--from", runs["modelopt", "none"], "--format", "modelopt", "--out", tmp_path / "y"),
            "already packed", out=tmp_path / "y")
    refused(("quantize", "--model", runs["modelopt", "none"], "--calib", pathlib.Path(runs["model"]) / "calibration.jsonl",
             "--out", tmp_path / "z"), "already NVFP4", out=tmp_path / "z")


def test_w4a4_export_of_an_rtn_checkpoint_is_refused(runs, tmp_path):
    rtn = tmp_path / "rtn"
    run_cli("rtn", "--model", runs["model"], "--out", rtn, "--quiet")
    refused(("export", "--from", rtn, "--format", "compressed-tensors", "--activations", "nvfp4", "--out",
             tmp_path / "x"), "input_amax", out=tmp_path / "x")
    run_cli("export", "--from", rtn, "--format", "compressed-tensors", "--out", tmp_path / "ok", "--quiet")


def scales_of(pseudo):
    """input_amax of every module of a pseudo checkpoint's scales file (fused tensors: one per expert)."""
    f = pathlib.Path(pseudo) / "pseudo_quantized_model-4bit-16g_scales.safetensors"
    data = f.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    out = {}
    for name, info in json.loads(data[8:8 + n]).items():
        if name.endswith(".input_amax"):
            b, e = info["data_offsets"]
            out[name[:-len(".input_amax")]] = struct.unpack(f"<{(e - b) // 4}f", data[8 + n + b:8 + n + e])
    return out


def f32_scalar(path, name):
    return struct.unpack("<f", tensor_bytes(path, name))[0]


def test_an_expert_without_tokens_gets_the_layers_largest_input_scale(tmp_path):
    """16 experts, top-1, 6 calibration tokens: most experts see none. Their W4A4 input scale is the one of the
    layer's largest expert input amax (of the same projection), never 0, inf or NaN."""
    from conftest import make_model
    model = make_model(tmp_path / "m", "--arch", "Qwen3MoeForCausalLM", "--layers", 1, "--hidden", 64, "--heads", 4,
                       "--kv-heads", 2, "--head-dim", 16, "--experts", 16, "--experts-per-tok", 1,
                       "--moe-intermediate", 32, "--vocab", 256, samples=1, seqlen=6)
    pseudo = quantize(model, tmp_path / "pseudo")
    amax = scales_of(pseudo)
    r = run_cli("quantize", "--model", model, "--calib", model / "calibration.jsonl", "--out", tmp_path / "ct",
                "--format", "compressed-tensors", "--activations", "nvfp4", "--threads", 2)
    assert "saw no calibration token; their W4A4 input scales are the layer's largest expert input amax" in r.stderr
    st = tmp_path / "ct" / "model.safetensors"
    for proj in ("gate_proj", "down_proj"):
        seen = {e: amax[f"model.layers.0.mlp.experts.{e}.{proj}"][0] for e in range(16)}
        starved = [e for e, a in seen.items() if a == 0]
        assert 0 < len(starved) < 16
        top = max(seen.values())
        for e in range(16):
            gs = f32_scalar(st, f"model.layers.0.mlp.experts.{e}.{proj}.input_global_scale")
            expect = struct.unpack("<f", struct.pack("<f", 2688.0 / (top if e in starved else seen[e])))[0]
            assert gs == pytest.approx(expect, rel=1e-6) and math.isfinite(gs) and gs > 0, (proj, e)


def test_shards_index_and_side_files(dense_model, tmp_path):
    out = quantize(dense_model, tmp_path / "sharded", "--format", "modelopt", "--max-shard-size", "100KB")
    files = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(files) > 1 and all(re.fullmatch(r"model-\d{5}-of-\d{5}\.safetensors", f) for f in files)
    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    names = {}
    for f in files:
        names.update({k: f for k in read_header(out / f) if k != "__metadata__"})
    assert index == names  # every tensor, in its shard
    assert (out / "tokenizer.json").exists() and (out / "tokenizer_config.json").exists()
    one = quantize(dense_model, tmp_path / "one", "--format", "modelopt")
    for name, f in names.items():  # the same tensors as one file
        assert tensor_bytes(out / f, name) == tensor_bytes(one / "model.safetensors", name), name


def patch_tensor(path, name, offset, raw):
    """Overwrites bytes [offset, offset + len(raw)) of tensor `name` in a safetensors file."""
    data = bytearray(pathlib.Path(path).read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    b, e = json.loads(data[8:8 + n])[name]["data_offsets"]
    assert offset + len(raw) <= e - b
    data[8 + n + b + offset:8 + n + b + offset + len(raw)] = raw
    pathlib.Path(path).write_bytes(bytes(data))


SCALES = "pseudo_quantized_model-4bit-16g_scales.safetensors"


@pytest.mark.parametrize("case", ("negative_scale_2", "inf_input_amax", "negative_block_scale", "nan_block_scale",
                                  "lost_module"))
def test_export_refuses_damaged_scales(runs, tmp_path, case):
    d = copy_pseudo(runs, tmp_path)
    s = d / SCALES
    header = read_header(s)
    m = next(k[:-len(".scale_2")] for k in header if k.endswith(".scale_2"))
    if case == "negative_scale_2":
        patch_tensor(s, m + ".scale_2", 0, struct.pack("<f", -0.01))
        expect = (f"'{m}.scale_2'", "finite value >= 0")
    elif case == "inf_input_amax":
        patch_tensor(s, m + ".input_amax", 0, struct.pack("<f", math.inf))
        expect = (f"'{m}.input_amax'", "finite value >= 0")
    elif case in ("negative_block_scale", "nan_block_scale"):
        patch_tensor(s, m + ".per_block_scale", 3, bytes([0xb8 if case == "negative_block_scale" else 0x7f]))
        expect = (f"'{m}.per_block_scale' element 3", "positive finite block scale")
    else:  # a module's scales renamed away: the report still lists it as quantized
        data = bytearray(s.read_bytes())
        victim = next(k for k in header if k.endswith(".per_block_scale") and "o_proj" in k)
        at = data.index(victim.encode())
        data[at:at + 5] = b"XXXXX"  # renames the tensor: the module now has no per_block_scale
        s.write_bytes(bytes(data))
        expect = (victim, "is missing", "quantization_report.json")
    refused(("export", "--from", d, "--format", "modelopt", "--activations", "nvfp4", "--out", tmp_path / "x"), *expect,
            out=tmp_path / "x")


def test_reading_a_packed_checkpoint_refuses_bad_scales(runs, tmp_path):
    d = tmp_path / "mo"
    shutil.copytree(runs["modelopt", "nvfp4"], d)
    name = "model.layers.0.self_attn.q_proj.input_scale"
    patch_tensor(d / "model.safetensors", name, 0, struct.pack("<f", 0.0))
    refused(("eval-ppl", "--model", d, "--data", pathlib.Path(runs["model"]) / "calibration.jsonl", "--seqlen", 24),
            f"'{name}'", "finite scale > 0")


def test_moe_experts_are_one_scheme(moe_model, moe_fused_model, tmp_path):
    for model in (moe_model, moe_fused_model):
        base = ("rtn", "--model", model, "--format", "compressed-tensors", "--quiet")
        refused((*base, "--out", tmp_path / "a", "--exclude", r"experts\.3\.|experts\.down_proj"),
                "MoE experts of layer 0", "quantize or exclude the whole group", out=tmp_path / "a")
    refused(("rtn", "--model", moe_model, "--format", "modelopt", "--out", tmp_path / "b", "--exclude",
             r"experts\.\d+\.down_proj"), "down_proj", "MoE experts of layer 0", out=tmp_path / "b")
    # All experts of layer 1 left in bf16: written per expert under the hub's names, from either layout alike.
    outs = {}
    for name, model in (("per", moe_model), ("fused", moe_fused_model)):
        out = outs[name] = tmp_path / name
        run_cli("rtn", "--model", model, "--format", "modelopt", "--out", out, "--quiet", "--exclude",
                r"layers\.1\.mlp\.experts")
        header = read_header(out / "model.safetensors")
        assert header["model.layers.1.mlp.experts.2.up_proj.weight"]["dtype"] == "BF16"
        assert header["model.layers.1.mlp.experts.2.up_proj.weight"]["shape"] == [32, 64]
        assert not any("experts.gate_up_proj" in k or "experts.down_proj" in k for k in header)
        assert header["model.layers.0.mlp.experts.2.up_proj.weight"]["dtype"] == "U8"
        assert "model.layers.1.mlp.experts.2.up_proj" in json.loads(
            (out / "hf_quant_config.json").read_text())["quantization"]["exclude_modules"]
        run_cli("inspect", "--model", out)
    for name in read_header(outs["per"] / "model.safetensors"):
        if name != "__metadata__":
            assert tensor_bytes(outs["per"] / "model.safetensors", name) == tensor_bytes(
                outs["fused"] / "model.safetensors", name), name
    data = pathlib.Path(moe_model) / "calibration.jsonl"
    assert ppl(outs["per"], data) == ppl(outs["fused"], data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_killed_packed_run_resumes_to_the_same_bytes(moe_fused_model, tmp_path, fmt):
    """SIGKILL right after layer 1 is journaled, then --resume: the packed W4A4 checkpoint (whose input scales are
    written per layer) equals the uninterrupted run's."""
    import os
    import subprocess
    from conftest import CLI
    args = [CLI, "quantize", "--model", moe_fused_model, "--calib", moe_fused_model / "calibration.jsonl", "--quiet",
            "--threads", 2, "--format", fmt, "--activations", "nvfp4"]
    whole = quantize(moe_fused_model, tmp_path / "whole", "--format", fmt, "--activations", "nvfp4")
    env = dict(os.environ, FP4GPTQ_TEST_SIGNAL_AFTER_LAYER="9:1")
    r = subprocess.run([*map(str, args), "--out", str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    assert not (tmp_path / "killed").exists()
    run_cli(*args[1:], "--out", tmp_path / "killed", "--resume")
    assert file_digests(tmp_path / "killed") == file_digests(whole)
    # another format is refused by name, not by a checksum
    other = "modelopt" if fmt == "compressed-tensors" else "compressed-tensors"
    r = subprocess.run([*map(str, args), "--out", str(tmp_path / "again")], env=env, capture_output=True, text=True)
    assert r.returncode == -9
    refused((*map(str, args[1:-4]), "--format", other, "--activations", "nvfp4", "--out", tmp_path / "again",
             "--resume"), "format")


def test_export_dtype_casts_the_unquantized_tensors(runs, tmp_path):
    run_cli("export", "--from", runs["pseudo"], "--model", runs["model"], "--format", "compressed-tensors", "--dtype",
            "float16", "--out", tmp_path / "x", "--quiet")
    header = read_header(tmp_path / "x" / "model.safetensors")
    assert header["model.norm.weight"]["dtype"] == "F16"
    assert json.loads((tmp_path / "x" / "config.json").read_text())["torch_dtype"] == "float16"
    # the packed tensors are those of the run that kept bf16
    for name, info in header.items():
        if name != "__metadata__" and info["dtype"] in ("U8", "F8_E4M3"):
            assert tensor_bytes(tmp_path / "x" / "model.safetensors", name) == tensor_bytes(
                runs["compressed-tensors", "none"] / "model.safetensors", name), name
