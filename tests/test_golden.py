"""Golden bundles for the five seeds: produced by the code (scripts/regen_golden.py), reviewed, and
compared here byte for byte so any change in output is seen and reviewed."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS
from fhirconv.bundle import dumps
from fhirconv.pipeline import Pipeline
from fhirconv.read import read_path

GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="module")
def pipe():
    return Pipeline()


@pytest.mark.parametrize("seed", sorted(p.name for p in SEEDS.glob("*.txt")))
def test_seed_matches_golden(seed, pipe):
    conv = pipe.convert(read_path(str(SEEDS / seed)))
    got = "null\n" if conv.bundle is None else dumps(conv.bundle)
    want = (GOLDEN / f"{Path(seed).stem}.json").read_text(encoding="utf-8")
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now", n=1))
        pytest.fail(f"{seed} differs from its golden bundle (run scripts/regen_golden.py and review):\n{diff[:4000]}")
