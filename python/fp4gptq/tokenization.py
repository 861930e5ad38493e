"""AutoTokenizer: a Hugging Face tokenizer.json read by fp4gptq's C++ tokenizer, called as transformers' is
(``tokenizer(text)`` gives ``{"input_ids", "attention_mask"}``), with the ids of the tokenizers library."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _native
from ._errors import InvalidInputError

# transformers' from_pretrained keywords that change nothing here.
_IGNORED_LOAD_KEYWORDS = ("use_fast", "trust_remote_code", "revision", "cache_dir", "local_files_only",
                          "padding_side", "legacy")


class BatchEncoding(dict):
    """What calling a tokenizer returns: a dict with ``input_ids`` and ``attention_mask`` (also attributes)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Tokenizer:
    """A tokenizer.json (docs/DESIGN.md §11). ``bos`` says which special tokens encoding adds: "file" (the
    post-processor's, as the tokenizers library), "auto" (as transformers' Llama/Gemma classes), "always", "never"."""

    def __init__(self, path: Union[str, os.PathLike], bos: str = "file") -> None:
        self._native = _native.Tokenizer(os.fspath(path), bos)
        self.name_or_path = os.fspath(path)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], bos: str = "file",
                        **kwargs: Any) -> "Tokenizer":
        """A model directory holding tokenizer.json (and tokenizer_config.json), or a tokenizer.json file."""
        unknown = sorted(set(kwargs) - set(_IGNORED_LOAD_KEYWORDS))
        if unknown:
            raise InvalidInputError(f"AutoTokenizer.from_pretrained: unknown keyword(s) {', '.join(unknown)}")
        return cls(pretrained_model_name_or_path, bos)

    @property
    def vocab_size(self) -> int:
        """One past the largest token id, added tokens included (what transformers' len(tokenizer) is; its
        vocab_size leaves the added tokens out)."""
        return self._native.vocab_size

    def __len__(self) -> int:
        return self._native.vocab_size

    def convert_tokens_to_ids(self, token: str) -> Optional[int]:
        return self._native.token_to_id(token)

    def encode(self, text: str, add_special_tokens: bool = True, truncation: Optional[bool] = None,
               max_length: Optional[int] = None) -> List[int]:
        """The ids of one text; with max_length (and truncation not False) at most that many, the special
        tokens kept, as transformers' truncation=True."""
        return self._native.encode(text, add_special_tokens, _limit(truncation, max_length))

    def __call__(self, text: Union[str, Sequence[str]], add_special_tokens: bool = True,
                 truncation: Optional[bool] = None, max_length: Optional[int] = None,
                 return_tensors: Optional[str] = None, return_attention_mask: bool = True,
                 padding: Union[bool, str] = False) -> BatchEncoding:
        """``{"input_ids": [...], "attention_mask": [1, ...]}`` for a text, lists of them for a list of texts.

        max_length (with truncation True, or not given) keeps at most that many ids, the special tokens kept, as
        transformers' truncation=True; return_tensors "np" (numpy) or "pt" (torch, imported only then) gives
        [1, L] / [B, L] arrays; padding is not supported (calibration examples need none)."""
        if padding not in (False, "do_not_pad"):
            raise InvalidInputError("tokenizer: padding is not supported (calibration examples need none)")
        limit = _limit(truncation, max_length)
        single = isinstance(text, str)
        if not single and not (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text)):
            raise InvalidInputError(f"tokenizer: text must be a str or a list of str, got {type(text).__name__}")
        ids = [self._native.encode(text, add_special_tokens, limit)] if single else \
            self._native.encode_batch(list(text), add_special_tokens, limit)
        out = BatchEncoding(input_ids=ids[0] if single else ids)
        if return_attention_mask:
            out["attention_mask"] = [1] * len(ids[0]) if single else [[1] * len(x) for x in ids]
        if return_tensors is not None:
            for k in list(out):
                out[k] = _tensor([out[k]] if single else out[k], return_tensors)
        return out

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        """Text of token ids (a list, numpy array or tensor, 1-D or [1, L])."""
        return self._native.decode(ids, skip_special_tokens)

    def batch_decode(self, sequences: Sequence[Any], skip_special_tokens: bool = False) -> List[str]:
        return [self.decode(s, skip_special_tokens) for s in sequences]

    def __repr__(self) -> str:
        return f"fp4gptq.Tokenizer({self.name_or_path!r}, vocab_size={self.vocab_size})"


class AutoTokenizer:
    """transformers' entry point: ``AutoTokenizer.from_pretrained(model_dir)`` gives a fp4gptq.Tokenizer."""

    @staticmethod
    def from_pretrained(pretrained_model_name_or_path: Union[str, os.PathLike], bos: str = "file",
                        **kwargs: Any) -> Tokenizer:
        return Tokenizer.from_pretrained(pretrained_model_name_or_path, bos, **kwargs)


def _limit(truncation: Optional[bool], max_length: Optional[int]) -> Optional[int]:
    if truncation is True and max_length is None:
        raise InvalidInputError("tokenizer: truncation=True needs max_length")
    if max_length is None or truncation is False:
        return None
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
        raise InvalidInputError(f"tokenizer: max_length must be an int >= 0, got {max_length!r}")
    return max_length


def _tensor(rows: List[List[int]], kind: str) -> Any:
    if kind not in ("np", "pt"):
        raise InvalidInputError(f"tokenizer: return_tensors {kind!r} is not np or pt")
    if len({len(r) for r in rows}) > 1:
        raise InvalidInputError("tokenizer: the texts have different lengths; return_tensors needs equal "
                                "lengths (pass them one at a time, or without return_tensors)")
    import numpy
    a = numpy.asarray(rows, dtype=numpy.int64)
    if kind == "np":
        return a
    import torch  # only when asked for
    return torch.from_numpy(a)
