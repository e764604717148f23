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


def test_push_takes_a_convert_folder_as_convert_wrote_it(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    made = run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", "--ndjson", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    assert (out / "summary.json").is_file() and (out / "ndjson").is_dir()
    # a bundle convert marked invalid stays on disk but is never pushed
    (out / "broken.invalid.json").write_text((out / "004_dda44f8077a34663.json").read_text())
    pushed = run_fhirconv("push", str(out), "--server", fhir_server.base, "--no-journal", cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr[-3000:] + pushed.stdout[-3000:]
    said = pushed.stdout + pushed.stderr
    assert "summary.json" not in said
    assert "skipped" in said and "broken.invalid.json" in said and "ndjson" in said
    expected: dict[str, int] = {t: 0 for t in TYPES}
    for p in sorted(out.glob("0*.json")):
        for e in json.loads(p.read_text())["entry"]:
            expected[e["resource"]["resourceType"]] += 1
    assert all_counts(fhir_server) == expected          # each bundle once: the NDJSON copy was not sent


def test_dry_run_of_a_convert_folder_needs_no_server(tmp_path: Path) -> None:
    import socket

    out = tmp_path / "out"
    assert run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", cwd=tmp_path).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]            # nothing listens here
    r = run_fhirconv("push", str(out), "--server", f"http://127.0.0.1:{port}/fhir", "--dry-run", "--json",
                     cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["requests"] == 0 and not report["errors"]


def test_convert_push_takes_every_push_option(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", "--push", fhir_server.base,
                     "--max-entries", "7", "--no-journal", "--mode", "put", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    sizes = [len(json.loads(p.read_text())["entry"]) for p in sorted(out.glob("0*.json"))]
    entries = sum(sizes)
    import re
    sent = int(re.search(r"(\d+) transaction\(s\)", r.stdout).group(1))       # --max-entries reached the push
    assert sent >= sum(-(-n // 7) for n in sizes)
    assert sum(all_counts(fhir_server).values()) == entries
    assert not (tmp_path / ".fhirconv-journal").exists()          # --no-journal reached the push
    # a push option without --push is a usage error, not silently ignored
    lone = run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", "--max-entries", "7", cwd=tmp_path)
    assert lone.returncode == 2 and "--push" in lone.stderr


def test_profiled_bundles_push_and_keep_their_claims(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    """--profile mcode writes collections with profile claims and data-absent-reason extensions: the
    server's R4 validation accepts every entry, and what it stores still claims its profile."""
    out = tmp_path / "out"
    r = run_fhirconv("convert", str(SEEDS), "--out", str(out), "-q", "--profile", "mcode", "--push",
                     fhir_server.base, "--no-journal", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    expected: dict[str, int] = {t: 0 for t in TYPES}
    claimed: list[tuple[str, str, list[str]]] = []
    for p in sorted(out.glob("0*.json")):
        bundle = json.loads(p.read_text())
        assert bundle["type"] == "collection"
        for e in bundle["entry"]:
            res = e["resource"]
            expected[res["resourceType"]] += 1
            if "meta" in res:
                claimed.append((res["resourceType"], res["id"], res["meta"]["profile"]))
    assert all_counts(fhir_server) == expected
    assert claimed
    for rtype, rid, profiles in claimed[:20]:
        stored = fhir_server.read(f"{rtype}/{rid}")
        assert stored is not None and stored.get("meta", {}).get("profile") == profiles, (rtype, rid)
