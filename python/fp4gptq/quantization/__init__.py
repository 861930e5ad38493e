"""AutoGPTQ's module layout: ``from fp4gptq.quantization.config import QUANT_METHOD``."""
from .config import QUANT_METHOD, BaseQuantizeConfig

__all__ = ["QUANT_METHOD", "BaseQuantizeConfig"]
