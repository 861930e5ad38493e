"""Perplexity and calibration files, as the CLI's eval-ppl and quantize --calib read them."""
from __future__ import annotations

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


def load_examples(file: PathLike, tokenizer: Optional[PathLike] = None, nsamples: int = 0, seqlen: int = 0,
                  calib_mode: str = "auto", seed: Optional[int] = None, text_field: str = "text",
                  bos: str = "file", vocab_size: int = 0) -> List[List[int]]:
    """Calibration samples of a file, as ``fp4gptq quantize --calib`` reads it (docs/DESIGN.md §6): token-id JSONL,
    text JSONL or .txt (encoded with ``tokenizer``: a directory holding tokenizer.json, or the file). Token ids must
    be below vocab_size (the model's; 0: the tokenizer's, and then token-id files need it set)."""
    examples, _ = _native.load_calibration(os.fspath(file), os.fspath(tokenizer or ""), bos, nsamples, seqlen,
                                           calib_mode, seed, text_field, vocab_size)
    return examples
