#!/usr/bin/env python3
"""The AutoGPTQ-style quantization script, on fp4gptq: only the imports differ from AutoGPTQ's.

    PYTHONPATH=build/python /usr/bin/python3 examples/quantize_qwen3.py --model_name out/tiny-qwen3 \
        --calib tests/data/tokenizers/eval/eval.jsonl --num_calibrations 16 --out out/tiny-qwen3-py

--calib is a JSONL file with a "text" field per line (C4, wikitext rows, ...) or a plain .txt (one document per
blank-line-separated paragraph); each of the first --num_calibrations non-empty documents, tokenized and
truncated to --seqlen tokens, is one calibration example, as in AutoGPTQ's examples.
"""
import argparse
import json
import logging
import pathlib

from fp4gptq import AutoGPTQForCausalLM, AutoTokenizer, BaseQuantizeConfig
from fp4gptq.quantization.config import QUANT_METHOD


def read_texts(path):
    p = pathlib.Path(path)
    if p.suffix == ".txt":
        return [t for t in p.read_text(encoding="utf-8").split("\n\n") if t.strip()]
    with open(p, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_name", required=True, help="Hugging Face model directory")
    parser.add_argument("--calib", required=True, help="calibration text: JSONL with \"text\", or .txt")
    parser.add_argument("--num_calibrations", type=int, default=128, help="calibration examples")
    parser.add_argument("--seqlen", type=int, default=2048, help="tokens per example at most")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--threads", type=int, default=0, help="threads (0: all cores)")
    parser.add_argument("--format", default="pseudo", choices=("pseudo", "compressed-tensors", "modelopt"),
                        help="pseudo-quantized float16, or packed NVFP4 for vLLM (compressed-tensors) / TensorRT-LLM "
                             "(modelopt)")
    parser.add_argument("--activations", default="none", choices=("none", "nvfp4"),
                        help="packed formats: W4A16 (none) or W4A4 (nvfp4)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    tokenizer = AutoTokenizer.from_pretrained(args.model_name, use_fast=True)
    examples = []
    for text in read_texts(args.calib):
        example = tokenizer(text, truncation=True, max_length=args.seqlen)
        if example["input_ids"]:
            examples.append(example)
        if len(examples) == args.num_calibrations:
            break
    logging.info("%d calibration examples, %d tokens", len(examples), sum(len(e["input_ids"]) for e in examples))

    quantize_config = BaseQuantizeConfig(bits=4, group_size=16, desc_act=False, quant_method=QUANT_METHOD.NVFP4,
                                         threads=args.threads, format=args.format, activations=args.activations)
    model = AutoGPTQForCausalLM.from_pretrained(args.model_name, quantize_config)
    report = model.quantize(examples, use_triton=False, cache_examples_on_gpu=False)
    model.save_quantized(args.out, use_safetensors=True)
    print(f"{report['modules']} modules quantized ({report['fallbacks']} fallbacks, {report['skipped']} left "
          f"unquantized) on {report['samples']} samples / {report['tokens']} tokens: mean rel_err "
          f"{report['mean_rel_err']:.5f} vs RTN {report['mean_rtn_rel_err']:.5f} -> {args.out}")


if __name__ == "__main__":
    main()
