#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, generates a tiny Qwen3 model with its
# calibration data, quantizes it to NVFP4 (round-to-nearest for now) and shows what was written.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
FP4GPTQ=build/src/cli/fp4gptq
mkdir -p out
$FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers 4 --hidden 256 --intermediate 512 --heads 8 --kv-heads 4 \
  --head-dim 32 --vocab 1024 --out out/tiny-qwen3 --overwrite
$FP4GPTQ inspect --model out/tiny-qwen3
$FP4GPTQ rtn --model out/tiny-qwen3 --out out/tiny-qwen3-nvfp4 --overwrite
echo
echo "== out/tiny-qwen3-nvfp4"
ls -l out/tiny-qwen3-nvfp4
echo
echo "== quantize_config.json"
cat out/tiny-qwen3-nvfp4/quantize_config.json
