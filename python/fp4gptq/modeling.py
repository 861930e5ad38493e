"""CausalLM (AutoGPTQForCausalLM): AutoGPTQ's from_pretrained -> quantize -> save_quantized over fp4gptq's
C++ CausalLM. quantize() streams the pseudo-quantized checkpoint into a staging directory (under work_dir)
layer by layer; save_quantized() moves it into place."""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional, Union

from . import _native
from ._errors import InvalidInputError
from .quantization.config import BaseQuantizeConfig

log = logging.getLogger("fp4gptq")
PathLike = Union[str, os.PathLike]

# AutoGPTQ keywords about GPUs, kernels or torch, which change nothing here: accepted, logged once, ignored.
_IGNORED_LOAD = ("device_map", "max_memory", "device", "torch_dtype", "trust_remote_code", "low_cpu_mem_usage",
                 "use_safetensors", "use_triton", "use_cuda_fp16", "inject_fused_attention", "inject_fused_mlp",
                 "disable_exllama", "disable_exllamav2", "cache_dir", "revision", "local_files_only")
class _Unset:
    def __repr__(self) -> str:
        return "<ignored>"


_UNSET = _Unset()


class CausalLM:
    """A Hugging Face model directory (config.json + *.safetensors) to quantize to NVFP4.

    >>> model = CausalLM.from_pretrained("Qwen3-8B", BaseQuantizeConfig())
    >>> report = model.quantize(examples)          # [tokenizer(text), ...], or a calibration file's path
    >>> model.save_quantized("Qwen3-8B-nvfp4")
    """

    def __init__(self, model_dir: PathLike, quantize_config: BaseQuantizeConfig) -> None:
        quantize_config.validate()
        self.model_dir = os.fspath(model_dir)
        self.quantize_config = quantize_config
        self.quantization_report: Optional[Dict[str, Any]] = None
        self._native = _native.CausalLM(self.model_dir, quantize_config.native_fields())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: PathLike,
                        quantize_config: Optional[BaseQuantizeConfig] = None, **kwargs: Any) -> "CausalLM":
        """Opens the model directory (weights are read through mmap, one decoder layer at a time, during
        quantize). AutoGPTQ's GPU and torch keywords (device_map, max_memory, torch_dtype, ...) are ignored."""
        unknown = sorted(set(kwargs) - set(_IGNORED_LOAD))
        if unknown:
            raise InvalidInputError(f"from_pretrained: unknown keyword(s) {', '.join(unknown)}")
        _log_ignored("from_pretrained", kwargs)
        if quantize_config is None:
            quantize_config = BaseQuantizeConfig()
        if not isinstance(quantize_config, BaseQuantizeConfig):
            raise InvalidInputError(f"from_pretrained: quantize_config is a {type(quantize_config).__name__}; "
                                    "a fp4gptq.BaseQuantizeConfig is expected")
        return cls(pretrained_model_name_or_path, quantize_config)

    @property
    def vocab_size(self) -> int:
        return self._native.vocab_size

    def quantize(self, examples: Any = None, batch_size: Any = _UNSET, use_triton: Any = _UNSET,
                 use_cuda_fp16: Any = _UNSET, autotune_warmup_after_quantized: Any = _UNSET,
                 cache_examples_on_gpu: Any = _UNSET) -> Dict[str, Any]:
        """GPTQ (or RTN, with algorithm="rtn" and no examples) of every planned Linear, layer by layer.

        examples: AutoGPTQ's list of dicts with "input_ids" (and optional "attention_mask": its 0 positions are
        dropped) as lists, numpy arrays or torch tensors (1-D or [1, L]), or plain id lists; or the path of a
        calibration file, read as ``fp4gptq quantize --calib`` reads it (token-id JSONL, text JSONL or .txt, with
        the config's nsamples, seqlen, seed, calib_mode, text_field, tokenizer and bos).
        AutoGPTQ's batch_size, use_triton, use_cuda_fp16, autotune_warmup_after_quantized and
        cache_examples_on_gpu are accepted and ignored (one log line).

        Returns the summary as a dict, with "per_module" (one dict per quantized module: its name and the stats
        of quantization_report.json), "skipped_modules" and "report" (the whole quantization_report.json).
        Ctrl-C stops it within seconds with KeyboardInterrupt and removes what it was writing."""
        given = {k: v for k, v in (("batch_size", batch_size), ("use_triton", use_triton),
                                   ("use_cuda_fp16", use_cuda_fp16),
                                   ("autotune_warmup_after_quantized", autotune_warmup_after_quantized),
                                   ("cache_examples_on_gpu", cache_examples_on_gpu)) if v is not _UNSET}
        _log_ignored("quantize", given)
        if isinstance(examples, (str, os.PathLike)):
            c = self.quantize_config.calibration_fields()
            r = self._native.quantize_file(
                os.fspath(examples), os.fspath(c["tokenizer"] or self.model_dir), c["bos"], c["nsamples"],
                c["seqlen"], c["calib_mode"], c["seed"], c["text_field"],
                lambda s: None if self.quantize_config.quiet else log.info("calibration: %s", s["description"]))
        else:
            if examples is None and self.quantize_config.algorithm != "rtn":
                raise InvalidInputError("quantize: GPTQ needs calibration examples (or algorithm=\"rtn\")")
            r = self._native.quantize(examples)
        report = json.loads(r.pop("json"))
        r["per_module"] = [{"module": name, **stats} for name, stats in report.get("modules", {}).items()]
        r["skipped_modules"] = [{"module": name, "reason": why} for name, why in report.get("skipped", {}).items()]
        r["report"] = report
        self.quantization_report = r
        return r

    def save_quantized(self, save_dir: PathLike, use_safetensors: bool = True,
                       safetensors_metadata: Optional[Dict[str, str]] = None, overwrite: bool = False) -> None:
        """Moves the checkpoint quantize() built into save_dir (which must not exist, or with overwrite be a
        directory fp4gptq wrote; on another filesystem than work_dir it is copied beside save_dir first).
        Files: docs/DESIGN.md §7. AutoGPTQ's safetensors_metadata is not written (a warning says so)."""
        if use_safetensors is not True:
            raise InvalidInputError("save_quantized: fp4gptq writes safetensors only (use_safetensors=True)")
        if safetensors_metadata:
            log.warning("save_quantized: safetensors_metadata (%s) is not written; the files carry "
                        "{\"format\": \"pt\"}", ", ".join(sorted(safetensors_metadata)))
        self._native.save_quantized(os.fspath(save_dir), overwrite)

    save_pretrained = save_quantized

    def __repr__(self) -> str:
        return f"fp4gptq.CausalLM({self.model_dir!r}, {self.quantize_config!r})"


AutoGPTQForCausalLM = CausalLM


def _log_ignored(where: str, keywords: Dict[str, Any]) -> None:
    if keywords:
        log.info("%s: %s ignored (GPU, kernel or batching options of AutoGPTQ; fp4gptq runs on the CPU)", where,
                 ", ".join(sorted(keywords)))
