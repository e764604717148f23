"""The push client against the real test FHIR server (tests/fhir_server)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from fhirconv.cli_push import register
from fhirconv.push import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REJECTED,
    EXIT_SERVER,
    AsyncFhirClient,
    CapabilityError,
    FhirClient,
    RejectedError,
)
from fhirconv.push.plan import TAG_SYSTEM

pytest.register_assert_rewrite("conftest_push")
from conftest_push import (  # noqa: E402
    FaultProxy,
    FhirTestServer,
    case_bundle,
    expected_counts,
    write_bundles,
)

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 10.0}


def test_test_server_is_a_validating_r4_server(fhir_server: FhirTestServer) -> None:
    http = fhir_server.http
    cs = http.get(f"{fhir_server.base}/metadata").json()
    assert cs["resourceType"] == "CapabilityStatement" and cs["fhirVersion"] == "4.0.1"
    assert {i["code"] for i in cs["rest"][0]["interaction"]} >= {"transaction", "batch"}
    headers = {"Content-Type": "application/fhir+json"}
    bad = http.put(f"{fhir_server.base}/Patient/p-bad", headers=headers,
                   content=json.dumps({"resourceType": "Patient", "id": "p-bad", "birthDate": "1970-13-45"}))
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    tx = case_bundle("server-check")
    del tx["entry"][2]["resource"]["code"]           # Observation.code is required
    r = http.post(fhir_server.base, headers=headers, content=json.dumps(tx))
    assert r.status_code == 400
    assert "Bundle.entry[2]" in json.dumps(r.json())
    assert fhir_server.counts() == {"Patient": 0, "Condition": 0, "Observation": 0}


def test_push_twice_creates_no_duplicates(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path / "in", 6, observations=2)
    with FhirClient(fhir_server.base, **FAST) as client:
        first = client.push_files([tmp_path / "in"])
        assert first.exit_code == EXIT_OK, first.summary()
        assert first.totals["written"] == 6 * 4
        assert fhir_server.counts() == expected_counts(6, 2)
        second = client.push_files([tmp_path / "in"])
        assert second.exit_code == EXIT_OK, second.summary()
    assert fhir_server.counts() == expected_counts(6, 2)
    # every resource carries the run tag of the last run
    assert fhir_server.count("Patient", _tag=f"{TAG_SYSTEM}|{second.run_id}") == 6
    patient = fhir_server.read(first.entries[0].location or "")
    assert patient is not None
    assert {"system": TAG_SYSTEM, "code": second.run_id} in patient["meta"]["tag"]


def test_bookkeeping_is_done_while_the_server_works(fhir_server: FhirTestServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With one request in flight, the previous answer is recorded on the helper thread
    (handed over on httpcore's trace event): if that event stops firing, pushes slow down."""
    threads: list[str] = []
    settle = FhirClient._settle

    def spy(self: FhirClient, *args: Any) -> None:
        threads.append(threading.current_thread().name)
        settle(self, *args)

    monkeypatch.setattr(FhirClient, "_settle", spy)
    write_bundles(tmp_path / "in", 5, observations=2)
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path / "in"], journal=tmp_path / "j.jsonl")
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(5, 2)
    assert len(threads) == 5
    assert threads[:4] == ["fhirconv-bookkeeping"] * 4   # the last one has no next request to wait on
    acked = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert sum(1 for r in acked if r["t"] == "ack") == 5


def test_transactions_go_to_the_base_as_fhir_json(fault_proxy: FaultProxy, tmp_path: Path) -> None:
    write_bundles(tmp_path, 2)
    with FhirClient(fault_proxy.base, **FAST) as client:
        report = client.push_files([tmp_path])
    assert report.exit_code == EXIT_OK
    assert [s.path for s in fault_proxy.seen] == ["/fhir/metadata", "/fhir", "/fhir"]
    for s in fault_proxy.posts():
        assert s.headers["Content-Type"].startswith("application/fhir+json")
        assert json.loads(s.body)["type"] == "transaction"


def test_large_bundle_is_chunked_with_references_intact(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    entries = []
    for p in range(3):
        entries.extend(case_bundle(f"large-{p}", 40)["entry"])
    (tmp_path / "large.json").write_text(json.dumps({"resourceType": "Bundle", "type": "transaction",
                                                     "entry": entries}))
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path / "large.json"], max_entries=10, verify=True)
    assert report.exit_code == EXIT_OK, report.summary()
    assert report.verified
    assert len(report.chunks) >= 13 and all(c.entries <= 10 for c in report.chunks)
    assert fhir_server.counts() == expected_counts(3, 40)
    obs = next(e for e in report.entries if e.resource_type == "Observation" and e.chunk != report.entries[0].chunk)
    stored = fhir_server.read(obs.location or "")
    assert stored is not None
    assert stored["subject"]["reference"] == f"Patient/{entries[0]['resource']['id']}"


def test_max_bytes_bounds_each_transaction(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(case_bundle("bytes", 30)))
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path / "b.json"], max_bytes=4096)
    assert report.exit_code == EXIT_OK
    assert len(report.chunks) > 3 and all(c.bytes <= 4096 for c in report.chunks)
    assert fhir_server.counts() == expected_counts(1, 30)


def test_rejected_data_is_explained_per_entry(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    bad = case_bundle("bad", 2)
    bad["entry"][3]["resource"]["valueQuantity"]["value"] = "not a number"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path / "bad.json"])
        assert report.exit_code == EXIT_REJECTED
        culprit = report.entries[3]
        assert culprit.outcome == "rejected" and culprit.status == 400
        assert any("expected number" in m and "Bundle.entry[3]" in m for m in culprit.messages), culprit.messages
        assert any("all-or-nothing" in m for m in report.entries[0].messages)
        with pytest.raises(RejectedError):
            report.raise_for_status()
        (tmp_path / "good.json").write_text(json.dumps(case_bundle("good", 1)))
        mixed = client.push_files([tmp_path / "bad.json", tmp_path / "good.json"])
    assert mixed.exit_code == EXIT_PARTIAL
    assert fhir_server.counts() == expected_counts(1, 1)
    assert "rejected: HTTP 400" in mixed.summary()


def test_input_that_is_not_a_bundle(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"not": "fhir"}')
    (tmp_path / "y.json").write_text("{broken")
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path])
    assert report.exit_code == EXIT_REJECTED
    assert any("not a FHIR Bundle" in e for e in report.errors)
    assert any("invalid JSON" in e for e in report.errors)


def test_dry_run_validates_and_writes_nothing(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                              tmp_path: Path) -> None:
    write_bundles(tmp_path / "ok", 3)
    with FhirClient(fault_proxy.base, **FAST) as client:
        report = client.push_files([tmp_path / "ok"], dry_run=True)
        assert report.exit_code == EXIT_OK and report.totals["dry-run"] == 9 and report.dry_run
        bad = case_bundle("dry-bad")
        bad["entry"][0]["resource"]["gender"] = 12
        invalid = client.push_bundle(bad, dry_run=True)
    assert invalid.exit_code == EXIT_REJECTED
    assert any("gender" in m for m in invalid.entries[0].messages)
    assert all(s.method == "GET" for s in fault_proxy.seen)
    assert fhir_server.counts() == {"Patient": 0, "Condition": 0, "Observation": 0}


def test_server_with_another_fhir_version_is_refused(server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stu3 = server_factory(FHIR_SERVER_FHIR_VERSION="3.0.2")
    write_bundles(tmp_path, 1)
    with FhirClient(stu3.base, **FAST) as client:
        with pytest.raises(CapabilityError, match="FHIR 3.0.2 server"):
            client.capabilities()
        report = client.push_files([tmp_path])
    assert report.exit_code == EXIT_SERVER
    assert "FHIR 3.0.2" in report.errors[0]
    assert all(e.outcome == "not-sent" for e in report.entries)
    assert stu3.counts() == {"Patient": 0, "Condition": 0, "Observation": 0}
    with pytest.raises(CapabilityError):
        report.raise_for_status()
    no_tx = server_factory(FHIR_SERVER_NO_TRANSACTION="1")
    with FhirClient(no_tx.base, **FAST) as client, pytest.raises(CapabilityError, match="neither transaction"):
        client.capabilities()


def test_not_a_fhir_base_url(fhir_server: FhirTestServer) -> None:
    with FhirClient(fhir_server.root + "/nothing-here", **FAST) as client, \
            pytest.raises(CapabilityError, match="HTTP 404"):
        client.capabilities()


def test_batch_mode(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path, 3, observations=2)
    with FhirClient(fhir_server.base, bundle_type="batch", **FAST) as client:
        report = client.push_files([tmp_path], max_entries=3)
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(3, 2)
    obs = fhir_server.read(next(e.location for e in report.entries if e.resource_type == "Observation") or "")
    assert obs is not None and obs["subject"]["reference"].startswith("Patient/")


def test_conditional_create_mode_is_idempotent(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                               tmp_path: Path) -> None:
    write_bundles(tmp_path, 3)
    with FhirClient(fault_proxy.base, mode="conditional", **FAST) as client:
        # the Medplum router allows at most 8 entries in a transaction with conditional creates
        first = client.push_files([tmp_path], max_entries=8)
        assert first.exit_code == EXIT_OK, first.summary()
        second = client.push_files([tmp_path], max_entries=8)
        assert second.exit_code == EXIT_OK, second.summary()
    assert fhir_server.counts() == expected_counts(3)
    first_entry = json.loads(fault_proxy.posts()[0].body)["entry"][0]
    assert first_entry["request"] == {"method": "POST", "url": "Patient",
                                      "ifNoneExist": "identifier=urn:fhirconv:test-case|case-0"}
    cond = fhir_server.read(next(e.location for e in second.entries if e.resource_type == "Condition") or "")
    patient_ref = cond["subject"]["reference"] if cond else ""
    assert fhir_server.read(patient_ref) is not None


def test_concurrency_sync_and_async(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path / "a", 8, observations=3, prefix="conc")
    with FhirClient(fhir_server.base, **FAST) as client:
        report = client.push_files([tmp_path / "a"], concurrency=4, max_entries=2)
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(8, 3)
    fhir_server.reset()
    write_bundles(tmp_path / "b", 5, observations=3, prefix="async")

    async def push() -> int:
        async with AsyncFhirClient(fhir_server.base, **FAST) as client:
            caps = await client.capabilities()
            assert caps.transaction
            rep = await client.push_files([tmp_path / "b"], concurrency=3, max_entries=2, verify=True)
            assert rep.verified, rep.summary()
            return rep.exit_code

    assert asyncio.run(push()) == EXIT_OK
    assert fhir_server.counts() == expected_counts(5, 3)


def test_public_sandbox_notice() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={
        "resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
        "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]}) if request.method == "GET"
        else httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
            {"response": {"status": "201 Created", "location": "Patient/x/_history/1"}}] * 3}))
    seen: list[str] = []
    with FhirClient("https://hapi.fhir.org/baseR4", transport=transport, progress=seen.append) as client:
        report = client.push_bundle(case_bundle("public"))
        again = client.push_bundle(case_bundle("public"))
    assert report.exit_code == EXIT_OK
    assert any("public test server" in n for n in report.notices)
    assert not any("public test server" in n for n in again.notices[1:])
    assert sum("public test server" in s for s in seen) == 1


# ------------------------------------------------------------------ the command
def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """test app"""

    return app


def test_cli_push_json_and_exit_codes(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path / "in", 2)
    runner = CliRunner()
    journal = tmp_path / "j.jsonl"
    result = runner.invoke(_app(), ["push", str(tmp_path / "in"), "--server", fhir_server.base, "--json",
                                    "--journal", str(journal), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["exit_code"] == 0 and data["totals"]["written"] == 6 and data["journal"] == str(journal)
    assert journal.exists()
    result = runner.invoke(_app(), ["push", str(tmp_path / "in"), "--server", fhir_server.base, "--dry-run",
                                    "--no-journal"])
    assert result.exit_code == 0 and "would push" in result.stdout
    bad = case_bundle("cli-bad")
    bad["entry"][1]["resource"]["subject"] = "not a reference"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    result = runner.invoke(_app(), ["push", str(tmp_path / "bad.json"), "--server", fhir_server.base,
                                    "--no-journal"])
    assert result.exit_code == EXIT_REJECTED
    assert "rejected: HTTP 400" in result.stdout
    assert fhir_server.counts() == expected_counts(2)


def test_push_bundles_in_memory_with_journal_and_resume(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    bundles = [case_bundle(f"mem-{i}", 2) for i in range(3)]
    journal = tmp_path / "mem.jsonl"
    with FhirClient(fhir_server.base, **FAST) as client:
        first = client.push_bundles(bundles, journal=journal)
        assert first.exit_code == EXIT_OK and first.totals["written"] == 12
        again = client.push_bundles([("named", b) for b in bundles], journal=journal, resume=True)
    assert again.exit_code == EXIT_OK and again.totals["skipped"] == 12 and again.requests == 0
    assert fhir_server.counts() == expected_counts(3, 2)


def test_dry_run_without_a_reachable_server_still_validates(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = case_bundle("offline")
    bad["entry"][0]["resource"]["birthDate"] = "yesterday"
    with FhirClient(f"http://127.0.0.1:{port}/fhir", **{**FAST, "max_attempts": 1}) as client:
        report = client.push_bundle(bad, dry_run=True)
    # a dry run never contacts the server: the invalid entry alone decides the exit status
    assert report.requests == 0 and not report.errors
    assert report.exit_code == EXIT_REJECTED
    assert report.entries[0].outcome == "rejected" and report.entries[1].outcome == "dry-run"


def test_summary_is_bounded() -> None:
    from fhirconv.push.report import EntryResult, PushReport

    # 50 different failures: at most 5 shown, the rest counted
    report = PushReport("http://x/fhir", "r", entries=[
        EntryResult("f", i, "Patient", str(i), "PUT", f"Patient/p{i}", outcome="not-sent", error_kind="server",
                    messages=[f"not sent ({i})"]) for i in range(50)])
    text = report.summary(max_entries=5)
    assert text.count("not-sent:") == 5 and "... and 45 more failures" in text
    # one transaction refused for one entry's sake: one line for the entries it covered, the message once
    same = PushReport("http://x/fhir", "r", entries=[
        EntryResult("f", i, "Patient", str(i), "PUT", f"Patient/p{i}", outcome="rejected", error_kind="rejected",
                    status=400, chunk="0:0", messages=["entry 3: birthDate is not a date"]) for i in range(60)])
    text = same.summary()
    assert text.count("rejected:") == 1 and "60 entries (0-59)" in text
    assert text.count("birthDate is not a date") == 1
