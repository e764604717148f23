"""Throughput and memory of fhirconv, each against a baseline measured in the same run.

    python benchmarks/run.py [--rounds N] [--json OUT.json]

Inputs: the development set (../shared/eval/dev/cases) when present, else seeds/.
Measured on one core (a single process, no threads):
  convert     read → extract → build → bundle → validate (fast path), documents/s (wall clock) and
              documents per CPU-second (start-up excluded: the first conversion is a warm-up)
  baseline    read the same texts and JSON-dump them, documents/s
  validate    resources/s of fhirconv.validate on the produced bundles (foreign path, as
              `fhirconv validate` runs it) and of the fast path the pipeline uses,
              against json.loads + json.dumps of the same bundles
  lookup      dictionary scan (Aho-Corasick) with the shipped vocabulary and with ten times as
              many terms: the time per character should not grow with the vocabulary
  long text   extraction of all inputs as one document and of four times that: the ratio of the
              times should stay near 4 (linear in the length)
  memory      peak RSS of the process
Numbers are machine-dependent: compare the ratios, not the absolute values.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv.extract import extract  # noqa: E402
from fhirconv.mappings import Concept, Matcher, load  # noqa: E402
from fhirconv.pipeline import Pipeline  # noqa: E402
from fhirconv.read import read_text  # noqa: E402
from fhirconv.validate import validate_resource  # noqa: E402


def inputs() -> list[tuple[str, str]]:
    dev = ROOT.parent / "shared" / "eval" / "dev" / "cases"
    folder = dev if dev.is_dir() else ROOT / "seeds"
    out = []
    for f in sorted(folder.glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        if text.startswith("# source:"):
            text = text.split("\n", 1)[1]
        out.append((f.name, text))
    return out


def timed(fn, rounds: int, clock=time.perf_counter) -> float:
    """Least time over the rounds; ``clock=time.process_time`` counts the process's CPU only (what
    another process on the core does not count)."""
    best = float("inf")
    for _ in range(rounds):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    docs = inputs()
    chars = sum(len(t) for _, t in docs)
    maps = load()
    pipe = Pipeline(maps)
    bundles = []

    def convert() -> None:
        bundles.clear()
        for name, text in docs:
            conv = pipe.convert(read_text(text, name))
            if conv.report.errors:
                raise SystemExit(f"{name}: {conv.report.errors[0]}")
            if conv.bundle:
                bundles.append(conv.bundle)

    def baseline() -> None:
        for name, text in docs:
            json.dumps({"name": name, "text": read_text(text, name).text})

    convert()  # warm-up: mappings, automata, schema compiled once per process
    t_convert = timed(convert, args.rounds)
    cpu_convert = timed(convert, args.rounds, time.process_time)
    t_base = timed(baseline, args.rounds)
    n_res = sum(len(b["entry"]) for b in bundles)

    def val_fast() -> None:
        for b in bundles:
            validate_resource(b, mappings=maps, foreign=False)

    def val_full() -> None:
        for b in bundles:
            validate_resource(b, mappings=maps, foreign=True)

    def val_base() -> None:
        for b in bundles:
            json.loads(json.dumps(b))

    val_full()
    t_fast = timed(val_fast, args.rounds)
    t_full = timed(val_full, max(1, args.rounds // 2))
    t_vbase = timed(val_base, args.rounds)
    # dictionary lookup against vocabulary size
    concepts = [c for c in maps.concepts.values() if c.terms]
    n_terms = sum(len(c.terms) for c in concepts)
    synthetic = [Concept(f"finding.synthetic_{i}", "", "", "x", tuple(f"{t} variant {i}" for t in c.terms), (), "",
                         "bench", 0) for i in range(10) for c in concepts]
    small, large = Matcher(concepts), Matcher(concepts + synthetic)
    texts = [t for _, t in docs]

    def scan(m: Matcher) -> None:
        for t in texts:
            m.find(t)

    # a long text (all the inputs as one document, then four times that): the time per character
    # must not grow with the length (no per-sentence rescans of everything read so far)
    long_text = "\n\n".join(t for _, t in docs)

    def extract_long(times: int) -> None:
        extract(read_text("\n\n".join([long_text] * times), "long"), maps)

    t_long1 = timed(lambda: extract_long(1), max(1, args.rounds // 2))
    t_long4 = timed(lambda: extract_long(4), max(1, args.rounds // 2))
    t_small = timed(lambda: scan(small), args.rounds)
    t_large = timed(lambda: scan(large), args.rounds)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {
        "documents": len(docs), "characters": chars, "bundles": len(bundles), "resources": n_res,
        "convert_docs_per_s": round(len(docs) / t_convert, 1),
        "convert_docs_per_cpu_s": round(len(docs) / cpu_convert, 1),
        "baseline_docs_per_s": round(len(docs) / t_base, 1),
        "convert_vs_baseline": round(t_base / t_convert, 4),
        "convert_ms_per_doc": round(1000 * t_convert / len(docs), 2),
        "validate_fast_resources_per_s": round(n_res / t_fast, 1),
        "validate_full_resources_per_s": round(n_res / t_full, 1),
        "validate_baseline_resources_per_s": round(n_res / t_vbase, 1),
        "lookup_terms": n_terms, "lookup_terms_x11": large.size,
        "lookup_chars_per_s": round(chars / t_small),
        "lookup_chars_per_s_x11_terms": round(chars / t_large),
        "lookup_slowdown_x11_terms": round(t_large / t_small, 2),
        "long_text_chars": len(long_text),
        "long_text_x4_time_ratio": round(t_long4 / t_long1, 2),
        "peak_rss_mb": round(rss_mb, 1),
    }
    for k, v in report.items():
        print(f"{k:34} {v}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
