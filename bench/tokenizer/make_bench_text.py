#!/usr/bin/env python3
"""Builds a real-text tokenizer benchmark file (default 4 MB) from text files of a Debian 12 machine, deterministically.

Sources, in three groups (share of the output in brackets); every file is read in sorted path order, duplicates
(same content) and files that are not UTF-8 are dropped, and at most --max-doc bytes of one file are used:

  English prose [55%]  /usr/share/cmake-*/Help/**/*.rst   (cmake-data, pulled in by cmake of scripts/setup.sh)
                       /usr/share/common-licenses/*         (base-files: on every Debian)
                       /usr/share/doc/*/copyright           (every installed package; kept even by slim images)
                       /usr/share/perl/*/**/*.pod           (perl-modules; only where perl is installed)
  multilingual [20%]   /usr/share/man/<lang>/**/*.gz        (translated man pages of apt, dpkg, passwd, login, ...;
                                                             roff stripped, one source per language; absent where
                                                             man pages are excluded, as in slim images)
                       tests/data/tokenizers/corpus.jsonl   (its texts that are mostly non-ASCII: always there)
  code [25%]           /usr/lib/python3.*/*.py              (python3 of scripts/setup.sh)
                       /usr/include/c++/*/**                (libstdc++ headers, from g++)

Within a group the sources take turns, one file at a time. A group that runs out leaves its share to the next
(multilingual -> code -> prose). The output is cut at a line end at or below the target size. What a machine has
installed changes the output, so the script prints the file's sha256 (stdout) and a summary (stderr); two machines
with the same packages produce the same file.

Usage: python3 bench/tokenizer/make_bench_text.py [--out bench_text.txt] [--mb 4] [--max-doc 65536]
stdlib only.
"""
import argparse
import glob
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(REPO, "tests", "data", "tokenizers", "corpus.jsonl")

sys.path.insert(0, os.path.join(REPO, "tools", "tokenizer_testdata"))
sys.dont_write_bytecode = True  # no __pycache__ in tools/tokenizer_testdata
import text_sources  # noqa: E402  (file reading and roff stripping, shared with make_corpus.py)


def files(pattern):
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p) and not os.path.islink(p))


def read(path, max_doc):
    try:
        text = text_sources.read_text(path, text_sources.ROFF_BENCH)
    except (OSError, EOFError):  # a broken .gz
        return None
    if text is None:
        return None
    text = text.replace("\r\n", "\n")
    b = text.encode("utf-8")
    if len(b) > max_doc:
        cut = b[:max_doc].rfind(b"\n")
        text = b[:cut + 1 if cut > 0 else max_doc].decode("utf-8", "ignore")
    return text if text.strip() else None


def man_translated():
    """One source per language directory of /usr/share/man, so that all languages take turns."""
    out = []
    for d in sorted(glob.glob("/usr/share/man/*")):
        name = os.path.basename(d)
        if name.startswith("man") or not os.path.isdir(d):
            continue
        out.append(source("man-" + name, files(os.path.join(d, "**", "*.gz"))))
    return out


def corpus_multilingual():
    """(name, text) of corpus texts of 200+ bytes whose characters are mostly not ASCII."""
    out = []
    try:
        with open(CORPUS, encoding="utf-8") as f:
            for i, line in enumerate(f):
                t = json.loads(line)["text"]
                if len(t.encode("utf-8")) >= 200 and sum(ord(c) > 127 for c in t) * 2 > len(t):
                    out.append(("corpus.jsonl:%d" % (i + 1), t))
    except OSError:
        pass
    return out


def source(name, paths):
    return {"name": name, "docs": [(p, None) for p in paths]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench_text.txt")
    ap.add_argument("--mb", type=float, default=4.0, help="target size in MiB (default 4)")
    ap.add_argument("--max-doc", type=int, default=65536, help="bytes taken from one file at most (default 65536)")
    args = ap.parse_args()
    target = int(args.mb * 1024 * 1024)

    groups = [
        ("multilingual", 0.20, man_translated() + [{"name": "corpus.jsonl", "docs": corpus_multilingual()}]),
        ("code", 0.25, [source("python-stdlib", files("/usr/lib/python3.*/*.py")),
                        source("libstdc++-headers", files("/usr/include/c++/*/**/*"))]),
        ("prose", 0.55, [source("cmake-help", files("/usr/share/cmake-*/Help/**/*.rst")),
                         source("common-licenses", files("/usr/share/common-licenses/*")),
                         source("copyright", files("/usr/share/doc/*/copyright")),
                         source("perl-pod", files("/usr/share/perl/*/**/*.pod"))]),
    ]

    seen = set()
    parts = []
    used = {}
    carry = 0
    remaining = target
    for gi, (gname, share, sources) in enumerate(groups):
        quota = remaining if gi == len(groups) - 1 else int(target * share) + carry
        got = 0
        cursors = [0] * len(sources)
        while got < quota:
            progressed = False
            for si, src in enumerate(sources):
                if got >= quota:
                    break
                docs = src["docs"]
                while cursors[si] < len(docs):
                    name, text = docs[cursors[si]]
                    cursors[si] += 1
                    if text is None:
                        text = read(name, args.max_doc)
                    if text is None:
                        continue
                    h = hashlib.sha256(text.encode("utf-8")).digest()
                    if h in seen:
                        continue
                    seen.add(h)
                    doc = text if text.endswith("\n") else text + "\n"
                    doc += "\n"
                    parts.append(doc)
                    n = len(doc.encode("utf-8"))
                    got += n
                    used.setdefault((gname, src["name"]), [0, 0])
                    used[(gname, src["name"])][0] += 1
                    used[(gname, src["name"])][1] += n
                    progressed = True
                    break
            if not progressed:
                break
        carry = max(0, quota - got)
        remaining -= got

    data = "".join(parts).encode("utf-8")
    if len(data) > target:
        cut = data[:target].rfind(b"\n")
        data = data[:cut + 1]
    if len(data) < target * 0.9:
        print("make_bench_text: only %d bytes of text found (target %d)" % (len(data), target), file=sys.stderr)
    with open(args.out, "wb") as f:
        f.write(data)
    for (g, s), (n, b) in used.items():
        print("%-13s %-18s %5d files %9d bytes" % (g, s, n, b), file=sys.stderr)
    print("wrote %s: %d bytes" % (args.out, len(data)), file=sys.stderr)
    print(hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
