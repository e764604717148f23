"""Fuzzing in the suite: each target's contract (tests/fuzzing.py) on a fixed-seed sample, and
every input a fuzz run ever broke a target with (tests/fuzz/crashes/), replayed.

Two kinds of input per target: mutations of real texts and bundles (the seed comes from
Hypothesis, the mutation from ``random.Random``), and values Hypothesis builds from nothing
(any text, any bytes, any JSON). ``derandomize`` fixes the sample, so CI runs the same inputs
every time; ``scripts/fuzz.py`` is the long run (10,000+ inputs per target).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzing


def fixed(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


SEEDS = st.integers(min_value=0, max_value=2 ** 32 - 1)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(fuzzing.ODD_KEYS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=40)

RESOURCES = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Patient", "Observation", "Condition", "Bundle", "ImagingStudy", "", "X"])},
    optional={k: JSON for k in ("id", "status", "code", "subject", "entry", "meta", "extension", "valueQuantity",
                                "type", "contained", "text")})


def _holds(target: str, value: object) -> None:
    fn = fuzzing.TARGETS[target][0]
    try:
        fn(value)
    except fuzzing.Broken as exc:
        kept = fuzzing.dump_input(target, value)
        pytest.fail(f"{target} broke its contract: {exc}\ninput ({len(kept)} bytes): {kept[:600]!r}")


@fixed(300)
@given(SEEDS)
def test_read_mutated_bytes(seed):
    _holds("read", fuzzing.mutate_bytes(random.Random(seed)))


@fixed(200)
@given(st.binary(max_size=3000))
def test_read_any_bytes(data):
    _holds("read", data)


@fixed(120)
@given(SEEDS)
def test_convert_mutated_case_texts(seed):
    _holds("convert", fuzzing.mutate_text(random.Random(seed)))


@fixed(80)
@given(st.text(max_size=2000) | st.lists(st.sampled_from(fuzzing.SNIPPETS), max_size=60).map("".join))
def test_convert_any_text(text):
    _holds("convert", "A 40-year-old woman was seen. " + text)


@fixed(150)
@given(SEEDS)
def test_validate_mutated_bundles(seed):
    _holds("validate", fuzzing.mutate_json(random.Random(seed)))


@fixed(200)
@given(JSON | RESOURCES)
def test_validate_any_json(value):
    _holds("validate", value)


@fixed(20)
@given(SEEDS)
def test_mappings_overlay_loading(seed):
    _holds("overlay", fuzzing.mutate_overlay(random.Random(seed)))


@fixed(120)
@given(SEEDS)
def test_push_dry_run_of_mutated_bundles(seed):
    _holds("push", fuzzing.mutate_json(random.Random(seed)))


@fixed(150)
@given(JSON | RESOURCES | st.lists(RESOURCES, max_size=4))
def test_push_dry_run_of_any_json(value):
    _holds("push", value)


CRASH_FILES = sorted(p for p in fuzzing.CRASHES.glob("*/*") if p.is_file()) if fuzzing.CRASHES.is_dir() else []


@pytest.mark.parametrize("path", CRASH_FILES, ids=[f"{p.parent.name}/{p.name}" for p in CRASH_FILES])
def test_every_input_a_fuzz_run_broke_a_target_with_holds_now(path: Path):
    target = path.parent.name
    _holds(target, fuzzing.load_input(target, path.read_bytes()))


def test_kept_inputs_round_trip():
    """A kept crash file gives back the very input that broke the target."""
    rng = random.Random(3)
    for target, (_, gen, _) in fuzzing.TARGETS.items():
        value = gen(rng)
        data = fuzzing.dump_input(target, value)
        assert fuzzing.dump_input(target, fuzzing.load_input(target, data)) == data
