"""Extraction quality on the development set (../shared/eval), scored by its own scorer.

Skips without ../shared/. The thresholds are the pipeline issue's targets; the held-out set is
scored the same way elsewhere, so these are a floor, not the goal.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import run_cli


def test_dev_set_scores(shared, tmp_path):
    cases = shared / "eval" / "dev" / "cases"
    src = tmp_path / "in"
    src.mkdir()
    for f in sorted(cases.glob("*.txt")):
        text = f.read_text(encoding="utf-8")
        if text.startswith("# source:"):
            text = text.split("\n", 1)[1]
        (src / f.name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("convert", str(src), "--out", str(out), "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    report_path = tmp_path / "report.json"
    subprocess.run([sys.executable, str(shared / "eval" / "score.py"), "--gold", str(shared / "eval" / "dev" / "gold"),
                    "--out", str(out), "--json", str(report_path)], check=True, capture_output=True)
    report = json.loads(report_path.read_text())
    # the bars of the extraction issue (#7) on the development set
    assert report["bundles_with_errors"] == 0
    assert report["document_kind_accuracy"] == 1.0
    assert report["assertion_errors"] == 0, report["per_document"]
    assert report["conditions"]["precision"] >= 0.90, report["conditions"]
    assert report["overall"] >= 0.90, report
