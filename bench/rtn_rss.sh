#!/usr/bin/env bash
# Peak RSS (VmHWM) and time of `fp4gptq rtn` on generated models with Qwen3-0.6B's shapes (hidden 1024,
# intermediate 3072, 16/8 heads, head_dim 128, vocab 151936, tied embeddings) and 4 vs 16 layers. Streaming
# layer by layer, the two peaks must be within 10% of each other. Usage: bench/rtn_rss.sh [workdir]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
FP4GPTQ=build/src/cli/fp4gptq
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK"
declare -A PEAK
for L in 4 16; do
  $FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers $L --hidden 1024 --intermediate 3072 --heads 16 \
    --kv-heads 8 --head-dim 128 --vocab 151936 --tie-embeddings --calib-samples 1 --out "$WORK/qwen3-0.6b-shape-$L" \
    --overwrite >/dev/null
  line=$($FP4GPTQ rtn --quiet --overwrite --model "$WORK/qwen3-0.6b-shape-$L" --out "$WORK/q-$L")
  echo "$L layers: $line"
  PEAK[$L]=$(python3 -c "import json;print(json.load(open('$WORK/q-$L/quantization_report.json'))['summary']['peak_rss_bytes'])")
done
python3 - "${PEAK[4]}" "${PEAK[16]}" <<'PY'
import sys
a, b = int(sys.argv[1]), int(sys.argv[2])
print(f"peak RSS: 4 layers {a/2**20:.1f} MiB, 16 layers {b/2**20:.1f} MiB, ratio {b/a:.3f} (target <= 1.10)")
sys.exit(0 if b <= 1.10 * a else 1)
PY
[ -n "${1:-}" ] || rm -rf "$WORK"
