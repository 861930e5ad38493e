"""fp4gptq: NVFP4 quantization of Hugging Face LLMs with GPTQ, shaped like AutoGPTQ::

    from fp4gptq import AutoGPTQForCausalLM, AutoTokenizer, BaseQuantizeConfig, QUANT_METHOD

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = [tokenizer(text) for text in texts]
    quantize_config = BaseQuantizeConfig(bits=4, group_size=16, desc_act=False, quant_method=QUANT_METHOD.NVFP4)
    model = AutoGPTQForCausalLM.from_pretrained(model_dir, quantize_config)
    model.quantize(examples)
    model.save_quantized(out_dir, use_safetensors=True)

Progress and warnings go to logging.getLogger("fp4gptq") (progress at INFO: silent unless logging is set up).
"""
import logging as _logging

from ._errors import Cancelled, Error, InternalError, InvalidInputError, MissingFileError
from . import _native  # after _errors: it maps the C++ errors to those classes
from . import quantization
from .quantization.config import QUANT_METHOD, BaseQuantizeConfig
from .modeling import AutoGPTQForCausalLM, CausalLM
from .tokenization import AutoTokenizer, BatchEncoding, Tokenizer
from .evaluation import eval_kld, eval_ppl, export_checkpoint, load_examples

__version__ = "0.1.0"
__all__ = ["AutoGPTQForCausalLM", "AutoTokenizer", "BaseQuantizeConfig", "BatchEncoding", "Cancelled", "CausalLM",
           "Error", "InternalError", "InvalidInputError", "MissingFileError", "QUANT_METHOD", "Tokenizer", "eval_kld", "eval_ppl",
           "export_checkpoint", "load_examples", "quantization"]

_logging.getLogger("fp4gptq").addHandler(_logging.NullHandler())
