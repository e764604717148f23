"""Convert time against input size: 10 kB, 100 kB and 1 MB of generated case text.

    python benchmarks/linear.py [--rounds N] [--sizes 10000,100000,1000000] [--json OUT.json]

The text is made from the bundled seeds' case reports: their paragraphs in a seeded random
order, every number in them changed (so no two paragraphs repeat and every sentence carries
values to read), until the size is reached. The whole pipeline runs on it as one document
(read → extract → build → bundle → validate). What is reported, per size: the least wall-clock
and CPU time over the rounds, the time per kB, and the ratio of the time per kB to the smallest
size's. Linear means the ratio stays near 1 (the smallest size carries the fixed costs, so a
ratio under 1 is expected); the bar is ≤ 1.5.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv.mappings import load  # noqa: E402
from fhirconv.pipeline import Pipeline  # noqa: E402
from fhirconv.read import read_text  # noqa: E402

SEEDS = ("000_765caaade25ab21c.txt", "003_a0ae747061559f00.txt", "004_dda44f8077a34663.txt")


def case_text(size: int, seed: int = 7) -> str:
    """About ``size`` characters of case-report text, opening with a case introduction."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    for name in SEEDS:
        text = (ROOT / "seeds" / name).read_text(encoding="utf-8")
        paragraphs += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 80]
    head = ("Case report\n\nA 52-year-old woman presented with fever, a cough and a left breast lump. "
            "Haemoglobin was 10.2 g/dL and CRP 48 mg/L.\n\n")
    out = [head]
    n = len(head)
    while n < size:
        para = re.sub(r"\d+", lambda m: str(rng.randint(1, 10 ** len(m.group(0)))), rng.choice(paragraphs))
        out.append(para + "\n\n")
        n += len(para) + 2
    return "".join(out)[:size]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pipe = Pipeline(load())
    pipe.convert(read_text(case_text(2000), "warm-up"))
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        text = case_text(size)
        wall = cpu = float("inf")
        resources = 0
        for _ in range(args.rounds):
            t, c = time.perf_counter(), time.process_time()
            conv = pipe.convert(read_text(text, f"{size}.txt"))
            wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
            resources = len(conv.bundle["entry"]) if conv.bundle else 0
        rows.append({"chars": size, "wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                     "cpu_ms_per_kB": round(cpu / size * 1e6, 3), "resources": resources})
    base = rows[0]["cpu_ms_per_kB"]
    for r in rows:
        r["ratio_to_smallest"] = round(r["cpu_ms_per_kB"] / base, 2)
        print(f"{r['chars']:>9} chars  wall {r['wall_s']:8.3f} s  cpu {r['cpu_s']:8.3f} s  "
              f"{r['cpu_ms_per_kB']:7.3f} ms/kB  ratio {r['ratio_to_smallest']:.2f}  "
              f"({r['resources']} resources)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
