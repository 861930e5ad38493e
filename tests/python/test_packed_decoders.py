"""The packed checkpoints (compressed-tensors and ModelOpt) decode, through independent numpy re-implementations of
each consumer's dequantizer, to the weights of the pseudo-quantized checkpoint of the same quantize run.

Decoders are written from the semantics of each format's own source (compressed-tensors `unpack_fp4_from_uint8` and
`NVFP4PackedCompressor.decompress`, vLLM `dequantize_to_dtype`, ModelOpt `NVFP4QTensor.dequantize`), in float32
numpy arithmetic in the source's order, then rounded to float16 (RNE) to meet the pseudo checkpoint's float16 values,
which are fp16(e2m1 * (fp8(block_scale) * scale_2)). No torch, no safetensors package: the reader is here too."""
import json
import pathlib
import re
import struct
from collections import defaultdict, namedtuple

import numpy as np
import pytest

from conftest import run_cli

MODELS = ("dense_model", "moe_model", "moe_fused_model")
PACKED = {"ct": ("--format", "compressed-tensors"), "mo": ("--format", "modelopt"),
          "ct_a4": ("--format", "compressed-tensors", "--activations", "nvfp4"),
          "mo_a4": ("--format", "modelopt", "--activations", "nvfp4")}
RUNS = {"pseudo": (), **PACKED}

# ---------------------------------------------------------------------------------------------------------------
# 1. A minimal safetensors reader: u64 LE header length, JSON header, tensors at data_offsets of the data section.
Tensor = namedtuple("Tensor", "dtype shape raw array")
DTYPES = {"F16": "<f2", "BF16": "<u2", "F32": "<f4", "U8": "u1", "F8_E4M3": "u1", "I32": "<i4"}


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header, body, out = json.loads(data[8:8 + n]), data[8 + n:], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = body[begin:end]
        a = np.frombuffer(raw, DTYPES[info["dtype"]])
        assert a.size == int(np.prod(info["shape"], dtype=np.int64)), name
        a = a.reshape(info["shape"])
        if info["dtype"] == "BF16":  # bfloat16 is the high half of a float32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = Tensor(info["dtype"], tuple(info["shape"]), raw, a)  # F8_E4M3 stays raw uint8
    return out


def read_dir(directory):
    """Every *.safetensors of a directory in one dict; model.safetensors.index.json, where present, must agree."""
    d, tensors = pathlib.Path(directory), {}
    for f in sorted(d.glob("*.safetensors")):
        part = read_safetensors(f)
        assert not part.keys() & tensors.keys(), f"tensors in two files: {part.keys() & tensors.keys()}"
        tensors.update(part)
        for name in part:
            tensors.setdefault("__file__" + name, f.name)
    index = d / "model.safetensors.index.json"
    if index.exists():
        for name, file in json.loads(index.read_text())["weight_map"].items():
            assert tensors["__file__" + name] == file, name
    return {k: v for k, v in tensors.items() if not k.startswith("__file__")}


# ---------------------------------------------------------------------------------------------------------------
# 2. FP8 E4M3FN from its definition: 1 sign, 4 exponent bits (bias 7), 3 mantissa bits, subnormals at exponent 0,
# no infinities, S.1111.111 NaN. Every value is exact in float32.
def _e4m3fn(b):
    sign, e, m = (-1.0 if b & 0x80 else 1.0), (b >> 3) & 0xF, b & 0x7
    if e == 0xF and m == 0x7:
        return np.nan
    if e == 0:
        return sign * (m / 8) * 2.0 ** (1 - 7)
    return sign * (1 + m / 8) * 2.0 ** (e - 7)


FP8_E4M3FN = np.array([_e4m3fn(b) for b in range(256)], np.float32)


def fp8(a):
    return FP8_E4M3FN[np.asarray(a, np.uint8)]


def test_fp8_e4m3fn_decoder():
    assert fp8(0x38) == 1.0 and fp8(0x7E) == 448.0 and fp8(0xFE) == -448.0
    assert fp8(0x01) == 2.0 ** -9 and fp8(0x07) == 7 * 2.0 ** -9 and fp8(0x08) == 2.0 ** -6
    assert fp8(0x00) == 0 and np.signbit(fp8(0x80)) and fp8(0x80) == 0
    assert np.isnan(fp8([0x7F, 0xFF])).all() and np.isfinite(np.delete(FP8_E4M3FN, [0x7F, 0xFF])).all()
    assert (np.diff(FP8_E4M3FN[:0x7F]) > 0).all()  # codes 0..0x7e: increasing magnitudes
    assert (FP8_E4M3FN[0x80:0xFF] == -FP8_E4M3FN[:0x7F]).all()


# ---------------------------------------------------------------------------------------------------------------
# 3. The decoders, one per consumer's source. Each returns float32 [out, in]; the caller rounds to float16.
CT_E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], np.float32)  # kE2M1ToFloat, by magnitude bits


def ct_unpack_fp4_from_uint8(a, m, n):
    """compressed-tensors: byte j of a row holds element 2j (low nibble) and 2j+1 (high); bit 3 is the sign."""
    low, high = a & 0x0F, (a & 0xF0) >> 4
    combined = np.stack((low, high), axis=-1).reshape(-1)
    values = CT_E2M1[combined & 0x07] * np.where(combined & 0x08, -1.0, 1.0).astype(np.float32)
    return values.reshape(m, n)  # the source casts to bf16 here: exact for e2m1 values


def ct_decompress(weight_packed, weight_scale, weight_global_scale):
    """NVFP4PackedCompressor.decompress -> dequantize -> _process_group -> _dequantize: x * (s / g), divide first."""
    m, n = weight_packed.shape[0], weight_packed.shape[1] * 2
    x = ct_unpack_fp4_from_uint8(weight_packed, m, n).reshape(m, n // 16, 16)
    scale = fp8(weight_scale)[..., None] / weight_global_scale  # fp32 [m, G, 1] / fp32 [1]
    return (x * scale).reshape(m, n)


VLLM_E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], np.float32)


def vllm_dequantize_to_dtype(tensor_fp4, tensor_sf, global_scale):
    """vLLM nvfp4_emulation_utils.dequantize_to_dtype (swizzle=False): break_fp4_bytes (low nibble first, bit 3
    sign), then x * (fp8(sf) * global_scale), global_scale being the small (dequant) scale."""
    m, k = tensor_fp4.shape[0], tensor_fp4.shape[1] * 2
    codes = np.stack((tensor_fp4 & 0x0F, tensor_fp4 >> 4), axis=-1).reshape(m, k)
    mag = VLLM_E2M1[codes & 0x07]
    tensor_f32 = np.where(codes & 0x08, -mag, mag).reshape(m, k // 16, 16)
    tensor_sf_dtype = fp8(tensor_sf) * global_scale
    return (tensor_f32 * tensor_sf_dtype[..., None]).reshape(m, k)


MO_E2M1 = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, 0, -.5, -1, -1.5, -2, -3, -4, -6], np.float32)  # full nibble


def modelopt_dequantize(weight, scale, double_scale):
    """ModelOpt NVFP4QTensor.dequantize: per_block_scale = fp8(s) * weight_scale_2 (fp32), then e2m1 * that."""
    m, n = weight.shape[0], weight.shape[1] * 2
    per_block_scale = fp8(scale) * double_scale
    nibbles = np.empty((m, n), np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = weight & 0x0F, weight >> 4  # q[..., 0::2] is the low nibble
    deq = MO_E2M1[nibbles].reshape(m, n // 16, 16) * per_block_scale[..., None]
    return deq.reshape(m, n)


def f16_bits(x):
    assert x.dtype == np.float32
    return x.astype(np.float16).view(np.uint16)  # numpy's float32 -> float16 is round-to-nearest-even


def ulp_distance(a, b):
    """Distance in float16 ulps of two uint16 bit arrays (sign-magnitude mapped to a line; +0 and -0 meet)."""
    def line(bits):
        mag = (bits & 0x7FFF).astype(np.int32)
        return np.where(bits & 0x8000, -mag, mag)
    return np.abs(line(a) - line(b))


def f32_bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


# ---------------------------------------------------------------------------------------------------------------
# The checkpoints: each tiny model quantized once per format from the same options (the runs are deterministic).
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, dense_model, moe_model, moe_fused_model):
    out = {}
    for name, src in zip(MODELS, (dense_model, moe_model, moe_fused_model)):
        base = tmp_path_factory.mktemp(name)
        out[name] = {"source": read_dir(src), "dirs": {}}
        for run, args in RUNS.items():
            run_cli("quantize", "--model", src, "--calib", src / "calibration.jsonl", "--threads", 2, "--out",
                    base / run, "--quiet", *args)
            out[name][run], out[name]["dirs"][run] = read_dir(base / run), base / run
    return out


EXPERT = re.compile(r"(.*\.experts)\.(\d+)\.(gate|up|down)_proj$")


def pseudo_module(pseudo, m):
    """Module m's pseudo fp16 weight [out, in], per_block_scale bytes, scale_2 and input_amax; the fused 3D MoE
    tensors are sliced: expert e, gate rows [0:I] / up rows [I:2I] of gate_up_proj, scale_2 [e, 0 / 1]."""
    if m + ".weight" in pseudo:
        return tuple(pseudo[m + s].array for s in (".weight", ".per_block_scale", ".scale_2", ".input_amax"))
    prefix, e, kind = EXPERT.match(m).groups()
    fused = prefix + (".down_proj" if kind == "down" else ".gate_up_proj")
    w, bs, s2, amax = (pseudo[fused + s].array for s in ("", ".per_block_scale", ".scale_2", ".input_amax"))
    e = int(e)
    if kind == "down":
        return w[e], bs[e], s2[e], amax[e]
    i, half = w.shape[1] // 2, int(kind == "up")
    return w[e, half * i:(half + 1) * i], bs[e, half * i:(half + 1) * i], s2[e, half], amax[e]


def quantized_modules(ck):
    ct = sorted(k[:-len(".weight_packed")] for k in ck["ct"] if k.endswith(".weight_packed"))
    assert ct == sorted(k[:-len(".weight_scale_2")] for k in ck["mo"] if k.endswith(".weight_scale_2"))
    return ct


def shared_groups(modules):
    """q/k/v of a layer and gate/up of a dense MLP or of an expert: the groups that must share global scales."""
    groups = defaultdict(list)
    for m in modules:
        groups[re.sub(r"\.(q|k|v)_proj$", ".qkv", re.sub(r"\.(gate|up)_proj$", ".gate_up", m))].append(m)
    return [g for g in groups.values() if len(g) > 1]


@pytest.mark.parametrize("model", MODELS)
def test_packed_checkpoints_hold_every_module_and_the_source_tensors(checkpoints, model):
    ck = checkpoints[model]
    modules = quantized_modules(ck)
    expected = 0  # every pseudo scales entry, a fused 3D one counting once per expert (twice for gate_up)
    for k, t in ck["pseudo"].items():
        if k.endswith(".per_block_scale"):
            fused_halves = 2 if k.endswith("gate_up_proj.per_block_scale") else 1
            expected += 1 if len(t.shape) == 2 else t.shape[0] * fused_halves
    assert len(modules) == expected == (14 if model == "dense_model" else 32)
    assert all(len(g) == (3 if ".self_attn." in g[0] else 2) for g in shared_groups(modules))
    quantized = tuple(m + "." for m in modules)
    # The source tensors that are not quantized: all but the modules' weights and the fused 3D expert tensors.
    source_quantized = {m + ".weight" for m in modules}
    unquantized = {k for k in ck["source"]
                   if k not in source_quantized and not re.search(r"\.experts\.(gate_up|down)_proj$", k)}
    for run in PACKED:
        packed = ck[run]
        # Unquantized tensors keep their names, dtype (bf16 here) and bytes.
        rest = {k: t for k, t in packed.items() if not k.startswith(quantized)}
        for k, t in rest.items():
            assert k in ck["source"] and (t.dtype, t.shape, t.raw) == ck["source"][k][:3], (run, k)
        assert rest.keys() == unquantized, run
        assert any(k.endswith(("input_global_scale", "input_scale")) for k in packed) == run.endswith("_a4")
    for run in ("mo", "mo_a4"):
        q = json.loads((ck["dirs"][run] / "hf_quant_config.json").read_text())["quantization"]
        assert q["quant_algo"] == ("NVFP4" if run == "mo_a4" else "W4A16_NVFP4") and q["group_size"] == 16
        assert "kv_cache_quant_algo" in q and "lm_head" in q["exclude_modules"]
        routers = {k[:-len(".weight")] for k in ck["source"] if k.endswith(".mlp.gate.weight")}
        assert routers <= set(q["exclude_modules"]), q  # the MoE routers stay bf16, and say so


@pytest.mark.parametrize("model", MODELS)
def test_modelopt_decoder_is_the_pseudo_weight_bit_for_bit(checkpoints, model):
    """ModelOpt's dequantize, and vLLM's dequantize_to_dtype fed weight_scale_2 (the same expression), give the
    pseudo fp16 weight exactly for every module: both compute e2m1 * (fp8(s) * scale_2) in fp32."""
    ck = checkpoints[model]
    for run in ("mo", "mo_a4"):
        for m in quantized_modules(ck):
            w = pseudo_module(ck["pseudo"], m)[0].view(np.uint16)
            args = (ck[run][m + ".weight"].array, ck[run][m + ".weight_scale"].array,
                    ck[run][m + ".weight_scale_2"].array)
            got = f16_bits(modelopt_dequantize(*args))
            assert (got == w).all(), (run, m, np.argwhere(got != w)[:5])
            assert (f16_bits(vllm_dequantize_to_dtype(*args)) == w).all(), (run, m)


@pytest.mark.parametrize("model", MODELS)
def test_compressed_tensors_decoders_are_within_one_fp16_ulp(checkpoints, model, record_property):
    """CT stores g = 1/scale_2 (fp32), and 1/scale_2 is not exact in fp32: CT's x * (s / g) and vLLM's
    x * (s * fl(1/g)) may land 1 fp32 ulp from x * (s * scale_2), which rarely moves the fp16 rounding by 1 ulp."""
    ck, counts, total = checkpoints[model], {"compressed-tensors": 0, "vllm": 0}, 0
    for m in quantized_modules(ck):
        w = pseudo_module(ck["pseudo"], m)[0].view(np.uint16)
        packed, scale, g = (ck["ct"][m + s].array for s in (".weight_packed", ".weight_scale", ".weight_global_scale"))
        assert g.shape == (1,) and g.dtype == np.float32
        total += w.size
        for name, y in (("compressed-tensors", ct_decompress(packed, scale, g)),
                        ("vllm", vllm_dequantize_to_dtype(packed, scale, np.float32(1) / g))):
            d = ulp_distance(f16_bits(y), w)
            assert d.max() <= 1, (name, m, d.max(), np.argwhere(d > 1)[:5])
            counts[name] += int((d > 0).sum())
    print(f"\n{model}: elements 1 fp16 ulp off the pseudo weight, of {total}: {counts}")
    record_property(f"{model}_ulp_diffs", json.dumps({**counts, "elements": total}))
    assert all(c <= 1e-3 * total for c in counts.values()), counts


@pytest.mark.parametrize("model", MODELS)
def test_packed_bytes_and_global_scales(checkpoints, model):
    ck = checkpoints[model]
    for m in quantized_modules(ck):
        _, block_scale, scale_2, _ = pseudo_module(ck["pseudo"], m)
        assert np.isfinite(fp8(block_scale)).all(), m
        for ct, mo in (("ct", "mo"), ("ct_a4", "mo_a4")):
            codes = ck[ct][m + ".weight_packed"]
            assert codes.dtype == "U8" and codes.shape == (block_scale.shape[0], block_scale.shape[1] * 8), m
            # The codes are the same bytes in both formats, and in W4A16 and W4A4 runs.
            assert codes.raw == ck[mo][m + ".weight"].raw == ck["ct"][m + ".weight_packed"].raw, (ct, m)
            # Zero is always code 0: no -0 (0x8) nibble anywhere.
            a = codes.array
            assert not ((a & 0x0F) == 0x08).any() and not ((a >> 4) == 0x08).any(), (ct, m)
            # Block scales: the pseudo per_block_scale bytes (expert/half slice for the fused tensors).
            for run in (ct, mo):
                t = ck[run][m + ".weight_scale"]
                assert t.dtype == "F8_E4M3" and (t.array == block_scale).all(), (run, m)
            # Global scales: CT g = fl32(1 / scale_2) shaped [1]; ModelOpt weight_scale_2 = scale_2 shaped [].
            g, s2 = ck[ct][m + ".weight_global_scale"].array, ck[mo][m + ".weight_scale_2"].array
            assert g.shape == (1,) and s2.shape == () and g.dtype == s2.dtype == np.float32, m
            assert f32_bits(g[0]) == f32_bits(np.float32(1) / scale_2), (ct, m, g, scale_2)
            assert f32_bits(s2) == f32_bits(scale_2), (mo, m, s2, scale_2)


@pytest.mark.parametrize("model", MODELS)
def test_w4a4_input_scales_and_shared_scales(checkpoints, model):
    ck = checkpoints[model]
    modules = quantized_modules(ck)
    for m in modules:
        amax = np.float32(pseudo_module(ck["pseudo"], m)[3])
        assert amax > 0, m
        igs, isc = ck["ct_a4"][m + ".input_global_scale"].array, ck["mo_a4"][m + ".input_scale"].array
        assert igs.shape == (1,) and isc.shape == () and igs.dtype == isc.dtype == np.float32, m
        assert f32_bits(igs[0]) == f32_bits(np.float32(2688) / amax), (m, igs, amax)
        assert f32_bits(isc) == f32_bits(amax / np.float32(2688)), (m, isc, amax)
    # q/k/v of each layer and gate/up of each MLP / expert share bit-identical weight and input global scales
    # (vLLM warns and takes the max, TensorRT-LLM asserts equality).
    for run, names in (("ct", ("weight_global_scale",)), ("mo", ("weight_scale_2",)),
                       ("ct_a4", ("weight_global_scale", "input_global_scale")),
                       ("mo_a4", ("weight_scale_2", "input_scale"))):
        for group in shared_groups(modules):
            for s in names:
                values = {ck[run][f"{m}.{s}"].raw for m in group}
                assert len(values) == 1, (run, s, group, [ck[run][f"{m}.{s}"].array for m in group])


@pytest.mark.parametrize("run", PACKED)
def test_fused_experts_pack_as_per_expert_experts(checkpoints, run):
    """The tiny MoE models hold the same values in both expert layouts, and the packed outputs always name experts
    one by one: the same tensors (names, dtypes, shapes, bytes), whatever their order in the files."""
    per_expert, fused = checkpoints["moe_model"][run], checkpoints["moe_fused_model"][run]
    assert sorted(per_expert) == sorted(fused)
    for k, t in per_expert.items():
        assert (t.dtype, t.shape, t.raw) == fused[k][:3], (run, k)
