"""The converter's own bundles against the real test server: accepted by its validator, and idempotent."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SEEDS
from conftest import run_cli as run_fhirconv
from conftest_push import FhirTestServer

pytest_plugins = ["conftest_push"]

TYPES = ("Patient", "Condition", "Observation", "ImagingStudy", "DiagnosticReport", "Procedure",
         "MedicationStatement", "DocumentReference", "Provenance")


def all_counts(server: FhirTestServer) -> dict[str, int]:
    return {t: server.count(t) for t in TYPES}


def test_convert_and_push_seeds_twice_changes_nothing(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", "--push", fhir_server.base, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    counts = all_counts(fhir_server)
    bundles = [json.loads(p.read_text()) for p in sorted(out.glob("0*.json"))]
    expected: dict[str, int] = {t: 0 for t in TYPES}
    for b in bundles:
        for e in b["entry"]:
            expected[e["resource"]["resourceType"]] += 1
    assert counts == expected
    assert counts["Patient"] == 3
    assert (tmp_path / ".fhirconv-journal").is_dir()  # the journal lives where the user runs the command
    # the same bundles again, through `fhirconv push`: every entry updated in place
    second = run_fhirconv("push", str(out / "000_765caaade25ab21c.json"), str(out / "003_a0ae747061559f00.json"),
                          str(out / "004_dda44f8077a34663.json"), "--server", fhir_server.base, "--json",
                          "--no-journal", cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert all_counts(fhir_server) == expected
