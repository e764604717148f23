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
