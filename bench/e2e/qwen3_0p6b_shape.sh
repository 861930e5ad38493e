#!/usr/bin/env bash
# End-to-end `fp4gptq quantize` on a generated model with Qwen3-0.6B's shapes (28 layers, hidden 1024, 16/8
# heads, head_dim 128, intermediate 3072, vocab 151936, tied embeddings) and 128 samples x 512 tokens.
# Prints wall time, peak RSS and the time split (forward, Hessian, solve, I/O) with FLOPs and achieved
# FLOP/s beside the machine's peaks (measured by build/bench/gptq_bench in the same run).
# Usage: bench/e2e/qwen3_0p6b_shape.sh [LAYERS] [WORKDIR]
# FP4GPTQ=BINARY runs another build (e.g. the previous main's, for a before/after pair in one session);
# QFLAGS adds quantize flags (e.g. "--compute f32 --act-dtype float32").
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
LAYERS=${1:-28}
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
FP4GPTQ=${FP4GPTQ:-build/src/cli/fp4gptq}
if [ ! -f "$WORK/model-$LAYERS/config.json" ]; then
  $FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers "$LAYERS" --hidden 1024 --intermediate 3072 --heads 16 \
    --kv-heads 8 --head-dim 128 --vocab 151936 --tie-embeddings --calib-samples 128 --calib-seqlen 512 \
    --out "$WORK/model-$LAYERS" --overwrite >/dev/null
fi
PEAKS=$(build/bench/gptq_bench --benchmark_filter='Peak' 2>&1 | grep -o 'sgemm [0-9.]* GFLOP/s, oneDNN bf16 matmul [0-9.]*')
SGEMM=$(echo "$PEAKS" | awk '{print $2}')
BF16=$(echo "$PEAKS" | awk '{print $7}')
START=$(date +%s.%N)
$FP4GPTQ quantize --quiet --overwrite --model "$WORK/model-$LAYERS" --calib "$WORK/model-$LAYERS/calibration.jsonl" \
  --nsamples 128 --seqlen 512 --out "$WORK/out-$LAYERS" ${QFLAGS:-}
END=$(date +%s.%N)
python3 - "$WORK/out-$LAYERS/quantization_report.json" "$SGEMM" "$BF16" "$START" "$END" "$LAYERS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["summary"]
sgemm, bf16, wall, layers = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[5]) - float(sys.argv[4]), int(sys.argv[6])
t, f = r["time_split_s"], r["flops"]
print(f"layers {layers}: wall {wall:.1f} s (pipeline {r['seconds']:.1f} s), peak RSS {r['peak_rss_bytes']/2**30:.2f} GiB, "
      f"mean rel_err {r['mean_rel_err']:.5f} vs RTN {r['mean_rtn_rel_err']:.5f}")
print(f"machine peaks: sgemm {sgemm:.0f} GFLOP/s, bf16 matmul {bf16:.0f} GFLOP/s")
for part, peak, name in (("forward", bf16, "bf16"), ("hessian", bf16, "bf16"), ("solve", sgemm, "sgemm")):
    g = f[part] / t[part] / 1e9 if t[part] else 0
    print(f"  {part:8s} {t[part]:7.1f} s  {f[part]/1e12:7.2f} TFLOP  {g:6.0f} GFLOP/s  ({100*g/peak:.0f}% of {name} peak)")
print(f"  io       {t['io']:7.1f} s")
bound = f["forward"] / bf16 / 1e9 + f["hessian"] / bf16 / 1e9 + f["solve"] / sgemm / 1e9
print(f"FLOP bound at these peaks: {bound:.0f} s")
PY
[ -n "${2:-}" ] || rm -rf "$WORK"
