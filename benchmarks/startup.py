"""Start-up cost of the command, against the bare interpreter measured in the same run.

    python benchmarks/startup.py [--runs N] [--json OUT.json]

Each command runs N times in a fresh process (wall clock, the machine is shared and noisy: min and
median are reported):
  python       ``python -c pass``: what any Python command costs
  version      ``fhirconv --version``: imports the CLI only
  convert_one  ``fhirconv convert <one seed> --out TMP -q``: imports and compiles everything a
               conversion needs (mappings, extractor, lexicon, validator) for one document
  convert_one_without_lexicon  the same with an overlay that routes no lexicon category
               (``lexicon.yaml`` ``routing: {}``): the difference is what the lexicon costs
  lexicon      ``python -c "load_lexicon()"``: loading the compiled SNOMED CT dictionary alone
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    fhirconv = str(BIN / "fhirconv")
    seed = str(sorted((ROOT / "seeds").glob("*.txt"))[-1])
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "no-lexicon"
        overlay.mkdir()
        (overlay / "lexicon.yaml").write_text("routing: {}\n", encoding="utf-8")
        out = str(Path(tmp) / "out")
        cases = {
            "python": [sys.executable, "-c", "pass"],
            "version": [fhirconv, "--version"],
            "convert_one": [fhirconv, "convert", seed, "--out", out, "-q"],
            "convert_one_without_lexicon": [fhirconv, "convert", seed, "--out", out, "-q", "--mappings", str(overlay)],
            "lexicon": [sys.executable, "-c", "from fhirconv.lexicon import load_lexicon; load_lexicon()"],
        }
        # the runs of all cases interleave: a drift of the machine's speed affects them alike
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                t = time.perf_counter()
                if subprocess.run(cmd, capture_output=True).returncode == 0:
                    times[name].append(time.perf_counter() - t)
        report = {}
        for name, found in times.items():
            if found:           # (no lexicon in this version: that case fails)
                report[f"{name}_s_min"] = round(min(found), 3)
                report[f"{name}_s_median"] = round(statistics.median(found), 3)
    if "convert_one_without_lexicon_s_min" in report:
        report["lexicon_startup_cost_s"] = round(report["convert_one_s_min"]
                                                 - report["convert_one_without_lexicon_s_min"], 3)
    for k, v in report.items():
        print(f"{k:28} {v}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
