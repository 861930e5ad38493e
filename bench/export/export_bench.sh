#!/usr/bin/env bash
# Packed NVFP4 export on a generated model with Qwen3-0.6B's shapes (28 layers, hidden 1024, 16/8 heads,
# head_dim 128, intermediate 3072, vocab 151936, tied embeddings, bf16): `fp4gptq rtn` makes the pseudo checkpoint,
# then `fp4gptq export --model ORIG` to compressed-tensors and to modelopt on one core (taskset), each timed beside
# a plain copy (cp) of the same input files in the same run, inputs from the page cache, outputs to OUTROOT
# (default /dev/shm, so the figure is the exporter's and not this VM's disk; OUTROOT=DIR for a disk). Prints
# input GB/s, the ratio to cp, and the sizes: the quantized Linears packed vs in bf16, and the whole directory
# vs the original.
# Usage: bench/export/export_bench.sh [LAYERS] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
LAYERS=${1:-28}
WORK=${2:-$(mktemp -d)}
mkdir -p "$WORK"
FP4GPTQ=${FP4GPTQ:-build/src/cli/fp4gptq}
OUTROOT=${OUTROOT:-$([ -w /dev/shm ] && echo /dev/shm || echo "$WORK")}
M=$WORK/model-$LAYERS
if [ ! -f "$M/config.json" ]; then
  $FP4GPTQ make-tiny-model --arch Qwen3ForCausalLM --layers "$LAYERS" --hidden 1024 --intermediate 3072 --heads 16 \
    --kv-heads 8 --head-dim 128 --vocab 151936 --tie-embeddings --calib-samples 1 --calib-seqlen 16 \
    --out "$M" --overwrite >/dev/null
fi
[ -f "$WORK/pseudo-$LAYERS/quantize_config.json" ] ||
  $FP4GPTQ rtn --quiet --overwrite --model "$M" --out "$WORK/pseudo-$LAYERS" >/dev/null
cat "$M"/*.safetensors "$WORK/pseudo-$LAYERS"/*.safetensors >/dev/null  # into the page cache
for FORMAT in compressed-tensors modelopt; do
  OUT=$OUTROOT/fp4gptq-export-bench-$FORMAT
  COPY=$OUTROOT/fp4gptq-export-bench-copy
  rm -rf "$COPY" "$OUT"
  mkdir -p "$COPY"
  CP_START=$(date +%s.%N)
  taskset -c 0 cp "$M"/*.safetensors "$WORK/pseudo-$LAYERS"/*.safetensors "$COPY/"
  CP_END=$(date +%s.%N)
  COPIED=$(du -bc "$COPY"/*.safetensors | tail -1 | cut -f1)
  rm -rf "$COPY"
  LINE=$(taskset -c 0 $FP4GPTQ export --quiet --overwrite --from "$WORK/pseudo-$LAYERS" --model "$M" --format "$FORMAT" \
    --out "$OUT")
  python3 - "$FORMAT" "$LINE" "$CP_START" "$CP_END" "$COPIED" "$M" "$OUT" <<'PY'
import json, os, re, struct, sys
fmt, line, cp_s, cp_e, copied, orig, out = sys.argv[1:8]
m = re.search(r"([0-9.]+) MB read -> ([0-9.]+) MB written in ([0-9.]+)s", line)
read_mb, written_mb, secs = map(float, m.groups())
cp_gbs = int(copied) / 1e9 / (float(cp_e) - float(cp_s))
gbs = read_mb / 1e3 / secs
def header(d):
    t = {}
    for f in os.listdir(d):
        if f.endswith(".safetensors"):
            with open(os.path.join(d, f), "rb") as fh:
                n = struct.unpack("<Q", fh.read(8))[0]
                t.update({k: v for k, v in json.loads(fh.read(n)).items() if k != "__metadata__"})
    return t
def nbytes(v):
    return v["data_offsets"][1] - v["data_offsets"][0]
o, p = header(orig), header(out)
suffixes = (".weight_packed", ".weight_scale", ".weight_global_scale", ".input_global_scale", ".weight_scale_2",
            ".input_scale")
packed = {k for k, v in p.items() if k.endswith(suffixes) or (k.endswith(".weight") and v["dtype"] == "U8")}
modules = {k.rsplit(".", 1)[0] for k in packed}
q_orig = sum(nbytes(o[m + ".weight"]) for m in modules)
q_packed = sum(nbytes(p[k]) for k in packed)
whole_o, whole_p = sum(map(nbytes, o.values())), sum(map(nbytes, p.values()))
print(f"{fmt:18s} export {secs:6.2f} s for {read_mb/1e3:.2f} GB read: {gbs:.2f} GB/s on one core "
      f"(cp of the same files {cp_gbs:.2f} GB/s, ratio {gbs/cp_gbs:.2f}); quantized Linears {q_packed/1e6:.0f} MB "
      f"packed vs {q_orig/1e6:.0f} MB bf16 = {q_packed/q_orig:.4f}x; whole checkpoint {whole_p/1e6:.0f} MB vs "
      f"{whole_o/1e6:.0f} MB = {whole_p/whole_o:.3f}x")
PY
  rm -rf "$OUT"
done
[ -n "${2:-}" ] || rm -rf "$WORK"
