#!/usr/bin/env bash
# Data-parallel quantize on one machine (docs/DESIGN.md §13): the Qwen3-30B-A3B-shaped model of
# qwen3_30b_a3b_shape.sh (LAYERS layers) with SAMPLES x 512 calibration tokens, once as one process on all
# cores and once as `mpirun -np 2` with one thread per rank (the same cores), so what differs is the
# overhead of the split: per-layer time, bytes each rank hands to collectives, time in them, activation bytes
# and peak RSS per rank. Both outputs are compared byte for byte only where the thread counts match (they do
# not here: one process uses 2 threads), so this prints the figures; the tests check identity.
# Usage: bench/e2e-moe/mpi_overhead.sh [LAYERS=2] [SAMPLES=256] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
LAYERS=${1:-2}
SAMPLES=${2:-256}
KEEP=${3:-}
WORK=${3:-$(mktemp -d)}
mkdir -p "$WORK"
FP4GPTQ=${FP4GPTQ:-build/src/cli/fp4gptq}
MODEL="$WORK/moe-$LAYERS"
. bench/e2e-moe/moe_model.sh
make_moe_model "$FP4GPTQ" "$MODEL" "$LAYERS"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_tcp_if_include=lo
CORES=$(nproc)
run() {  # NAME RANKS THREADS
  local start end
  start=$(date +%s.%N)
  mpirun --oversubscribe --bind-to none -np "$2" $FP4GPTQ quantize --quiet --overwrite --threads "$3" --model "$MODEL" \
    --calib "$MODEL/calibration.jsonl" --nsamples "$SAMPLES" --seqlen 512 --out "$WORK/out-$1" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$WORK/wall-$1"
}
run np1 1 "$CORES"
run np2 2 $((CORES / 2 > 0 ? CORES / 2 : 1))
python3 - "$WORK" "$LAYERS" "$SAMPLES" <<'PY'
import json, sys
work, layers, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for name in ("np1", "np2"):
    rep = json.load(open(f"{work}/out-{name}/quantization_report.json"))
    wall = float(open(f"{work}/wall-{name}").read())
    s = rep["summary"]
    print(f"{name}: wall {wall:.0f} s ({wall / layers:.0f} s/layer), split " +
          ", ".join(f"{k} {v:.0f} s" for k, v in s["time_split_s"].items()) +
          f", activations {s['activation_bytes_peak'] / 2**20:.0f} MiB (rank 0), peak RSS {s['peak_rss_bytes'] / 2**30:.2f} GiB, "
          f"mean rel_err {s['mean_rel_err']:.5f}")
    for r in rep.get("ranks", []):
        t = r["time_split_s"]
        print(f"  rank {r['rank']}: {r['tokens']} tokens, {r['bytes_sent'] / layers / 2**20:.0f} MiB/layer to collectives, "
              f"comm {t['comm'] / layers:.1f} s/layer, solve {t['solve']:.0f} s, activations {r['activation_bytes_peak'] / 2**20:.0f} MiB, "
              f"peak RSS {r['peak_rss_bytes'] / 2**30:.2f} GiB, {r['modules_solved']} modules solved")
PY
[ -n "$KEEP" ] || rm -rf "$WORK"
