"""Perplexity and calibration files, as the CLI's eval-ppl and quantize --calib read them."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Union

from . import _native

PathLike = Union[str, os.PathLike]


def eval_ppl(model_dir: PathLike, data: PathLike, seqlen: int = 2048, tokenizer: Optional[PathLike] = None,
             bos: str = "file", text_field: str = "text", compute: str = "bf16", threads: int = 0,
             quiet: bool = False) -> Dict[str, Any]:
    """Perplexity of a model directory (original or pseudo-quantized) on a data file (docs/DESIGN.md §8): token-id
    JSONL (every line's ids in file order), or text (JSONL documents joined with "\\n\\n", or a whole .txt, encoded
    once with the model's tokenizer or ``tokenizer``); non-overlapping windows of seqlen, the tail dropped.
    Returns {"ppl", "mean_nll", "windows", "scored_tokens"}; Ctrl-C stops it."""
    return _native.eval_ppl(os.fspath(model_dir), os.fspath(data), seqlen, os.fspath(tokenizer or model_dir), bos,
                            text_field, compute, threads, quiet)


def eval_kld(model_dir: Optional[PathLike], base_dir: Optional[PathLike] = None, data: Optional[PathLike] = None,
             seqlen: Optional[int] = None, base_logits: Optional[PathLike] = None,
             save_base_logits: Optional[PathLike] = None, overwrite: bool = False,
             tokenizer: Optional[PathLike] = None, bos: str = "file", text_field: str = "text", compute: str = "bf16",
             threads: int = 0, quiet: bool = False) -> Dict[str, Any]:
    """A model against its base, as ``fp4gptq eval --json`` (docs/DESIGN.md §8b): per scored token of eval_ppl's
    windows the KL divergence of the model's next-token distribution from the base's, and whether both pick the
    same top token. The base is ``base_dir`` (the original model) or ``base_logits`` (a file that
    ``save_base_logits`` wrote; then ``data`` and ``seqlen`` may be None: the file holds its tokens). Returns
    {"windows", "seqlen", "tokens", "ppl_base", "ppl_model", "ppl_ratio", "kld": {"mean", "ci95", "median",
    "p99", "max"}, "top1_agreement", "top1_agreement_ci95"} (only the base's figures when model_dir is None,
    i.e. when just saving the base's logits); Ctrl-C stops it."""
    return json.loads(_native.eval_kld(os.fspath(model_dir or ""), os.fspath(base_dir or ""), os.fspath(data or ""),
                                       seqlen or 0, os.fspath(base_logits or ""), os.fspath(save_base_logits or ""),
                                       overwrite, os.fspath(tokenizer or ""), bos, text_field, compute, threads, quiet))


def export_checkpoint(from_dir: PathLike, out_dir: PathLike, format: str = "compressed-tensors",
                      activations: str = "none", model_dir: Optional[PathLike] = None, dtype: Optional[str] = None,
                      max_shard_size: Union[int, str, None] = None, overwrite: bool = False,
                      quiet: bool = False) -> Dict[str, Any]:
    """A pseudo-quantized directory converted into a packed NVFP4 checkpoint, as ``fp4gptq export`` (docs/DESIGN.md
    §7b): format "compressed-tensors" (vLLM) or "modelopt" (TensorRT-LLM, vLLM); activations "none" (W4A16) or
    "nvfp4" (W4A4). The unquantized tensors come from ``model_dir`` (the original model) in their own dtype when
    given, else from ``from_dir``; ``dtype`` casts them. Returns {"modules", "input_bytes", "output_bytes",
    "seconds"}; Ctrl-C stops it and leaves nothing."""
    shard = _native.parse_size(max_shard_size, "max_shard_size") if isinstance(max_shard_size, str) else (
        max_shard_size or 0)
    return _native.export_checkpoint(os.fspath(from_dir), os.fspath(out_dir), format, activations,
                                     os.fspath(model_dir or ""), dtype, shard, overwrite, quiet)


def load_examples(file: PathLike, tokenizer: Optional[PathLike] = None, nsamples: int = 0, seqlen: int = 0,
                  calib_mode: str = "auto", seed: Optional[int] = None, text_field: str = "text",
                  bos: str = "file", vocab_size: int = 0) -> List[List[int]]:
    """Calibration samples of a file, as ``fp4gptq quantize --calib`` reads it (docs/DESIGN.md §6): token-id JSONL,
    text JSONL or .txt (encoded with ``tokenizer``: a directory holding tokenizer.json, or the file). Token ids must
    be below vocab_size (the model's; 0: the tokenizer's, and then token-id files need it set)."""
    examples, _ = _native.load_calibration(os.fspath(file), os.fspath(tokenizer or ""), bos, nsamples, seqlen,
                                           calib_mode, seed, text_field, vocab_size)
    return examples
