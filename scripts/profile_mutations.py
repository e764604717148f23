"""The profile layer's detection table: every single-rule mutant of the published IG examples.

    python scripts/profile_mutations.py            # a markdown table (the README's)

For each example in tests/data/ig-examples/ and each shipped profile it claims, tests/mutating.py
makes one mutant per rule the profile states (a required element removed, a pattern or fixed value
changed, a code outside a required binding, a required slice emptied, a constraint broken); a mutant
is caught when `fhirconv.validate` reports an error for it (a broken constraint: the constraint, at the
severity its profile gives it, which is a warning for some of mCODE's).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fhirconv  # noqa: E402
from fhirconv.model import Severity  # noqa: E402
from mutating import KINDS, mutants  # noqa: E402


def table() -> tuple[Counter[str], Counter[str], Counter[str], list[str]]:
    made: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    by_profile: Counter[str] = Counter()
    missed = []
    for path in sorted((ROOT / "tests" / "data" / "ig-examples").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("resourceType") == "Bundle":
            continue
        for m in mutants(data):
            made[m.kind] += 1
            issues = fhirconv.validate(m.resource)
            errors = [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)]
            if m.kind == KINDS[5]:      # a constraint is reported at the severity its profile gives it
                errors = [i for i in issues if i.severity in (Severity.ERROR, Severity.WARNING)
                          and f": {m.rule}: " in i.message]
            if errors:
                caught[m.kind] += 1
                if any(i.layer == "profile" for i in errors):
                    by_profile[m.kind] += 1
            else:
                missed.append(f"{path.name} {m.kind} {m.rule}")
    return made, caught, by_profile, missed


def main() -> None:
    made, caught, by_profile, missed = table()
    print("| mutation | mutants | caught | by the profile layer |")
    print("|---|---:|---:|---:|")
    for kind in KINDS:
        print(f"| {kind} | {made[kind]} | {caught[kind]} | {by_profile[kind]} |")
    print(f"| all | {sum(made.values())} | {sum(caught.values())} | {sum(by_profile.values())} |")
    for m in missed:
        print("missed:", m, file=sys.stderr)


if __name__ == "__main__":
    main()
