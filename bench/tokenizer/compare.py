#!/usr/bin/env python3
"""The side-by-side table of bench/tokenizer/run.sh: fp4gptq's tokenizer_bench (Google Benchmark JSON, the median
of its repetitions) next to tokenizers_bench.mjs (the library's best run), per tokenizer and mode.
Usage: compare.py FP4GPTQ_JSON LIBRARY_JSONL"""
import json
import sys

ours = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    _, name, mode = b["run_name"].split("/")[:3]
    ours[(name, mode)] = (b["bytes_per_second"] / 1e6, b["tokens_per_s"], int(b["tokens"]))
lib = {}
for line in open(sys.argv[2]):
    if line.strip():
        r = json.loads(line)
        lib[(r["tokenizer"], r["mode"])] = (r["mb_per_s"], r["tokens_per_s"], r["tokens"])
print("| tokenizer | mode | fp4gptq MB/s | fp4gptq Mtokens/s | tokenizers MB/s | tokenizers Mtokens/s | ratio |")
print("|---|---|---|---|---|---|---|")
for (name, mode), (mb, tps, n) in ours.items():
    if (name, mode) not in lib:
        print(f"| {name} | {mode} | {mb:.2f} | {tps / 1e6:.2f} | | | |")
        continue
    lmb, ltps, ln = lib[(name, mode)]
    note = "" if ln == n else f" (tokens {n} vs {ln}: the chunks are cut differently)"
    print(f"| {name} | {mode} | {mb:.2f} | {tps / 1e6:.2f} | {lmb:.2f} | {ltps / 1e6:.2f} | {mb / lmb:.1f}x{note} |")
