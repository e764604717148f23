"""Push against servers' rules: transactions run all or nothing, entry limits, referential integrity.

The test server runs transactions as Medplum's hosted server does (all or nothing, at most 50
updates, 8 entries when any is conditional); extra servers add an Azure-like entry cap and HAPI-like
referential integrity on write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_push")
from conftest_push import FhirTestServer, case_bundle, expected_counts  # noqa: E402
from fhirconv.push import EXIT_OK, EXIT_REJECTED, FhirClient  # noqa: E402
from fhirconv.push.journal import Journal  # noqa: E402

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 20.0}


def big_case(label: str, observations: int) -> dict[str, Any]:
    return case_bundle(label, observations)


def test_a_document_of_more_than_100_resources_pushes_with_default_options(fhir_server: FhirTestServer) -> None:
    bundle = big_case("big", 120)                       # 122 entries: over Medplum's 50 updates
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_bundle(bundle)
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(1, 120)


def test_a_transaction_failing_in_its_middle_leaves_nothing_written(fhir_server: FhirTestServer) -> None:
    bundle = big_case("atomic", 5)
    bundle["entry"][4]["resource"]["valueQuantity"]["value"] = "not a number"   # the middle entry is bad
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_bundle(bundle)
    assert report.exit_code == EXIT_REJECTED
    assert fhir_server.counts() == {"Patient": 0, "Condition": 0, "Observation": 0}   # rolled back


def test_a_server_entry_limit_splits_and_is_remembered(server_factory, tmp_path: Path) -> None:
    server = server_factory(FHIR_SERVER_MAX_ENTRIES="20")     # refuses more entries, in Azure's words
    journal = tmp_path / "journal.jsonl"
    bundles = [big_case(f"cap-{i}", 30) for i in range(3)]   # 32 entries each
    with FhirClient(server.base, **FAST) as client:
        report = client.push_bundles(bundles, journal=journal, max_entries=40)
    assert report.exit_code == EXIT_OK, report.summary()
    assert server.counts() == expected_counts(3, 30)
    # the first refusal taught the limit: every later request stays under it
    assert max(c.entries for c in report.chunks if c.status == 200) <= 20
    refused = [c for c in report.chunks if c.status == 400]
    assert len(refused) == 1
    jr = Journal(journal)
    assert jr.load() and jr.entry_limit == 20


def test_resume_plans_with_the_limit_the_interrupted_run_learnt(server_factory, tmp_path: Path) -> None:
    server = server_factory(FHIR_SERVER_MAX_ENTRIES="20")
    journal = tmp_path / "journal.jsonl"
    lines = [{"t": "run", "v": 1, "run_id": "r1", "server": server.base}, {"t": "limit", "entries": 16}]
    journal.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    with FhirClient(server.base, **FAST) as client:
        report = client.push_bundle(big_case("resumed", 30), journal=journal, resume=True, max_entries=40)
    assert report.exit_code == EXIT_OK, report.summary()
    assert all(c.entries <= 16 for c in report.chunks) and not any(c.status == 400 for c in report.chunks)


def test_chunks_only_reference_what_is_written_before_or_inside_them(server_factory) -> None:
    server = server_factory(FHIR_SERVER_REFERENTIAL_INTEGRITY="1")   # HAPI-like: no dangling reference
    bundle = big_case("integrity", 120)
    with FhirClient(server.base, **FAST) as client:
        report = client.push_bundle(bundle)
    assert report.exit_code == EXIT_OK, report.summary()
    assert server.counts() == expected_counts(1, 120)
    # and the server does refuse a dangling one: the check is real
    lonely = case_bundle("dangling", 1)
    lonely["entry"] = lonely["entry"][1:]            # a Condition whose Patient was never written
    with FhirClient(server.base, **FAST) as client:
        bad = client.push_bundle(lonely)
    assert bad.exit_code == EXIT_REJECTED


def test_conditional_writes_go_eight_at_a_time(fhir_server: FhirTestServer) -> None:
    bundle = big_case("conditional", 20)
    with FhirClient(fhir_server.base, mode="conditional", **FAST) as client:
        report = client.push_bundle(bundle)
    assert report.exit_code == EXIT_OK, report.summary()
    assert all(c.entries <= 8 for c in report.chunks)
    assert fhir_server.counts()["Observation"] == 20


def test_isolate_failures_writes_every_good_entry_and_lists_the_bad(fhir_server: FhirTestServer) -> None:
    bundle = big_case("isolate", 9)                      # 11 entries; two bad observations
    for i in (4, 8):
        bundle["entry"][i]["resource"]["valueQuantity"]["value"] = "bad"
    with FhirClient(fhir_server.base, **FAST) as client:
        whole = client.push_bundle(bundle)
    assert whole.exit_code == EXIT_REJECTED and fhir_server.counts()["Observation"] == 0      # all or nothing
    text = whole.summary()
    # each bad entry with the server's message, the good ones it held back in one line
    assert text.count("rejected:") == 3 and "9 entries (0-3, 5-7, 9-10)" in text
    with FhirClient(fhir_server.base, **FAST) as client:
        isolated = client.push_bundle(bundle, isolate_failures=True)
    assert fhir_server.counts() == {"Patient": 1, "Condition": 1, "Observation": 7}
    bad = [e for e in isolated.entries if not e.ok]
    assert sorted(e.index for e in bad) == [4, 8]
    assert all(e.status == 400 and e.messages for e in bad)


def test_medplums_update_limit_is_learnt_from_its_400(fhir_server: FhirTestServer) -> None:
    # asked for more than the server allows: the refusal ("more update operations than allowed", no
    # number) halves the request, and the rest of the run stays under it
    bundles = [big_case(f"medplum-{i}", 68) for i in range(2)]            # 70 entries each
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_bundles(bundles, max_entries=100)
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(2, 68)
    assert [c.status for c in report.chunks].count(400) == 1
    assert all(c.entries <= 50 for c in report.chunks if c.status == 200)
