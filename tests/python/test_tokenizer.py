"""fp4gptq.AutoTokenizer gives the tokenizers library's ids (golden files made with it), as transformers calls
return them."""
import gzip
import json
import shutil

import numpy as np
import pytest

import fp4gptq
from conftest import TOKENIZERS


def golden():
    texts = [json.loads(l)["text"] for l in (TOKENIZERS / "corpus.jsonl").read_text().splitlines()]
    expected = [json.loads(l) for l in gzip.decompress((TOKENIZERS / "expected/qwen3.jsonl.gz").read_bytes())
                .decode().splitlines()]
    return list(zip(texts, expected))


def test_ids_are_the_tokenizers_librarys(qwen3_tokenizer):
    tok = fp4gptq.AutoTokenizer.from_pretrained(qwen3_tokenizer)
    pairs = golden()
    assert len(pairs) == 584
    texts = [t for t, _ in pairs]
    batch = tok(texts)
    for (text, want), ids, mask in zip(pairs, batch["input_ids"], batch["attention_mask"]):
        assert ids == want["special"], text
        assert mask == [1] * len(ids)
        assert tok.encode(text, add_special_tokens=False) == want["plain"]
        assert tok.decode(ids) == want["decoded"]


def test_call_returns_what_transformers_returns(qwen3_tokenizer):
    tok = fp4gptq.AutoTokenizer.from_pretrained(qwen3_tokenizer, use_fast=True)
    enc = tok("Hello world")
    assert isinstance(enc, dict) and set(enc) == {"input_ids", "attention_mask"}
    assert enc.input_ids == enc["input_ids"] == [9707, 1879]
    assert tok("Hello world", return_attention_mask=False) == {"input_ids": [9707, 1879]}
    arr = tok(["Hello world", "Hello there"], return_tensors="np")
    assert arr["input_ids"].dtype == np.int64 and arr["input_ids"].shape == (2, 2)
    assert tok.decode(np.array([[9707, 1879]])) == "Hello world"
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 151643 and len(tok) == tok.vocab_size == 151669


def test_truncation_keeps_the_first_tokens(qwen3_tokenizer):
    tok = fp4gptq.AutoTokenizer.from_pretrained(qwen3_tokenizer)
    full = tok.encode("one two three four five six")
    assert tok("one two three four five six", truncation=True, max_length=3)["input_ids"] == full[:3]
    assert tok("one two three four five six", max_length=3)["input_ids"] == full[:3]  # as transformers
    assert tok("one two three four five six", truncation=False, max_length=3)["input_ids"] == full


def test_bos_policies_add_their_token(tmp_path):
    (tmp_path / "tokenizer.json").write_bytes(
        gzip.decompress((TOKENIZERS / "llama3/tokenizer.json.gz").read_bytes()))
    shutil.copy(TOKENIZERS / "llama3/tokenizer_config.json", tmp_path)
    always = fp4gptq.AutoTokenizer.from_pretrained(tmp_path, bos="always")
    never = fp4gptq.AutoTokenizer.from_pretrained(tmp_path, bos="never")
    hi = never.encode("hi")
    assert always.encode("hi") == [128000] + hi and hi[0] != 128000  # <|begin_of_text|>
    # The BOS stays when truncating (the text's tokens are cut), as transformers' truncation=True.
    assert always.encode("hi there you", max_length=2) == [128000, hi[0]]
    with pytest.raises(ValueError, match="max_length 0 leaves no room for the 1 special tokens"):
        always.encode("hi", max_length=0)


@pytest.mark.parametrize("call, message", [
    (lambda t: t(b"bytes"), "text must be a str or a list of str"),
    (lambda t: t("x", padding=True), "padding is not supported"),
    (lambda t: t("x", truncation=True), "truncation=True needs max_length"),
    (lambda t: t(["a", "bc d"], return_tensors="np"), "different lengths"),
    (lambda t: t("x", return_tensors="tf"), "return_tensors 'tf' is not np or pt"),
    (lambda t: t.decode([1, -1]), "not a valid id"),
])
def test_bad_calls_raise_value_errors(qwen3_tokenizer, call, message):
    tok = fp4gptq.AutoTokenizer.from_pretrained(qwen3_tokenizer)
    with pytest.raises(ValueError, match=message):
        call(tok)


def test_missing_tokenizer_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json: missing"):
        fp4gptq.AutoTokenizer.from_pretrained(tmp_path)
