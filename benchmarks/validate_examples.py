"""Validation speed on published R4 content written by others (../shared/fhir-examples/).

    python benchmarks/validate_examples.py [--rounds N]

Every file is validated as ``fhirconv validate`` does (every layer, foreign input); the figure is
resources per second (a Bundle's entries and contained resources count), the least time of the
rounds, against a baseline of json.loads + json.dumps of the same files in the same run.
Skipped (exit 0 with a note) where ../shared/ is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv.validate import validate_resource  # noqa: E402
from fhirconv.validate._walk import Context  # noqa: E402

EXAMPLES = ROOT.parent / "shared" / "fhir-examples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not EXAMPLES.is_dir():
        print(f"skipped: {EXAMPLES.name} is not beside the repository")
        return
    texts = [p.read_text(encoding="utf-8-sig") for p in sorted(EXAMPLES.rglob("*.json"))]
    docs = [json.loads(t) for t in texts]
    resources = sum(len(Context(d).resources) for d in docs)
    for d in docs:                      # warm-up: compiled validators, loaded tables
        validate_resource(d)
    best = base = float("inf")
    for _ in range(args.rounds):
        t = time.perf_counter()
        for d in docs:
            validate_resource(d)
        best = min(best, time.perf_counter() - t)
        t = time.perf_counter()
        for s in texts:
            json.dumps(json.loads(s))
        base = min(base, time.perf_counter() - t)
    print(f"{len(docs)} files, {resources} resources: {resources / best:,.0f} resources/s "
          f"({best:.2f} s); json.loads + dumps {resources / base:,.0f} resources/s ({base / best:.3f}×)")


if __name__ == "__main__":
    main()
