"""Faults injected by a loopback proxy between the push client and the real test server.

After each fault the server must hold exactly the expected resources: nothing lost,
nothing duplicated.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from fhirconv.push import EXIT_OK, EXIT_PARTIAL, EXIT_SERVER, FhirClient, PushReport

pytest.register_assert_rewrite("conftest_push")
from conftest_push import FaultProxy, FhirTestServer, case_bundle, expected_counts, write_bundles  # noqa: E402

pytest_plugins = ["conftest_push"]

FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_cap": 0.05, "max_wait": 3.0, "timeout": 5.0, "max_attempts": 4}


def push(proxy: FaultProxy, paths: list[Path], **kwargs: Any) -> tuple[PushReport, float]:
    client_options = {*FAST, "connect_timeout", "bundle_type", "mode"}
    opts = {**FAST, **{k: v for k, v in kwargs.items() if k in client_options}}
    call = {k: v for k, v in kwargs.items() if k not in opts}
    started = time.monotonic()
    with FhirClient(proxy.base, **opts) as client:
        report = client.push_files(paths, **call)
    return report, time.monotonic() - started


@pytest.mark.parametrize("headers", [
    {},
    {"Retry-After": "1"},
    {"Retry-After": "HTTP-DATE"},
    {"x-ms-retry-after-ms": "300"},
], ids=["no-header", "seconds", "http-date", "x-ms-retry-after-ms"])
def test_429_is_retried_honouring_retry_after(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                              tmp_path: Path, headers: dict[str, str]) -> None:
    if headers.get("Retry-After") == "HTTP-DATE":
        headers = {"Retry-After": formatdate(time.time() + 2, usegmt=True)}
    write_bundles(tmp_path, 2)
    fault_proxy.add("status", status=429, headers=headers, times=2)
    report, elapsed = push(fault_proxy, [tmp_path])
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(2)
    statuses = [s.status for s in fault_proxy.posts()]
    assert statuses == [429, 429, 200, 200]
    if "Retry-After" in headers and headers["Retry-After"] == "1":
        assert elapsed >= 2.0           # waited the 1 s the server asked for, twice
    elif "Retry-After" in headers:
        assert elapsed >= 0.9           # the HTTP-date was ~2 s ahead (1-s resolution)
    elif headers:
        assert elapsed >= 0.6
    else:
        assert elapsed < 2.0            # short jittered backoff


def test_503_then_success(fault_proxy: FaultProxy, fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path, 3)
    fault_proxy.add("status", status=503, times=3)
    report, _ = push(fault_proxy, [tmp_path])
    assert report.exit_code == EXIT_OK
    assert fhir_server.counts() == expected_counts(3)


def test_persistent_503_gives_up_with_server_exit_code(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                                       tmp_path: Path) -> None:
    write_bundles(tmp_path, 3)
    fault_proxy.add("status", status=503, times=0)
    report, _ = push(fault_proxy, [tmp_path])
    assert report.exit_code == EXIT_SERVER
    assert len(fault_proxy.posts()) == FAST["max_attempts"]          # one chunk tried, then the push stops
    entries = report.entries
    assert entries[0].outcome == "failed" and "HTTP 503" in " ".join(entries[0].messages)
    assert all(e.outcome == "not-sent" for e in entries[3:])
    assert fhir_server.counts() == expected_counts(0)


def test_later_failure_leaves_a_partial_push(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                             tmp_path: Path) -> None:
    write_bundles(tmp_path, 3)
    fault_proxy.add("delay", seconds=0.0, times=1)               # first POST passes
    fault_proxy.add("status", status=502, times=0)               # then the gateway is down
    report, _ = push(fault_proxy, [tmp_path])
    assert report.exit_code == EXIT_PARTIAL
    assert fhir_server.counts() == expected_counts(1)


def test_413_halves_and_resends(fault_proxy: FaultProxy, fhir_server: FhirTestServer, tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text(json.dumps(case_bundle("big", 30)))
    fault_proxy.add("too_large", limit=6000, times=0)
    report, _ = push(fault_proxy, [tmp_path / "big.json"])
    assert report.exit_code == EXIT_OK, report.summary()
    posts = fault_proxy.posts()
    assert posts[0].status == 413
    assert all(len(p.body) <= 6000 for p in posts if p.status == 200)
    assert fhir_server.counts() == expected_counts(1, 30)


def test_413_on_a_single_entry_is_rejected(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                           tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(case_bundle("tiny", 1)))
    fault_proxy.add("too_large", limit=10, times=0)
    report, _ = push(fault_proxy, [tmp_path / "b.json"])
    assert report.exit_code == 2
    assert "413" in report.summary()


def test_read_timeout_after_the_server_committed_does_not_duplicate(
        fault_proxy: FaultProxy, fhir_server: FhirTestServer, tmp_path: Path) -> None:
    write_bundles(tmp_path, 2)
    fault_proxy.add("timeout_after_forward", hold=2.0, times=1)
    report, _ = push(fault_proxy, [tmp_path], timeout=0.7)
    assert report.exit_code == EXIT_OK, report.summary()
    posts = fault_proxy.posts()
    assert posts[0].fault == "timeout_after_forward" and posts[0].status == 200     # the server did commit
    assert posts[1].body == posts[0].body                                           # the same PUTs again
    assert fhir_server.counts() == expected_counts(2)
    assert report.entries[0].attempts == 2


@pytest.mark.parametrize("after_forward", [False, True], ids=["before-forward", "after-forward"])
def test_connection_reset(fault_proxy: FaultProxy, fhir_server: FhirTestServer, tmp_path: Path,
                          after_forward: bool) -> None:
    write_bundles(tmp_path, 2)
    fault_proxy.add("reset", after_forward=after_forward, times=2)
    report, _ = push(fault_proxy, [tmp_path])
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(2)


def test_slow_response_within_and_beyond_the_timeout(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                                     tmp_path: Path) -> None:
    write_bundles(tmp_path, 2)
    fault_proxy.add("delay", seconds=0.3, times=1)      # slow but within the read timeout
    fault_proxy.add("delay", seconds=1.5, times=1)      # beyond it: the client gives up and retries
    report, _ = push(fault_proxy, [tmp_path], timeout=0.8)
    assert report.exit_code == EXIT_OK, report.summary()
    assert [p.fault for p in fault_proxy.posts()] == ["delay", "delay", None]
    assert fhir_server.counts() == expected_counts(2)


def test_server_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_bundles(tmp_path, 1)
    with FhirClient(f"http://127.0.0.1:{port}/fhir", **{**FAST, "max_attempts": 6}) as client:
        report = client.push_files([tmp_path])
    assert report.exit_code == EXIT_SERVER
    assert "cannot reach" in report.errors[0]
    assert report.requests <= 2            # a refused connection is tried once more, not six times


def test_batch_requeues_only_throttled_entries(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                               tmp_path: Path) -> None:
    """A batch-response with a 429 entry: only that entry is sent again."""
    write_bundles(tmp_path, 1, observations=2)
    fault_proxy.add("throttle_entry", times=1)
    report, _ = push(fault_proxy, [tmp_path], bundle_type="batch")
    assert report.exit_code == EXIT_OK, report.summary()
    posts = fault_proxy.posts()
    assert len(posts) == 2
    assert len(json.loads(posts[1].body)["entry"]) == 1
    assert fhir_server.counts() == expected_counts(1, 2)


def test_verify_reports_what_the_server_changed(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                                tmp_path: Path) -> None:
    write_bundles(tmp_path, 1)

    def change_gender(body: bytes) -> bytes:
        data = json.loads(body)
        if data.get("resourceType") == "Patient":
            data["gender"] = "other"
        return json.dumps(data).encode()

    fault_proxy.add("transform", method="GET", times=0, transform=change_gender)
    report, _ = push(fault_proxy, [tmp_path], verify=True)
    assert report.verified
    assert report.exit_code == EXIT_PARTIAL
    patient = report.entries[0]
    assert patient.outcome == "mismatch"
    assert 'verify: gender: sent "female", server has "other"' in patient.messages
    assert all(e.outcome == "written" for e in report.entries[1:])


@pytest.mark.parametrize("mode", ["put", "conditional"])
def test_every_fault_kind_at_scale_loses_and_duplicates_nothing(fault_proxy: FaultProxy, fhir_server: FhirTestServer,
                                                                tmp_path: Path, mode: str) -> None:
    """120 documents pushed through each fault the proxy makes, spread over the run: the server ends
    with exactly one copy of every resource."""
    paths = write_bundles(tmp_path / "in", 120, observations=2)
    for n, (kind, extra) in enumerate([
        ("status", {"status": 429, "headers": {"Retry-After": "0"}}),
        ("status", {"status": 429}),
        ("status", {"status": 502}),
        ("status", {"status": 503}),
        ("reset", {"after_forward": False}),
        ("reset", {"after_forward": True}),              # committed, the answer lost
        ("timeout_after_forward", {"hold": 0.3}),        # committed, then silence
        ("too_large", {"limit": 1500}),                  # a 413 for the larger requests
    ]):
        fault_proxy.add(kind, skip=5 + 9 * n, times=2, **extra)
    report, _ = push(fault_proxy, paths, mode=mode, journal=tmp_path / "journal.jsonl")
    assert report.exit_code == EXIT_OK, report.summary()
    assert fhir_server.counts() == expected_counts(120, 2)        # nothing missing, nothing twice
    assert all(f.used == f.times for f in fault_proxy.faults)     # every fault did happen
