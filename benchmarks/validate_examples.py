"""Validation speed on published R4 content written by others (../shared/fhir-examples/).

    python benchmarks/validate_examples.py [--rounds N]

Every file is validated as ``fhirconv validate`` does (every layer, foreign input); the figure is
resources per second (a Bundle's entries and contained resources count), the least time of the
rounds, against a baseline of json.loads + json.dumps of the same files in the same run.
Skipped (exit 0 with a note) where ../shared/ is absent. First, the cost of profiles: mCODE's
published patient bundle validated with its profile claims and without them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv.validate import validate_resource  # noqa: E402
from fhirconv.validate._walk import Context  # noqa: E402

EXAMPLES = ROOT.parent / "shared" / "fhir-examples"


def _strip_profiles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_profiles(v) for k, v in node.items() if k != "profile"}
    if isinstance(node, list):
        return [_strip_profiles(v) for v in node]
    return node


def _profile_cost(rounds: int) -> None:
    """mCODE's published patient bundle (its resources claim mCODE/US Core profiles) validated as
    it is and with every meta.profile removed: the profile layer's share of the time."""
    bundle = json.loads((ROOT / "tests" / "data" / "ig-examples" / "mcode-Bundle-mcode-patient-bundle-jenny-m.json")
                        .read_text(encoding="utf-8"))
    _compare("mCODE patient bundle", bundle, rounds)
    from fhirconv import convert_text

    seed = sorted((ROOT / "seeds").glob("004_*.txt"))[0]
    ours = convert_text(seed.read_text(encoding="utf-8"), name=seed.name, profile="mcode")
    assert ours is not None
    _compare(f"fhirconv convert --profile mcode of {seed.name}", ours, rounds)


def _compare(label: str, bundle: dict[str, Any], rounds: int) -> None:
    bare = _strip_profiles(bundle)
    n = len(Context(bundle).resources)
    times = []
    for data in (bundle, bare):
        validate_resource(data)
        best = float("inf")
        for _ in range(max(rounds, 5)):
            t = time.perf_counter()
            validate_resource(data)
            best = min(best, time.perf_counter() - t)
        times.append(best)
    print(f"{label}, {n} resources: with its profiles {times[0] * 1000:.0f} ms, without "
          f"{times[1] * 1000:.0f} ms ({times[0] / times[1]:.2f}×)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    _profile_cost(args.rounds)
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
