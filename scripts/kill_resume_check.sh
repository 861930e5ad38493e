#!/usr/bin/env bash
# SIGKILL at N random moments of an 8-layer `quantize`, each followed by `quantize --resume`: every final
# output must be byte-identical to an uninterrupted run's (quantization_report.json compared without its
# wall-clock fields) and nothing may be left beside the output.
#   scripts/kill_resume_check.sh [N=10] [WORKDIR=/tmp/fp4gptq-kill-check]      (FP4GPTQ=binary, SEED=random seed)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
work=${2:-/tmp/fp4gptq-kill-check}
bin=${FP4GPTQ:-$PWD/build/src/cli/fp4gptq}
RANDOM=${SEED:-$$}
rm -rf "$work" && mkdir -p "$work"
"$bin" make-tiny-model --layers 8 --hidden 256 --intermediate 512 --calib-samples 64 --calib-seqlen 128 \
  --out "$work/m" >/dev/null
q=(quantize --quiet --model "$work/m" --calib "$work/m/calibration.jsonl" --nsamples 0)
t0=$(date +%s%N)
"$bin" "${q[@]}" --out "$work/ref" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
echo "uninterrupted run: ${ms} ms" >&2

same() {  # same DIR_A DIR_B
  python3 - "$1" "$2" <<'PY'
import json, os, sys
a, b = sys.argv[1:]
fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
assert fa == fb, f"file sets differ: {fa} vs {fb}"
def report(d):
    r = json.load(open(os.path.join(d, "quantization_report.json")))
    for k in ("seconds", "peak_rss_bytes", "time_split_s"): r["summary"].pop(k, None)
    for row in r["modules"].values(): row.pop("time_s", None)
    return r
for f in fa:
    if f == "quantization_report.json":
        assert report(a) == report(b), "report differs"
    else:
        assert open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read(), f + " differs"
PY
}

fails=0
for i in $(seq 1 "$n"); do
  out="$work/q$i"
  at=$(((RANDOM * 32768 + RANDOM) % ms))
  "$bin" "${q[@]}" --out "$out" >/dev/null 2>&1 &
  pid=$!
  sleep "$(awk -v ms="$at" 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  done_layers=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['layers_done'])" \
    "$out.fp4gptq-staging/.fp4gptq-resume.json" 2>/dev/null || echo "-")
  if [ -d "$out" ]; then state="finished before the kill"; else state="killed at ${at} ms, layers journaled: $done_layers"; fi
  "$bin" "${q[@]}" --out "$out" --resume >/dev/null 2>&1 || { echo "run $i: resume failed ($state)"; fails=$((fails + 1)); continue; }
  leftovers=$(cd "$work" && ls -d "q$i".* 2>/dev/null || true)
  if same "$work/ref" "$out" && [ -z "$leftovers" ] && [ -z "$(ls /tmp | grep -E "fp4gptq-resume-" || true)" ]; then
    echo "run $i: identical ($state)"
  else
    echo "run $i: DIFFERENT or leftovers [$leftovers] ($state)"
    fails=$((fails + 1))
  fi
done
echo "$((n - fails))/$n resumed runs byte-identical, nothing left beside the output"
[ "$fails" -eq 0 ]
