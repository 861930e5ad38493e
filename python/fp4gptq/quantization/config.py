"""BaseQuantizeConfig: AutoGPTQ's quantize config, with every option of fp4gptq's C++ QuantizeConfig and of the
CLI's ``quantize`` as a keyword (docs/DESIGN.md §12)."""
from __future__ import annotations

import inspect
import os
from typing import Any, Dict, Optional, Sequence, Union

from .. import _native
from .._errors import InvalidInputError


class QUANT_METHOD:
    """Quantization methods, as AutoGPTQ's (a class of string constants). fp4gptq has one: NVFP4 (E2M1 values,
    FP8 E4M3 scales per 16 inputs, an FP32 per-tensor scale_2)."""

    NVFP4 = "nvfp4"


_NAMES = _native.option_names()  # the C++ tables of spellings: dtype, compute, bos, calib_mode, algorithm, format, ...

# name: (default, accepted types, what it is). Order: AutoGPTQ's fields, the library's, the CLI's calibration.
_FIELDS: Dict[str, tuple] = {
    "bits": (4, (int,), "bits per weight: 4 (NVFP4)"),
    "group_size": (16, (int,), "inputs per block scale: 16 (NVFP4)"),
    "damp_percent": (0.01, (int, float), "damping: damp_percent * mean(diag H) added to the diagonal"),
    "desc_act": (False, (bool,), "act-order: columns by descending diag(H) (static block scales)"),
    "static_groups": (False, (bool,), "block scales all from the original weights first (CLI --block-scales static)"),
    "sym": (True, (bool,), "symmetric quantization: must be True (NVFP4 has no zero point)"),
    "true_sequential": (True, (bool,), "each group's inputs from the layer with the earlier groups quantized"),
    "quant_method": (QUANT_METHOD.NVFP4, (str,), "quantization method: QUANT_METHOD.NVFP4 or \"nvfp4\""),
    "model_file_base_name": (None, (str,), "base name of the checkpoint files (None: pseudo_quantized_model-4bit-16g)"),
    "algorithm": ("gptq", (str,), "gptq, or rtn (round-to-nearest, no calibration)"),
    "block_size": (128, (int,), "GPTQ lazy-batch width in columns (a multiple of 16)"),
    "block_scales": (None, (str,), "dynamic or static: the CLI's spelling of static_groups (None: as static_groups)"),
    "fuse_scales": (True, (bool,), "q/k/v and gate/up share scale_2"),
    "block_scale_search": ("none", (str,), "FP8 block scales: none (the amax rule) or mse (the code within 0.75-1.25x "
                           "of it with the smallest error; GPTQ: its loss)"),
    "scale2_max": (448, (int, float), "K of scale_2 = amax / (6 K), in [1, 448]; below 448 the block scales get "
                   "headroom"),
    "exclude": ((), (list, tuple, str), "regexes of modules to leave unquantized"),
    "act_dtype": ("bfloat16", (str,), "calibration activations kept as bfloat16 or float32"),
    "compute": ("bf16", (str,), "matmuls in bf16 (FP32 accumulation) or f32"),
    "hessian_dtype": ("float32", (str,), "Hessian accumulation: float32 or float64"),
    "dtype": (None, (str,), "float16 or bfloat16: the output tensors (None: float16); packed formats: what quantized "
              "weights are rounded to, and, when given, the dtype of the unquantized tensors (None: their own)"),
    "format": ("pseudo", (str,), "checkpoint written: pseudo, compressed-tensors (vLLM) or modelopt (TensorRT-LLM)"),
    "activations": ("none", (str,), "packed formats: none (W4A16) or nvfp4 (W4A4, input scales from calibration)"),
    "max_shard_size": (None, (int, str), "split the main file into shards of at most this (bytes, or \"5GB\")"),
    "max_act_memory": (None, (int, str), "calibration activations past this go to files (bytes, or \"8GiB\")"),
    "offload_dir": (None, (str, os.PathLike), "where offloaded activations go (None: the system temp dir)"),
    "moe_min_tokens": (-1, (int,), "MoE: experts routed fewer tokens fall back to RTN (-1: 10% of their share)"),
    "moe_calibrate_all": (False, (bool,), "MoE: every token into every expert's Hessians"),
    "shard_tokens": (65536, (int,), "calibration tokens per shard: the unit of the Hessians' exact partial sums"),
    "allow_nonfinite": (False, (bool,), "keep NaN/Inf in tensors copied unquantized (warned) instead of failing"),
    "threads": (0, (int,), "threads (0: all cores, as the CLI); results are identical for the same count"),
    "quiet": (False, (bool,), "no progress messages (they go to logging.getLogger('fp4gptq') at INFO)"),
    "work_dir": (None, (str, os.PathLike), "where the checkpoint is built before save_quantized (None: the cwd)"),
    "staging_dir": (None, (str, os.PathLike), "build exactly here instead (e.g. beside the output, to resume)"),
    "resume": (False, (bool,), "continue a killed run in staging_dir at its last finished decoder layer"),
    "checkpoint_every": (1, (int,), "a resume point after every N-th decoder layer (0: none)"),
    "nsamples": (128, (int,), "quantize(FILE): samples, the first N documents (0: all), or N windows"),
    "seqlen": (2048, (int,), "quantize(FILE): truncate each sample to L tokens (0: no); the window length"),
    "seed": (None, (int,), "quantize(FILE): pick samples at random with this seed (windows: default 0)"),
    "calib_mode": ("auto", (str,), "quantize(FILE): documents, windows or auto (documents for JSONL, windows for .txt)"),
    "text_field": ("text", (str,), "quantize(FILE): the JSONL field holding each document's text"),
    "tokenizer": (None, (str, os.PathLike), "quantize(FILE): tokenizer.json or its directory (None: the model's)"),
    "bos": ("file", (str,), "quantize(FILE): special tokens of text: file, auto, always or never"),
}

# Passed to the C++ QuantizeConfig as they are; the rest are converted below or used by quantize(FILE).
_NATIVE = ("bits", "group_size", "damp_percent", "desc_act", "static_groups", "true_sequential",
           "model_file_base_name", "algorithm", "block_size", "fuse_scales", "block_scale_search", "scale2_max", "act_dtype", "compute", "hessian_dtype",
           "dtype", "format", "activations", "offload_dir", "moe_min_tokens", "moe_calibrate_all", "shard_tokens", "allow_nonfinite", "threads", "quiet",
           "work_dir", "staging_dir", "resume", "checkpoint_every")
_CALIBRATION = ("nsamples", "seqlen", "seed", "calib_mode", "text_field", "tokenizer", "bos")


def _type_names(types: Sequence[type]) -> str:
    return " or ".join("path" if t is os.PathLike else t.__name__ for t in types)


class BaseQuantizeConfig:
    """How to quantize, as AutoGPTQ's BaseQuantizeConfig (every keyword is also an attribute).

    AutoGPTQ's keywords: bits=4, group_size=16, damp_percent=0.01, desc_act=False, static_groups=False,
    sym=True, true_sequential=True, quant_method=QUANT_METHOD.NVFP4, model_file_base_name=None.
    fp4gptq's (the C++ QuantizeConfig and the CLI's quantize options): see ``BaseQuantizeConfig.fields()``.
    An unknown keyword or an impossible value raises ValueError (fp4gptq.InvalidInputError) naming it.
    """

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_FIELDS))
        if unknown:
            raise _invalid(f"BaseQuantizeConfig: unknown keyword{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(unknown)} (known: {', '.join(_FIELDS)})")
        for name, (default, _, _) in _FIELDS.items():
            object.__setattr__(self, name, kwargs.get(name, default))
        self.validate()

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _FIELDS:
            raise _invalid(f"BaseQuantizeConfig: unknown field {name}")
        object.__setattr__(self, name, value)

    @staticmethod
    def fields() -> Dict[str, str]:
        """Every keyword with its default and meaning."""
        return {n: f"{d!r}: {doc}" for n, (d, _, doc) in _FIELDS.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseQuantizeConfig) and self.to_dict() == other.to_dict()

    def to_dict(self) -> Dict[str, Any]:
        return {n: getattr(self, n) for n in _FIELDS}

    def __repr__(self) -> str:
        changed = ", ".join(f"{n}={getattr(self, n)!r}" for n, (d, _, _) in _FIELDS.items() if getattr(self, n) != d)
        return f"BaseQuantizeConfig({changed})"

    def validate(self) -> None:
        """Checks every field (types here, values in the C++ library, as from_pretrained does)."""
        for name, (default, types, _) in _FIELDS.items():
            v = getattr(self, name)
            if v is None and default is None:
                continue
            if isinstance(v, bool) and bool not in types:
                raise _invalid(f"BaseQuantizeConfig.{name}: {v!r} is a bool; {_type_names(types)} expected")
            if not isinstance(v, tuple(types)):
                raise _invalid(f"BaseQuantizeConfig.{name}: {v!r} is a {type(v).__name__}; "
                               f"{_type_names(types)} expected")
        if self.sym is not True:
            raise _invalid("BaseQuantizeConfig.sym: must be True (NVFP4 is symmetric, with no zero point)")
        if str(getattr(self.quant_method, "value", self.quant_method)).lower() != QUANT_METHOD.NVFP4:
            raise _invalid(f"BaseQuantizeConfig.quant_method: {self.quant_method!r} is not available; "
                           f"fp4gptq quantizes to QUANT_METHOD.NVFP4 (\"nvfp4\")")
        if self.block_scales is not None and self.block_scales not in ("dynamic", "static"):
            raise _invalid(f"BaseQuantizeConfig.block_scales: {self.block_scales!r} is not dynamic or static")
        for name in ("nsamples", "seqlen"):
            if getattr(self, name) < 0:
                raise _invalid(f"BaseQuantizeConfig.{name}: must be >= 0, got {getattr(self, name)}")
        if self.seed is not None and self.seed < 0:
            raise _invalid(f"BaseQuantizeConfig.seed: must be >= 0 or None, got {self.seed}")
        for name, table in (("calib_mode", "calib_mode"), ("bos", "bos")):
            if getattr(self, name) not in _NAMES[table]:
                raise _invalid(f"BaseQuantizeConfig.{name}: {getattr(self, name)!r} is not one of "
                               f"{', '.join(_NAMES[table])}")
        _native.check_config(self.native_fields())

    def native_fields(self) -> Dict[str, Any]:
        """The fields of the C++ QuantizeConfig (sizes parsed, block_scales folded into static_groups)."""
        d = {n: getattr(self, n) for n in _NATIVE}
        for n in ("offload_dir", "work_dir", "staging_dir"):
            if d[n] is not None:
                d[n] = os.fspath(d[n])
        if self.block_scales is not None:
            d["static_groups"] = self.block_scales == "static"
        d["exclude"] = [self.exclude] if isinstance(self.exclude, str) else list(self.exclude)
        for n, native in (("max_shard_size", "max_shard_bytes"), ("max_act_memory", "max_act_bytes")):
            v = getattr(self, n)
            if isinstance(v, str):
                v = _native.parse_size(v, f"BaseQuantizeConfig.{n}")
            elif v is not None and v < 0:
                raise _invalid(f"BaseQuantizeConfig.{n}: must be >= 0, got {v}")
            d[native] = v
        return d

    def calibration_fields(self) -> Dict[str, Any]:
        """What quantize(FILE) reads a calibration file with (the CLI's --nsamples, --seqlen, ...)."""
        return {n: getattr(self, n) for n in _CALIBRATION}


def _invalid(message: str) -> InvalidInputError:
    return InvalidInputError(message)


# help() and editors show every keyword with its default (the constructor takes them as **kwargs to name
# unknown ones in a ValueError).
BaseQuantizeConfig.__init__.__signature__ = inspect.Signature(
    [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)] +
    [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, (d, _, _) in _FIELDS.items()])
