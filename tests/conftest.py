"""Shared fixtures. Tests that need ../shared/ (the development set, terminology lists) skip without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def maps():
    from fhirconv.mappings import load

    return load()


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "eval").is_dir():
        pytest.skip("../shared/ is not present (it exists only for the project's developers and CI)")
    return SHARED


def run_cli(*args: str, stdin: bytes | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fhirconv", *args], input=stdin.decode() if stdin else None,
                          capture_output=True, text=True, cwd=cwd or ROOT, env=full_env, timeout=300)


def published_constraints(shared_dir: Path):
    """(file name, node, constraint) for every invariant that applies to a node of the published R4
    examples in ../shared/fhir-examples (skips the test when they are absent)."""
    import json

    from fhirconv.validate import _invariants
    from fhirconv.validate._walk import Context

    root = shared_dir / "fhir-examples"
    if not root.is_dir():
        pytest.skip("../shared/fhir-examples is not present")
    for path in sorted(root.rglob("*.json")):
        for node in Context(json.loads(path.read_text(encoding="utf-8-sig"))).nodes:
            typ, value = node.type, node.value
            if typ is None or (not isinstance(value, dict) and (typ == "@" or typ[0].isupper())):
                continue
            for c in _invariants._applicable(node.path, typ):
                yield path.name, node, c
