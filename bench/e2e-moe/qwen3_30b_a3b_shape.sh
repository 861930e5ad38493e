#!/usr/bin/env bash
# `fp4gptq quantize` on a generated model with Qwen3-30B-A3B's exact layer shapes (hidden 2048, 32/4 heads of
# 128, 128 experts, top-8, moe_intermediate 768) but LAYERS layers and a small vocabulary, with SAMPLES x 512
# calibration tokens. Prints wall time, peak RSS, the time split and the extrapolation to 48 layers.
# Usage: bench/e2e-moe/qwen3_30b_a3b_shape.sh [LAYERS=2] [SAMPLES=64] [WORKDIR] [extra quantize flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
LAYERS=${1:-2}
SAMPLES=${2:-64}
KEEP=${3:-}
WORK=${3:-$(mktemp -d)}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p "$WORK"
FP4GPTQ=${FP4GPTQ:-build/src/cli/fp4gptq}  # another build (e.g. the previous main's) for a before/after pair
MODEL="$WORK/moe-$LAYERS"
. bench/e2e-moe/moe_model.sh
make_moe_model "$FP4GPTQ" "$MODEL" "$LAYERS"
START=$(date +%s.%N)
TIMEFORMAT='  cpu: user %U s + sys %S s over %R s wall = %P%% of one core'
time $FP4GPTQ quantize --quiet --overwrite --model "$MODEL" --calib "$MODEL/calibration.jsonl" --nsamples "$SAMPLES" \
  --seqlen 512 --out "$WORK/out-moe-$LAYERS" "$@"
END=$(date +%s.%N)
python3 - "$WORK/out-moe-$LAYERS/quantization_report.json" "$START" "$END" "$LAYERS" "$SAMPLES" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
r = rep["summary"]
wall, layers, samples = float(sys.argv[3]) - float(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
t = r["time_split_s"]
fb = sum(1 for m in rep["modules"].values() if m["fallback"])
print(f"{layers} layers, {samples} x 512 tokens: wall {wall:.0f} s, peak RSS {r['peak_rss_bytes']/2**30:.2f} GiB, "
      f"{r['quantized_modules']} modules ({fb} RTN fallbacks), mean rel_err {r['mean_rel_err']:.5f} vs RTN {r['mean_rtn_rel_err']:.5f}")
print("  split: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()))
print("  per layer: " + ", ".join(f"{k} {v / layers:.0f} s" for k, v in t.items()))
per_layer = wall / layers
print(f"  per layer {per_layer:.0f} s -> 48 layers: {48 * per_layer / 3600:.2f} h at {samples} samples; "
      f"8192 samples (token-linear parts x{8192 / samples:.0f}): ~{48 * (t['forward'] + t['hessian']) / layers * 8192 / samples / 3600 + 48 * (t['solve'] + t['io']) / layers / 3600:.1f} h")
PY
[ -n "$KEEP" ] || rm -rf "$WORK"
