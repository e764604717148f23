"""The benchmark scripts' own pieces that must hold whatever the numbers are."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _corpus_module():
    spec = importlib.util.spec_from_file_location("casereport_corpus", ROOT / "benchmarks" / "casereport_corpus.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_the_case_report_corpus_reader_refuses_classes_that_could_run_code(tmp_path):
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(pickle.UnpicklingError):
        _corpus_module().load(bad)


def test_pdf_like_wrapping_cuts_lines_and_adds_page_heads():
    wrapped = _corpus_module().wrap_like_a_pdf("word " * 2000, 1)
    assert max(len(line) for line in wrapped.splitlines()) <= 90 and "J Case Rep" in wrapped
