#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, generates a tiny Qwen3 model with Qwen3's real
# tokenizer.json, quantizes it to NVFP4 with GPTQ from text (random 128-token windows of the tokenizer
# test corpus, as the GPTQ paper samples C4), and prints what it wrote and how GPTQ compares with round-to-nearest on the same Hessians
# (perplexity of a random model would be noise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
FP4GPTQ=build/src/cli/fp4gptq
mkdir -p out/qwen3-tokenizer
gunzip -c tests/data/tokenizers/qwen3/tokenizer.json.gz >out/qwen3-tokenizer/tokenizer.json
cp tests/data/tokenizers/qwen3/tokenizer_config.json out/qwen3-tokenizer/
$FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers 4 --hidden 256 --intermediate 512 --heads 8 --kv-heads 4 \
  --head-dim 32 --tie-embeddings --tokenizer out/qwen3-tokenizer/tokenizer.json --out out/tiny-qwen3 --overwrite
$FP4GPTQ inspect --model out/tiny-qwen3
$FP4GPTQ quantize --model out/tiny-qwen3 --calib tests/data/tokenizers/corpus.jsonl --calib-mode windows \
  --nsamples 64 --seqlen 128 --out out/tiny-qwen3-nvfp4 --overwrite
echo
echo "== out/tiny-qwen3-nvfp4"
ls -l out/tiny-qwen3-nvfp4
echo
echo "== GPTQ vs round-to-nearest (relative output error tr(dW H dW^T)/tr(W H W^T), same Hessians)"
python3 - out/tiny-qwen3-nvfp4/quantization_report.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
for name, m in list(r["modules"].items())[:7]:
    print(f"  {name:40s} gptq {m['rel_err']:.5f}   rtn {m['rtn_rel_err']:.5f}")
print(f"  ... {len(r['modules'])} modules: mean gptq {s['mean_rel_err']:.5f} vs rtn {s['mean_rtn_rel_err']:.5f} "
      f"({100 * (1 - s['mean_rel_err'] / s['mean_rtn_rel_err']):.1f}% lower)")
PY
