"""Reading text files of a Debian machine for the tokenizer texts: man-page roff stripping and the file reader shared
by tools/tokenizer_testdata/make_corpus.py (tests/data/tokenizers/corpus.jsonl) and bench/tokenizer/make_bench_text.py
(the benchmark text). stdlib only.

Both outputs are compared by sha256 with earlier runs, so the two keep the roff rules they were made with:
ROFF_CORPUS (make_corpus.py) and ROFF_BENCH (make_bench_text.py, a subset: fewer named characters, no .TH line, no
motion escapes). Changing either rule set changes that script's output.
"""
import collections
import gzip
import re

RoffRules = collections.namedtuple("RoffRules", "chars keep motions")
RoffRules.__doc__ = """chars: roff special character names (\\(xx, \\[name]) -> text (others are dropped);
keep: request/macro names whose line's arguments are kept as text (other request lines are dropped);
motions: whether escapes with a quoted argument (\\h'...', \\v'...', \\w'...', ...) are dropped."""

_BENCH_CHARS = {"em": "\u2014", "en": "\u2013", "aq": "'", "dq": '"', "lq": "\u201c", "rq": "\u201d", "oq": "\u2018",
                "cq": "\u2019", "bu": "\u2022", "co": "\u00a9", "rg": "\u00ae", "hy": "-", "mi": "\u2212", "pl": "+",
                "ti": "~", "ha": "^", "tm": "\u2122", "mu": "\u00d7", "ga": "`", "ul": "_", "rs": "\\", "de": "\u00b0"}
_BENCH_KEEP = frozenset({"SH", "SS", "B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "TP", "IP", "UR", "MT",
                         "Nm", "Nd", "Sh", "Ss", "Pa", "Ar", "Fl", "Op", "Em", "Dq", "Ql", "It"})

ROFF_BENCH = RoffRules(chars=_BENCH_CHARS, keep=_BENCH_KEEP, motions=False)
ROFF_CORPUS = RoffRules(
    chars={**_BENCH_CHARS, ">=": "\u2265", "<=": "\u2264", "lh": "\u261c", "rh": "\u261e", "ua": "\u2191",
           "da": "\u2193", "->": "\u2192", "<-": "\u2190", "sc": "\u00a7", "aa": "\u00b4", "fo": "\u2039",
           "fc": "\u203a"},
    keep=_BENCH_KEEP | {"TH"},
    motions=True)

_PLAIN_ESCAPES = (("\\-", "-"), ("\\e", "\\"), ("\\&", ""), ("\\ ", " "), ("\\|", ""), ("\\^", ""), ("\\%", ""),
                  ("\\c", ""), ("\\~", " "), ("\\0", " "), ("\\:", ""), ("\\/", ""), ("\\,", ""))


def strip_roff(s, rules):
    """Turns man-page roff into readable text (roughly: drops requests and font escapes, keeps words)."""
    out = []
    for line in s.splitlines():
        if line.startswith((".\\\"", "'\\\"", "\\\"")):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts or parts[0] not in rules.keep:
                continue
            line = parts[1].replace('"', "") if len(parts) > 1 else ""
            if not line:
                continue
        line = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", line)
        line = re.sub(r"\\\((..)", lambda m: rules.chars.get(m.group(1), ""), line)
        line = re.sub(r"\\\[([^\]]*)\]", lambda m: rules.chars.get(m.group(1), ""), line)
        line = re.sub(r"\\[*n](\(..|\[[^\]]*\]|.)", "", line)
        line = re.sub(r"\\s[+-]?\d", "", line)
        if rules.motions:
            line = re.sub(r"\\[hvwlLDoxXzkH]'[^']*'", "", line)
        for a, b in _PLAIN_ESCAPES:
            line = line.replace(a, b)
        out.append(line)
    return "\n".join(out) + "\n"


def read_text(path, rules, warn=None):
    """The file's text: gunzipped when the name ends in .gz, roff stripped (with `rules`) when the path has a /man/
    directory. None, after warn("missing PATH") / warn("not UTF-8, skipped: PATH") when warn is given, when the file
    cannot be opened or is not UTF-8. A broken .gz raises (gzip.BadGzipFile, which is an OSError, or EOFError)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        if warn:
            warn("missing " + path)
        return None
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if warn:
            warn("not UTF-8, skipped: " + path)
        return None
    if "/man/" in path:
        text = strip_roff(text, rules)
    return text
