#!/usr/bin/env bash
# Runs `quantize` and `rtn` of one fp4gptq binary over generated dense and MoE models (both expert layouts)
# with default and non-default options, into OUTDIR/<case>/. Two such directories made by two binaries are
# compared with `scripts/output_matrix.sh --compare A B`: safetensors and index files must be byte-identical.
# QFLAGS (e.g. "--compute f32 --act-dtype float32") is added to every quantize case.
# Usage: scripts/output_matrix.sh FP4GPTQ_BINARY OUTDIR      |      scripts/output_matrix.sh --compare A B
set -euo pipefail
if [ "${1:-}" = "--compare" ]; then
  a=$2 b=$3 bad=0 n=0
  for d in "$a"/*/; do
    c=$(basename "$d")
    for f in "$d"*.safetensors "$d"model.safetensors.index.json; do
      [ -e "$f" ] || continue
      n=$((n + 1))
      cmp -s "$f" "$b/$c/$(basename "$f")" || { echo "DIFFERS: $c/$(basename "$f")"; bad=$((bad + 1)); }
    done
  done
  echo "$n files compared, $bad differ"
  [ "$bad" -eq 0 ]
  exit
fi
bin=$(realpath "$1") out=$2
mkdir -p "$out/models"
m=$out/models
$bin make-tiny-model --out "$m/dense" --arch Qwen3ForCausalLM --layers 3 --hidden 128 --intermediate 256 --heads 4 \
  --kv-heads 2 --head-dim 32 --vocab 512 --calib-samples 24 --calib-seqlen 64 --overwrite >/dev/null
$bin make-tiny-model --out "$m/llama" --arch LlamaForCausalLM --layers 2 --hidden 128 --intermediate 256 --heads 4 \
  --kv-heads 2 --head-dim 32 --vocab 512 --calib-samples 16 --calib-seqlen 48 --attention-bias --overwrite >/dev/null
for layout in per-expert fused; do
  flag=""; [ $layout = fused ] && flag=--fused-experts
  $bin make-tiny-model --out "$m/moe-$layout" --arch Qwen3MoeForCausalLM --layers 3 --hidden 64 --heads 4 --kv-heads 2 \
    --head-dim 16 --vocab 256 --experts 8 --experts-per-tok 2 --moe-intermediate 32 --mlp-only-layers 1 \
    --calib-samples 16 --calib-seqlen 48 $flag --overwrite >/dev/null
done
run() {  # case model command [flags...]  (quantize cases add $QFLAGS)
  local c=$1 model=$2 cmd=$3; shift 3
  if [ "$cmd" = quantize ]; then
    $bin quantize --model "$m/$model" --calib "$m/$model/calibration.jsonl" --nsamples 0 --out "$out/$c" --overwrite --quiet ${QFLAGS:-} "$@" >/dev/null || echo "FAILED: $c"
  else
    $bin rtn --model "$m/$model" --out "$out/$c" --overwrite --quiet "$@" >/dev/null || echo "FAILED: $c"
  fi
}
for model in dense llama moe-per-expert moe-fused; do
  run "$model-q-default" $model quantize
  run "$model-q-desc-act" $model quantize --desc-act
  run "$model-q-static" $model quantize --block-scales static
  run "$model-q-no-true-seq" $model quantize --no-true-sequential
  run "$model-q-per-tensor" $model quantize --no-fuse-scales
  run "$model-q-t1" $model quantize --threads 1 --hessian-dtype f64 --damp 0.05 --block-size 32
  run "$model-rtn" $model rtn
  run "$model-rtn-per-tensor" $model rtn --no-fuse-scales --dtype bfloat16
done
run dense-q-shards dense quantize --max-shard-size 200KB --exclude 'layers\.1\.mlp'
echo "wrote $(ls "$out" | grep -vc models) cases to $out"
