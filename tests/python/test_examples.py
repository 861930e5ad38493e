"""Every examples form AutoGPTQ accepts becomes the same token ids; bad ones raise clear exceptions."""
import array

import numpy as np
import pytest

import fp4gptq
from fp4gptq import _native
from conftest import file_digests, token_examples

IDS = [5, 17, 3, 200, 9]


class TensorLike:
    """What torch.Tensor offers without torch: __array__ (numpy's view) and tolist()."""

    def __init__(self, rows, dtype=np.int64):
        self.a = np.asarray(rows, dtype=dtype)
        self.ndim = self.a.ndim

    def __array__(self, dtype=None):
        return self.a if dtype is None else self.a.astype(dtype)

    def tolist(self):
        return self.a.tolist()


class ListOnly:
    """A tensor whose __array__ fails (e.g. bfloat16, or numpy missing): tolist() is used."""

    def __array__(self, dtype=None):
        raise TypeError("no numpy view")

    def tolist(self):
        return [IDS]


@pytest.mark.parametrize("form", [
    IDS, tuple(IDS), [IDS], np.array(IDS), np.array(IDS, dtype=np.int32), np.array([IDS], dtype=np.int64),
    np.array(IDS, dtype=np.uint16), np.array([IDS, IDS])[0], np.array(IDS, dtype=">i4"), np.array(IDS, dtype=">u2"),
    np.array(IDS, dtype=">i8"), np.array(IDS, dtype=np.uint8),
    array.array("q", IDS), TensorLike(IDS), TensorLike([IDS]), TensorLike(IDS, np.int32), ListOnly(),
    [np.int64(i) for i in IDS], [np.array(IDS)], (TensorLike(IDS),), [tuple(IDS)],
], ids=lambda f: type(f).__name__)
def test_every_form_gives_the_same_ids(form):
    assert _native.to_examples([form]) == [IDS]
    assert _native.to_examples([{"input_ids": form}]) == [IDS]
    assert _native.to_examples([{"input_ids": form, "attention_mask": [1] * 5}]) == [IDS]


def test_strided_views_are_read_as_their_elements():
    a = np.arange(20, dtype=np.int64).reshape(4, 5)
    assert _native.to_examples([a[:, 1], a[2:3, ::2]]) == [[1, 6, 11, 16], [10, 12, 14]]


def test_attention_mask_drops_its_zero_positions():
    ex = [{"input_ids": np.array([[7, 8, 9, 10]]), "attention_mask": np.array([[0, 1, 1, 0]])}]
    assert _native.to_examples(ex) == [[8, 9]]
    for mask in (np.array([False, True, True, False]), [False, True, True, False], TensorLike([0, 1, 1, 0], np.bool_)):
        assert _native.to_examples([{"input_ids": [7, 8, 9, 10], "attention_mask": mask}]) == [[8, 9]]
    assert _native.to_examples([{"input_ids": [1, 2], "attention_mask": None}]) == [[1, 2]]


def test_tokenizer_output_is_an_example(dense_model):
    tok = fp4gptq.AutoTokenizer.from_pretrained(dense_model)
    enc = tok("Hello world, this is fp4gptq.")
    np_enc = tok("Hello world, this is fp4gptq.", return_tensors="np")
    assert np_enc["input_ids"].shape == (1, len(enc["input_ids"]))
    assert _native.to_examples([enc, np_enc]) == [enc["input_ids"]] * 2


@pytest.mark.parametrize("examples, message", [
    ([], "examples: empty"),
    ("a text", "examples: a str; a list of examples"),
    ({"input_ids": IDS}, "examples: a dict; a list of examples"),
    ([np.array([1.0, 2.0])], r"examples\[0\]: dtype float64; token ids must be integers"),
    ([np.array([1, 2], dtype=np.float32)], "dtype float32"),
    ([np.array([True, False])], "dtype bool"),
    ([[1, np.bool_(True)]], "element 1 is a bool"),
    ([{"input_ids": [1, 2], "attention_mask": [1.0, 1.0]}], "an attention mask holds 0 and 1"),
    ([np.array([2 ** 40], dtype=np.uint64)], "token id 1099511627776 at position 0 is not a valid id"),
    ([np.array([-1], dtype=np.int16)], "token id -1 at position 0"),
    ([np.zeros((0, 3), dtype=np.int64)], "holds no sequence"),
    ([[1, 2.5]], r"examples\[0\]: element 1 is a float"),
    ([[1, True]], "element 1 is a bool"),
    ([np.array([IDS, IDS])], r"examples\[0\]: shape \[2, 5\] holds a batch"),
    ([[IDS, IDS]], "a batch of 2 sequences"),
    ([TensorLike([IDS, IDS])], "holds a batch"),
    ([np.zeros((1, 2, 3), dtype=np.int64)], "3-D array"),
    ([{"text": "hi"}], r"examples\[0\]: no \"input_ids\""),
    ([{"input_ids": [1, 2], "attention_mask": [1]}], r"attention_mask\"\]: 1 values for 2 input_ids"),
    ([{"input_ids": [1, 2], "attention_mask": [1, 2]}], "values must be 0 or 1"),
    ([{"input_ids": [1, 2], "attention_mask": [0, 0]}], "no tokens left after attention_mask"),
    ([[1, -4]], "token id -4 at position 1 is not a valid id"),
    ([[2 ** 40]], "is not a valid id"),
    ([[2 ** 70]], "does not fit in 64 bits"),
    ([None], r"examples\[0\]: None"),
    ([b"bytes"], "a bytes; token ids are expected"),
    ([3], "a int; token ids are"),
])
def test_bad_examples_raise_value_errors_naming_them(examples, message):
    with pytest.raises(fp4gptq.InvalidInputError, match=message) as e:
        _native.to_examples(examples)
    assert isinstance(e.value, ValueError) and isinstance(e.value, fp4gptq.Error)


def test_ids_outside_the_vocabulary_and_empty_samples_are_refused_by_quantize(moe_model):
    model = fp4gptq.CausalLM.from_pretrained(moe_model, fp4gptq.BaseQuantizeConfig(quiet=True))
    with pytest.raises(ValueError, match=r"calibration example 1 has token id 512 outside the vocabulary \[0, 512\)"):
        model.quantize([[1, 2], [3, 512]])
    with pytest.raises(ValueError, match="calibration example 0 is empty"):
        model.quantize([[], [1]])


def test_numpy_and_tensor_examples_quantize_to_the_bytes_of_lists(moe_model, tmp_path):
    lists = token_examples(moe_model, 6, 16)
    forms = [{"input_ids": np.array([e["input_ids"]]), "attention_mask": np.ones((1, len(e["input_ids"])))
              .astype(np.int64)} if i % 2 else TensorLike(e["input_ids"]) for i, e in enumerate(lists)]
    for name, examples in (("lists", lists), ("forms", forms)):
        model = fp4gptq.CausalLM.from_pretrained(moe_model, fp4gptq.BaseQuantizeConfig(quiet=True, threads=1))
        model.quantize(examples)
        model.save_quantized(tmp_path / name)
    assert file_digests(tmp_path / "forms") == file_digests(tmp_path / "lists")


def test_numpy_is_optional():
    code = """
import sys
sys.modules["numpy"] = None  # import numpy fails from here on
import fp4gptq
from fp4gptq import _native

class Tensor:  # a torch tensor's methods, numpy missing
    def __array__(self, dtype=None):
        import numpy
    def tolist(self):
        return [[4, 5, 6]]

assert _native.to_examples([[1, 2], {"input_ids": Tensor()}, (7, 8)]) == \\
    [[1, 2], [4, 5, 6], [7, 8]]
print("ok")
"""
    import os
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
