"""Published R4 content written by others (../shared/fhir-examples/): no false errors, and every
confirmed problem still found where it is."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict

import pytest

import fhirconv
from conftest import ROOT
from fhirconv.model import Severity

# published files that break an invariant of the US Core profile they claim (base R4 valid, so not in
# EXPECTED-INVALID.tsv); each row is checked to be reported, with the reason written beside it
PROFILE_INVALID = {(r["file"], r["location"], r["invariant"]) for r in csv.DictReader(
    (ROOT / "tests" / "data" / "profile-invalid.tsv").open(encoding="utf-8"), delimiter="\t")}


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


def _invariant_test(rel: str) -> str | None:
    """The invariant a US Core invariant test file (``uscore/yaml-invtest-us-core-15-f1-fail.json``) is
    built to break; None for any other file. Those files are invalid against their profile on purpose."""
    m = re.fullmatch(r"uscore/yaml-invtest-(.+)-f\d+-fail\.json", rel)
    return m.group(1) if m else None


def test_every_published_file_not_listed_as_invalid_has_no_error(examples):
    root, expected = examples
    wrong = {}
    files = sorted(root.rglob("*.json"))
    assert len(files) > 800
    for path in files:
        rel = str(path.relative_to(root))
        if rel not in expected:
            errs = _errors(path)
            if _invariant_test(rel):
                errs = [e for e in errs if e.layer != "profile"]
            errs = [e for e in errs if (rel, e.location, e.message.split(": ")[1]) not in PROFILE_INVALID]
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


def test_us_core_invariant_tests_fail_on_the_invariant_they_test(examples):
    """US Core ships, per invariant, files built to break it: each is caught by that invariant where
    the shipped US Core 6.1.0 profile has it and fhirconv can evaluate it."""
    from fhirconv.validate import _profiles

    root, _expected = examples
    caught, judged = [], 0
    for path in sorted((root / "uscore").glob("yaml-invtest-*-fail.json")):
        key = _invariant_test(f"uscore/{path.name}")
        data = json.loads(path.read_text(encoding="utf-8"))
        claims = [_profiles.resolve(u) for u in data.get("meta", {}).get("profile", [])]
        keys = {c["key"] for u in claims if u for c in _profiles.profiles()[u]["constraints"]}
        issues = fhirconv.validate(data)
        if key not in keys or any(f"constraint {key} " in i.message for i in issues):
            continue                    # not a 6.1.0 invariant of the claimed profile, or not evaluable
        judged += 1
        if any(i.layer == "profile" and i.message.split(": ")[1] == key for i in issues
               if i.severity == Severity.ERROR):
            caught.append(path.name)
    assert judged >= 2 and len(caught) == judged, (judged, caught)


def test_published_files_that_break_their_claimed_profile_are_reported(examples):
    root, _expected = examples
    for rel, location, key in sorted(PROFILE_INVALID):
        found = {(e.location, e.message.split(": ")[1]) for e in _errors(root / rel) if e.layer == "profile"}
        assert (location, key) in found, (rel, found)
