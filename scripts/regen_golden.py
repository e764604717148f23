"""Regenerate tests/golden/<seed>.json from the current code (review the diff line by line before committing).

    python scripts/regen_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv.bundle import dumps  # noqa: E402
from fhirconv.pipeline import Pipeline  # noqa: E402
from fhirconv.read import read_path  # noqa: E402


def main() -> int:
    golden = ROOT / "tests" / "golden"
    golden.mkdir(exist_ok=True)
    pipe = Pipeline()
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        conv = pipe.convert(read_path(str(seed)))
        target = golden / f"{seed.stem}.json"
        if conv.bundle is None:
            target.write_text("null\n", encoding="utf-8")
        else:
            target.write_text(dumps(conv.bundle), encoding="utf-8")
        print(f"{target.relative_to(ROOT)}: {conv.report.kind}, {sum(conv.report.resources.values())} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
