#!/usr/bin/env bash
# The quality benchmark (bench/README.md "Quality"): RTN and GPTQ variants of the small trained Qwen3
# ../shared/models/qwen3-byte-6l, judged by `fp4gptq eval` (KL divergence from the bf16 original, top-1
# agreement, perplexity) on its 400 test windows. Each GPTQ variant runs on 5 calibrations that should not
# matter: the given calib.jsonl, the same samples reversed, float64 Hessians, and two other seeded draws of
# 128 × 256 bytes from train.bin; RTN is deterministic and runs once. Prints the table of table.py.
#
#   bench/quality/run.sh [WORK_DIR] [VARIANT ...]     FP4GPTQ=binary MODEL=model dir
#
# A VARIANT is NAME=FLAGS (e.g. "gptq-mse=--block-scale-search mse"); the default set is below.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${FP4GPTQ:-$root/build/src/cli/fp4gptq}"
model="${MODEL:-$root/../shared/models/qwen3-byte-6l}"
work="${1:-/tmp/fp4gptq-quality}"
shift || true
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
  variants=("rtn=" "rtn-mse=--block-scale-search mse" "rtn-k256=--scale2-max 256"
            "rtn-mse-k256=--block-scale-search mse --scale2-max 256"
            "gptq=" "gptq-mse=--block-scale-search mse" "gptq-k256=--scale2-max 256"
            "gptq-mse-k256=--block-scale-search mse --scale2-max 256")
fi
[ -x "$bin" ] || { echo "no fp4gptq binary at $bin (scripts/build.sh)" >&2; exit 2; }
[ -f "$model/config.json" ] || { echo "no model at $model" >&2; exit 2; }
mkdir -p "$work/results" "$work/calib"
py=/usr/bin/python3

# The base's distributions, once.
[ -f "$work/base.lp" ] || "$bin" eval --quiet --base "$model" --data "$model/test.jsonl" --seqlen 256 \
  --save-base-logits "$work/base.lp" > /dev/null

# The calibrations: name=file[:extra quantize flags].
cp "$model/calib.jsonl" "$work/calib/given.jsonl"
tac "$model/calib.jsonl" > "$work/calib/reversed.jsonl"
$py "$here/draw_calib.py" "$model/train.bin" 1 "$work/calib/draw1.jsonl"
$py "$here/draw_calib.py" "$model/train.bin" 2 "$work/calib/draw2.jsonl"
perturbations=("given=given.jsonl" "reversed=reversed.jsonl" "f64=given.jsonl:--hessian-dtype float64"
               "draw1=draw1.jsonl" "draw2=draw2.jsonl")

judge() {  # name out_dir
  "$bin" eval --quiet --json --model "$2" --base-logits "$work/base.lp" > "$work/results/$1.json"
  rm -rf "$2"
}

for v in "${variants[@]}"; do
  name="${v%%=*}"
  read -r -a flags <<< "${v#*=}"
  if [[ "$name" == rtn* ]]; then
    [ -f "$work/results/$name@once.json" ] && continue
    "$bin" rtn --quiet --overwrite --model "$model" --out "$work/out" "${flags[@]}" > /dev/null
    judge "$name@once" "$work/out"
    continue
  fi
  for p in "${perturbations[@]}"; do
    pname="${p%%=*}" spec="${p#*=}"
    file="${spec%%:*}" extra=()
    [[ "$spec" == *:* ]] && read -r -a extra <<< "${spec#*:}"
    [ -f "$work/results/$name@$pname.json" ] && continue
    "$bin" quantize --quiet --overwrite --model "$model" --calib "$work/calib/$file" --nsamples 128 --seqlen 256 \
      --out "$work/out" "${flags[@]}" "${extra[@]}" > /dev/null
    judge "$name@$pname" "$work/out"
  done
done
$py "$here/table.py" "$work/results"
