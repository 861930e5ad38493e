#!/usr/bin/env python3
"""The quality table of bench/quality/run.sh: one row per variant from its runs' `eval --json` files.

usage: table.py RESULTS_DIR   (files VARIANT@PERTURBATION.json; the variant "rtn" is the reference)
Each figure is the mean over a variant's runs ± half their range (max - min) / 2: a difference between two
variants is called real only when it exceeds both spreads.
"""
import collections
import json
import os
import sys


def stats(values):
    m = sum(values) / len(values)
    return m, (max(values) - min(values)) / 2


def main() -> None:
    root = sys.argv[1]
    runs = collections.OrderedDict()
    for name in sorted(os.listdir(root)):
        if name.endswith(".json"):
            variant, _, _ = name[:-5].partition("@")
            runs.setdefault(variant, []).append(json.load(open(os.path.join(root, name))))
    order = [v for v in ("rtn", "rtn-mse", "rtn-k256", "rtn-mse-k256", "gptq") if v in runs]
    order += [v for v in runs if v not in order]
    rtn_kld = stats([r["kld"]["mean"] for r in runs["rtn"]])[0]
    print("| variant | runs | KLD mean ×1e-3 | top-1 agreement % | ppl | ppl ratio | RTN's KLD removed |")
    print("|---|---|---|---|---|---|---|")
    for v in order:
        rs = runs[v]
        k, ks = stats([r["kld"]["mean"] * 1e3 for r in rs])
        t, ts = stats([r["top1_agreement"] * 100 for r in rs])
        p, ps = stats([r["ppl_model"] for r in rs])
        q, qs = stats([r["ppl_ratio"] for r in rs])
        removed = [100 * (1 - r["kld"]["mean"] / rtn_kld) for r in rs]
        g, gs = stats(removed)
        print(f"| {v} | {len(rs)} | {k:.4f} ± {ks:.4f} | {t:.3f} ± {ts:.3f} | {p:.5f} ± {ps:.5f} | "
              f"{q:.5f} ± {qs:.5f} | {g:.1f}% ± {gs:.1f} |")
    base = next(iter(runs.values()))[0]
    print(f"\nbase ppl {base['ppl_base']:.5f}; {base['tokens']} tokens scored ({base['windows']} windows of "
          f"{base['seqlen']})")


if __name__ == "__main__":
    main()
