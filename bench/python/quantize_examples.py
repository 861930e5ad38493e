"""The Python side of bench/python/overhead.sh: AutoGPTQ's flow on a token-id calibration file (examples read
in Python as lists, as a script would build them), the same options as the CLI run beside it."""
import json
import os
import sys

import fp4gptq

model_dir, calib, nsamples, seqlen, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
with open(calib) as f:
    examples = [{"input_ids": json.loads(line)["input_ids"][:seqlen]} for line in f if line.strip()][:nsamples]
model = fp4gptq.AutoGPTQForCausalLM.from_pretrained(model_dir, fp4gptq.BaseQuantizeConfig(quiet=True, work_dir=os.path.dirname(out)))
model.quantize(examples)
model.save_quantized(out, overwrite=True)
