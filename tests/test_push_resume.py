"""The write-ahead journal and ``--resume``: after a failure or a kill, write exactly what is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fhirconv.push import EXIT_OK, EXIT_PARTIAL, FhirClient, JournalError

pytest.register_assert_rewrite("conftest_push")
from conftest_push import (  # noqa: E402
    FaultProxy,
    FhirTestServer,
    case_bundle,
    cli_env,
    expected_counts,
    run_cli,
    write_bundles,
)

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 0.5, "timeout": 5.0, "max_attempts": 2}


def journal_records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def test_resume_after_a_failed_push(fault_proxy: FaultProxy, fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path / "in", 5)
    journal = tmp_path / "j.jsonl"
    fault_proxy.add("delay", seconds=0.0, times=2)        # two transactions pass ...
    fault_proxy.add("status", status=503, times=0)         # ... then the server is down
    with FhirClient(fault_proxy.base, **FAST) as client:
        first = client.push_files([tmp_path / "in"], journal=journal)
    assert first.exit_code == EXIT_PARTIAL
    assert fhir_server.counts() == expected_counts(2)
    fault_proxy.faults.clear()
    before = len(fault_proxy.posts())
    with FhirClient(fault_proxy.base, **FAST) as client:
        second = client.push_files([tmp_path / "in"], journal=journal, resume=True)
    assert second.exit_code == EXIT_OK, second.summary()
    assert second.run_id == first.run_id
    assert second.totals["skipped"] == 6 and second.totals["written"] == 9
    assert len(fault_proxy.posts()) - before == 3           # only the three missing transactions
    assert fhir_server.counts() == expected_counts(5)
    kinds = [r["t"] for r in journal_records(journal)]
    assert kinds.count("run") == 2 and kinds[-1] == "end"


def test_resume_resends_a_changed_file_and_checks_the_server(fhir_server: FhirTestServer, tmp_path: Path) -> None:
    paths = write_bundles(tmp_path / "in", 2)
    journal = tmp_path / "j.jsonl"
    with FhirClient(fhir_server.base, **FAST) as client:
        assert client.push_files([tmp_path / "in"], journal=journal).exit_code == EXIT_OK
        changed = case_bundle("case-1")
        changed["entry"][0]["resource"]["gender"] = "male"
        paths[1].write_text(json.dumps(changed))
        again = client.push_files([tmp_path / "in"], journal=journal, resume=True)
    assert again.totals["skipped"] == 5 and again.totals["written"] == 1
    assert fhir_server.read(again.entries[3].location or "")["gender"] == "male"  # type: ignore[index]
    with FhirClient(fhir_server.root + "/other", **FAST) as other, pytest.raises(JournalError, match="belongs"):
        other.push_files([tmp_path / "in"], journal=journal, resume=True)


def test_sigkill_mid_push_then_resume_writes_exactly_the_rest(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                                              tmp_path: Path) -> None:
    write_bundles(tmp_path / "in", 30)
    journal = tmp_path / "journal.jsonl"
    fault_proxy.add("delay", seconds=0.15, times=0)          # slow every transaction down
    args = [str(tmp_path / "in"), "--server", fault_proxy.base, "--journal", str(journal), "--quiet",
            "--backoff-base", "0.01", "--backoff-cap", "0.05"]
    proc = subprocess.Popen([sys.executable, "-m", "fhirconv.cli_push", *args], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and sum(r["t"] == "ack" for r in journal_records(journal)) >= 8:
                break
            if proc.poll() is not None:
                pytest.fail(f"the push ended before it could be killed: {proc.communicate()}")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    records = journal_records(journal)
    assert not any(r["t"] == "end" for r in records)
    acked = sum(len(r["results"]) for r in records if r["t"] == "ack")
    assert 8 * 3 <= acked < 90
    assert fhir_server.count("Patient") in (acked // 3, acked // 3 + 1)   # plus maybe one in flight

    fault_proxy.faults.clear()
    before = len(fault_proxy.posts())
    result = run_cli(*args, "--resume", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["skipped"] == acked
    assert report["totals"]["written"] == 90 - acked
    assert len(fault_proxy.posts()) - before == (90 - acked) // 3
    assert fhir_server.counts() == expected_counts(30)
