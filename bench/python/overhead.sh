#!/usr/bin/env bash
# The Python layer's overhead: the same quantize through the CLI and through the Python package (AutoGPTQ's
# flow, examples built in Python), alternated PAIRS times in one run; wall time of each whole process
# (interpreter start, reading the calibration file, quantize, save). Checks that both wrote the same bytes.
# Usage: bench/python/overhead.sh [LAYERS] [PAIRS] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
LAYERS=${1:-2}
PAIRS=${2:-3}
WORK=${3:-$(mktemp -d)}
mkdir -p "$WORK"
FP4GPTQ=build/src/cli/fp4gptq
PYTHON=${PYTHON:-/usr/bin/python3}
M="$WORK/model-$LAYERS"
if [ ! -f "$M/config.json" ]; then
  $FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers "$LAYERS" --hidden 1024 --intermediate 3072 --heads 16 \
    --kv-heads 8 --head-dim 128 --vocab 151936 --tie-embeddings --calib-samples 64 --calib-seqlen 512 \
    --out "$M" --overwrite >/dev/null
fi
now() { date +%s.%N; }
cli=() py=()
for i in $(seq "$PAIRS"); do
  t0=$(now)
  $FP4GPTQ quantize --quiet --overwrite --model "$M" --calib "$M/calibration.jsonl" --nsamples 64 --seqlen 512 \
    --out "$WORK/out-cli" >/dev/null
  t1=$(now)
  PYTHONPATH=build/python $PYTHON bench/python/quantize_examples.py "$M" "$M/calibration.jsonl" 64 512 "$WORK/out-py"
  t2=$(now)
  cli+=("$(awk "BEGIN{print $t1 - $t0}")") py+=("$(awk "BEGIN{print $t2 - $t1}")")
  echo "pair $i: cli ${cli[-1]} s, python ${py[-1]} s"
done
for f in "$WORK/out-cli"/*.safetensors "$WORK/out-cli"/*config.json; do
  cmp -s "$f" "$WORK/out-py/$(basename "$f")" || { echo "differs: $(basename "$f")"; exit 1; }
done
$PYTHON - "${cli[*]}" "${py[*]}" <<'PY'
import statistics, sys
cli, py = ([float(x) for x in a.split()] for a in sys.argv[1:3])
ratios = [p / c for c, p in zip(cli, py)]
print(f"median cli {statistics.median(cli):.2f} s, python {statistics.median(py):.2f} s; "
      f"python/cli per pair {', '.join(f'{r:.3f}' for r in ratios)}; median ratio {statistics.median(ratios):.3f}")
PY
echo "outputs byte-identical"
# What only the Python side does, measured alone: the import, and turning AutoGPTQ examples into token ids
# (here and at the target run's 8192 x 2048).
PYTHONPATH=build/python $PYTHON - <<'PY'
import time
t = time.perf_counter()
import fp4gptq
from fp4gptq import _native
t_import = time.perf_counter() - t
for n, L in ((64, 512), (8192, 2048)):
    examples = [{"input_ids": list(range(i, i + L)), "attention_mask": [1] * L} for i in range(n)]
    t = time.perf_counter()
    _native.to_examples(examples)
    print(f"examples {n} x {L}: converted in {time.perf_counter() - t:.3f} s")
print(f"import fp4gptq: {t_import:.3f} s")
PY
[ -n "${3:-}" ] || rm -rf "$WORK"
