"""The long fuzz run: N mutated inputs per target, in parallel processes; crashes kept as files.

    python scripts/fuzz.py [--targets read,convert,validate,overlay,push] [--n 10000] [--seed 0]
                           [--jobs 2] [--slow 5] [--save] [--json OUT.json]

Input i of a target is made by ``random.Random(f"{seed}:{target}:{i}")``, so a run is reproduced
by its seed. For each target it prints how many inputs broke the contract (see tests/fuzzing.py),
how many took longer than ``--slow`` seconds, and the median and largest time per input. With
``--save`` every breaking or slow input is written to tests/fuzz/crashes/<target>/<hash>.<ext>,
where the suite replays it from then on (tests/test_fuzz.py): fix the bug, keep the file. Keep
only inputs made from the repo's own corpus (run with FHIRCONV_FUZZ_CORPUS=repo to reproduce one
that way) or a reproducer written by hand: ../shared/ texts are not the repo's to copy.
The suite's own fuzz tests run the same targets on a small fixed-seed sample (Hypothesis).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import fuzzing  # noqa: E402


def _run_slice(args: tuple[str, int, int, int, int, float]) -> list[tuple[int, float, str | None]]:
    target, seed, start, stop, step, _slow = args
    fn, gen, _ = fuzzing.TARGETS[target]
    out = []
    for i in range(start, stop, step):
        value = gen(random.Random(f"{seed}:{target}:{i}"))
        t = time.perf_counter()
        try:
            fn(value)
            why = None
        except fuzzing.Broken as exc:
            why = str(exc)
        out.append((i, time.perf_counter() - t, why))
    return out


def _save(target: str, seed: int, i: int) -> Path:
    _, gen, ext = fuzzing.TARGETS[target]
    data = fuzzing.dump_input(target, gen(random.Random(f"{seed}:{target}:{i}")))
    folder = fuzzing.CRASHES / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:12]}.{ext}"
    path.write_bytes(data)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(fuzzing.TARGETS))
    ap.add_argument("--n", type=int, default=10_000, help="inputs per target")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--slow", type=float, default=5.0, help="seconds over which an input counts as slow")
    ap.add_argument("--save", action="store_true", help="keep breaking and slow inputs under tests/fuzz/crashes/")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = [t for t in targets if t not in fuzzing.TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(fuzzing.TARGETS)}")
    figures = {}
    bad_total = 0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for target in targets:
            started = time.perf_counter()
            slices = [(target, args.seed, j, args.n, args.jobs, args.slow) for j in range(args.jobs)]
            results = [r for part in pool.map(_run_slice, slices) for r in part]
            times = [t for _, t, _ in results]
            broken = [(i, why) for i, _, why in results if why]
            slow = [(i, t) for i, t, _ in results if t > args.slow]
            figures[target] = {"inputs": len(results), "broken": len(broken), "slow": len(slow),
                               "median_s": round(statistics.median(times), 4), "max_s": round(max(times), 2),
                               "wall_s": round(time.perf_counter() - started, 1)}
            f = figures[target]
            print(f"{target:9} {f['inputs']:>6} inputs  {f['broken']} broken  {f['slow']} over {args.slow:g} s  "
                  f"median {f['median_s'] * 1000:.1f} ms  max {f['max_s']:.2f} s  ({f['wall_s']:.0f} s)", flush=True)
            for i, why in broken[:10]:
                print(f"    input {i}: {why}")
            if args.save:
                for i in sorted({i for i, _ in broken} | {i for i, _ in slow}):
                    print(f"    kept {_save(target, args.seed, i).relative_to(ROOT)}")
            bad_total += len(broken) + len(slow)
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "n": args.n, "targets": figures}, indent=2) + "\n")
    return 1 if bad_total else 0


if __name__ == "__main__":
    raise SystemExit(main())
