#!/usr/bin/env bash
# fp4gptq's tokenizer and the Hugging Face tokenizers library encoding the same real text, side by side in one run
# (single thread each), for the five tokenizer.json files of tests/data/tokenizers/.
#   bench/tokenizer/run.sh [--module DIR] [--mb 4]
# --module: the installed @anush008/tokenizers package (npm install @anush008/tokenizers@0.6.0 into a scratch
# directory; then DIR is <scratch>/node_modules/@anush008/tokenizers). Without it only fp4gptq is measured.
# Figures go to stdout as a table; raw results to build/bench-tokenizer/.
set -euo pipefail
cd "$(dirname "$0")/../.."
module="" mb=4
while (($#)); do
  case "$1" in
    --module) module="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    *) echo "usage: $0 [--module DIR] [--mb N]" >&2; exit 2 ;;
  esac
done
out=build/bench-tokenizer
mkdir -p "$out"
[ -x build/bench/tokenizer_bench ] || scripts/build.sh
python3 bench/tokenizer/make_bench_text.py --out "$out/text.txt" --mb "$mb" >"$out/text.sha256"
toks=()
for f in qwen3 llama3 mistral gemma3 deepseek_v3; do toks+=("tests/data/tokenizers/$f/tokenizer.json.gz"); done
echo "text: $(stat -c %s "$out/text.txt") bytes, sha256 $(cat "$out/text.sha256"); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
FP4GPTQ_BENCH_TEXT="$out/text.txt" FP4GPTQ_BENCH_TOKENIZERS="$(IFS=,; echo "${toks[*]}")" \
  build/bench/tokenizer_bench --benchmark_format=json --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true >"$out/fp4gptq.json"
: >"$out/library.jsonl"
if [ -n "$module" ]; then
  node bench/tokenizer/tokenizers_bench.mjs --module "$module" --text "$out/text.txt" "${toks[@]}" >"$out/library.jsonl"
fi
python3 bench/tokenizer/compare.py "$out/fp4gptq.json" "$out/library.jsonl"
