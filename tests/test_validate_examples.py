"""Published R4 content written by others (../shared/fhir-examples/): no false errors, and every
confirmed problem still found where it is."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import pytest

import fhirconv
from fhirconv.model import Severity


def _errors(path):
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    return [i for i in fhirconv.validate(data) if i.severity in (Severity.ERROR, Severity.FATAL)]


@pytest.fixture(scope="module")
def examples(shared):
    root = shared / "fhir-examples"
    if not root.is_dir():
        pytest.skip("../shared/fhir-examples is not present")
    expected = defaultdict(list)
    with open(root / "EXPECTED-INVALID.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            expected[row["file"]].append(row)
    return root, expected


def test_every_published_file_not_listed_as_invalid_has_no_error(examples):
    root, expected = examples
    wrong = {}
    files = sorted(root.rglob("*.json"))
    assert len(files) > 800
    for path in files:
        rel = str(path.relative_to(root))
        if rel not in expected:
            errs = _errors(path)
            if errs:
                wrong[rel] = [f"{e.location}: {e.message[:120]} [{e.layer}]" for e in errs[:3]]
    assert not wrong, f"{len(wrong)} valid file(s) reported with errors:\n" + "\n".join(
        f"{k}: {v}" for k, v in list(wrong.items())[:15])


def test_every_confirmed_problem_is_still_reported_where_it_is(examples):
    root, expected = examples
    missed = []
    for rel, rows in sorted(expected.items()):
        locations = {e.location for e in _errors(root / rel)}
        for row in rows:
            if row["verdict"] != "invalid":
                continue
            if not any(loc == row["location"] or loc.startswith(row["location"] + ".")
                       or loc.startswith(row["location"] + "[") for loc in locations):
                missed.append(f"{rel} {row['location']}: {row['problem'][:80]}")
    assert not missed, "\n".join(missed)
