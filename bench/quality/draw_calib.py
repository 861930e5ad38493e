#!/usr/bin/env python3
"""Writes N seeded random windows of L bytes of a raw byte file (token id = byte) as token-id JSONL.

usage: draw_calib.py TRAIN_BIN SEED OUT [N=128] [L=256]
"""
import json
import random
import sys


def main() -> None:
    src, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    length = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    data = open(src, "rb").read()
    rng = random.Random(seed)
    with open(out, "w") as f:
        for _ in range(n):
            start = rng.randrange(0, len(data) - length)
            f.write(json.dumps({"input_ids": list(data[start:start + length])}) + "\n")


if __name__ == "__main__":
    main()
