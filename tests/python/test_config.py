"""BaseQuantizeConfig takes AutoGPTQ's keywords and every option of the CLI's quantize; unknown keywords and
impossible values raise ValueError naming them; C++ errors arrive with their kind and message."""
import re
import shutil
import tempfile

import pytest

import fp4gptq
from fp4gptq import BaseQuantizeConfig, QUANT_METHOD
from conftest import run_cli

# CLI flags of quantize that are not quantize-config keywords, and where they went instead.
NOT_CONFIG = {"--help": None, "--model": "from_pretrained", "--calib": "quantize", "--out": "save_quantized",
              "--overwrite": "save_quantized", "--damp": "damp_percent", "--no-true-sequential": "true_sequential",
              "--no-fuse-scales": "fuse_scales", "--max-act-memory": "max_act_memory"}


def test_every_quantize_option_of_the_cli_is_a_keyword():
    help_text = run_cli("quantize", "--help").stdout
    flags = sorted(set(re.findall(r"^\s+(--[a-z0-9-]+)", help_text, re.M)))
    assert len(flags) > 25
    fields = BaseQuantizeConfig.fields()
    for flag in flags:
        keyword = NOT_CONFIG.get(flag, flag[2:].replace("-", "_"))
        if keyword in (None, "from_pretrained", "quantize", "save_quantized"):
            continue
        assert keyword in fields, f"{flag} has no BaseQuantizeConfig keyword"


def test_autogptq_spellings_import():
    from fp4gptq.quantization.config import QUANT_METHOD as Q
    from fp4gptq.quantization import BaseQuantizeConfig as B
    assert Q is QUANT_METHOD and B is BaseQuantizeConfig and QUANT_METHOD.NVFP4 == "nvfp4"
    assert fp4gptq.AutoGPTQForCausalLM is fp4gptq.CausalLM
    c = BaseQuantizeConfig(bits=4, group_size=16, desc_act=False, damp_percent=0.01, static_groups=False,
                           true_sequential=True, sym=True, model_file_base_name=None, quant_method="nvfp4")
    assert c.bits == 4 and c.quant_method == "nvfp4"


@pytest.mark.parametrize("kwargs, message", [
    (dict(foo=1), "unknown keyword foo"),
    (dict(foo=1, bar=2), "unknown keywords bar, foo"),
    (dict(bits=8), "only NVFP4 \\(bits 4, group_size 16\\) is supported, got bits 8"),
    (dict(group_size=128), "got bits 4, group_size 128"),
    (dict(sym=False), "sym: must be True"),
    (dict(quant_method="gptq"), "quant_method: 'gptq' is not available"),
    (dict(desc_act=1), "desc_act: 1 is a int; bool expected"),
    (dict(bits=True), "bits: True is a bool; int expected"),
    (dict(damp_percent="high"), "damp_percent: 'high' is a str"),
    (dict(damp_percent=2.0), "damp_percent: must be in \\[0, 1\\]"),
    (dict(block_size=100), "block_size: must be a positive multiple of 16, got 100"),
    (dict(dtype="int8"), "dtype: \"int8\" is not one of"),
    (dict(dtype="float32"), "dtype: float32 is not allowed"),
    (dict(compute="fp8"), "compute: \"fp8\" is not one of"),
    (dict(algorithm="awq"), "algorithm: \"awq\" is not one of"),
    (dict(max_shard_size="5XB"), "max_shard_size"),
    (dict(max_act_memory=-1), "max_act_memory: must be >= 0"),
    (dict(threads=-2), "threads: must be >= 0"),
    (dict(checkpoint_every=-1), "checkpoint_every: must be >= 0"),
    (dict(moe_min_tokens=-5), "moe_min_tokens"),
    (dict(model_file_base_name="a/b"), "model_file_base_name: \"a/b\" must be a plain file name"),
    (dict(model_file_base_name=".hidden"), "must be a plain file name"),
    (dict(block_scales="sometimes"), "block_scales: 'sometimes' is not dynamic or static"),
    (dict(calib_mode="random"), "calib_mode: 'random' is not one of"),
    (dict(bos="maybe"), "bos: 'maybe' is not one of"),
    (dict(nsamples=-1), "nsamples: must be >= 0"),
    (dict(seed=-1), "seed: must be >= 0"),
])
def test_impossible_values_raise_value_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BaseQuantizeConfig(**kwargs)


def test_sizes_parse_as_the_cli_parses_them():
    c = BaseQuantizeConfig(max_shard_size="5GB", max_act_memory="2GiB")
    assert c.native_fields()["max_shard_bytes"] == 5 * 10 ** 9
    assert c.native_fields()["max_act_bytes"] == 2 * 2 ** 30
    assert BaseQuantizeConfig(max_shard_size=1000).native_fields()["max_shard_bytes"] == 1000
    assert BaseQuantizeConfig(block_scales="static").native_fields()["static_groups"] is True


def test_a_field_set_later_is_checked_at_from_pretrained(moe_model):
    c = BaseQuantizeConfig()
    c.block_size = 24
    with pytest.raises(ValueError, match="block_size"):
        fp4gptq.CausalLM.from_pretrained(moe_model, c)
    with pytest.raises(ValueError, match="unknown field colour"):
        c.colour = "red"


def test_from_pretrained_ignores_gpu_keywords_and_refuses_unknown_ones(moe_model, caplog):
    with caplog.at_level("INFO", logger="fp4gptq"):
        fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(), device_map="auto", torch_dtype="float16")
    assert "device_map, torch_dtype ignored" in caplog.text
    with pytest.raises(ValueError, match="unknown keyword\\(s\\) colour"):
        fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(), colour="red")


def test_cpp_errors_arrive_with_their_kind(tmp_path, moe_model):
    with pytest.raises(fp4gptq.MissingFileError, match="not a directory") as e:
        fp4gptq.CausalLM.from_pretrained(tmp_path / "nowhere")
    assert isinstance(e.value, FileNotFoundError)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/config.json").write_text("{not json")
    with pytest.raises(fp4gptq.InvalidInputError, match="config.json: not valid JSON"):
        fp4gptq.CausalLM.from_pretrained(tmp_path / "bad")
    with pytest.raises(fp4gptq.MissingFileError, match="cannot open"):
        fp4gptq.load_examples(tmp_path / "missing.jsonl", vocab_size=10)
    model = fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(quiet=True, work_dir="/proc"))
    with pytest.raises(fp4gptq.InternalError, match="staging directory") as e:
        model.quantize([[1, 2, 3]])
    assert isinstance(e.value, RuntimeError)


def test_save_before_quantize_and_bad_outputs(moe_model, tmp_path):
    model = fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(quiet=True))
    with pytest.raises(ValueError, match="call quantize\\(\\) first"):
        model.save_quantized(tmp_path / "out")
    model.quantize([[1, 2, 3, 4]])
    with pytest.raises(ValueError, match="safetensors only"):
        model.save_quantized(tmp_path / "out", use_safetensors=False)
    with pytest.raises(ValueError, match="the output is the input"):
        model.save_quantized(moe_model, overwrite=True)  # an input is never an output
    model.save_quantized(tmp_path / "out")
    assert (tmp_path / "out/pseudo_quantized_model-4bit-16g.safetensors").exists()


def test_a_path_that_is_not_utf8_is_named_in_the_message(tmp_path):
    with pytest.raises(fp4gptq.MissingFileError, match=r"nowhere\\xff: not a directory"):
        fp4gptq.CausalLM.from_pretrained(str(tmp_path / "nowhere") + "\udcff")


def test_save_to_another_filesystem_than_the_work_dir(moe_model, tmp_path):
    import os
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem here")
    work = tempfile.mkdtemp(dir=shm)
    try:
        model = fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(quiet=True, algorithm="rtn",
                                                                                 work_dir=work))
        model.quantize()
        model.save_quantized(tmp_path / "out")
        assert (tmp_path / "out/pseudo_quantized_model-4bit-16g_scales.safetensors").exists()
        assert os.listdir(work) == [] and not (tmp_path / "out.fp4gptq-staging").exists()
        run_cli("rtn", "--model", moe_model, "--out", tmp_path / "cli", "--quiet")
        from conftest import file_digests
        assert file_digests(tmp_path / "out") == file_digests(tmp_path / "cli")
    finally:
        shutil.rmtree(work)


def test_config_signature_equality_and_metadata_warning(moe_model, tmp_path, caplog):
    import inspect
    params = inspect.signature(BaseQuantizeConfig).parameters
    assert params["bits"].default == 4 and params["group_size"].default == 16 and "max_shard_size" in params
    assert BaseQuantizeConfig(dtype="bfloat16") == BaseQuantizeConfig(dtype="bfloat16") != BaseQuantizeConfig()
    model = fp4gptq.CausalLM.from_pretrained(moe_model, BaseQuantizeConfig(quiet=True, algorithm="rtn"))
    model.quantize()
    with caplog.at_level("WARNING", logger="fp4gptq"):
        model.save_quantized(tmp_path / "out", safetensors_metadata={"who": "me"})
    assert "safetensors_metadata (who) is not written" in caplog.text


def test_docstrings_and_stubs_are_there():
    import pathlib
    assert "AutoGPTQ" in fp4gptq.__doc__ and "examples" in fp4gptq.CausalLM.quantize.__doc__
    assert "max_length" in fp4gptq.Tokenizer.__call__.__doc__
    pkg = pathlib.Path(fp4gptq.__file__).parent
    assert (pkg / "_native.pyi").exists() and (pkg / "py.typed").exists()
