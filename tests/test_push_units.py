"""Unit tests of the push machinery that need no server: planning, retry timing, report, journal."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from fhirconv.push import EXIT_AUTH, EXIT_OK, EXIT_PARTIAL, EXIT_REJECTED, EXIT_SERVER, PushReport, RetryPolicy
from fhirconv.push.auth import BasicAuth, BearerAuth, redact
from fhirconv.push.client import FhirClient, _differences, _strip_userinfo, outcome_messages
from fhirconv.push.errors import AuthError
from fhirconv.push.journal import Journal
from fhirconv.push.plan import TAG_SYSTEM, chunk_body, entries_of, plan_chunks, split_chunk, static_resolution
from fhirconv.push.report import EntryResult
from fhirconv.push.retry import retry_after

pytest.register_assert_rewrite("conftest_push")
from conftest_push import case_bundle  # noqa: E402

pytest_plugins = ["conftest_push"]


def big_bundle(patients: int, observations: int) -> dict:
    entries = []
    for p in range(patients):
        entries.extend(case_bundle(f"big-{p}", observations)["entry"])
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# ------------------------------------------------------------------ planning
def test_entries_are_puts_with_run_tag_and_stable_keys() -> None:
    b = case_bundle("unit", 2)
    entries, errors = entries_of(b, "b.json", run_id="run1")
    assert not errors
    assert [e.method for e in entries] == ["PUT"] * 4
    assert all(e.url == f"{e.resource_type}/{e.id}" for e in entries)
    assert all({"system": TAG_SYSTEM, "code": "run1"} in e.resource["meta"]["tag"] for e in entries)
    again, _ = entries_of(b, "b.json", run_id="run2")
    assert [e.key for e in entries] == [e.key for e in again]   # the key ignores the run tag


def test_post_entries_become_idempotent_puts() -> None:
    b = case_bundle("post", 1)
    for e in b["entry"]:
        e["request"] = {"method": "POST", "url": e["resource"]["resourceType"]}
        del e["resource"]["id"]
    entries, errors = entries_of(b, "b.json")
    assert not errors
    assert all(e.method == "PUT" for e in entries)
    assert entries[0].url == "Patient/" + b["entry"][0]["fullUrl"].split(":")[-1]


def test_conditional_mode_uses_identifiers() -> None:
    entries, _ = entries_of(case_bundle("cond", 1), "b.json", mode="conditional")
    patient = entries[0]
    assert patient.method == "POST" and patient.if_none_exist == "identifier=urn:fhirconv:test-case|cond"
    assert "id" not in patient.resource
    assert entries[1].method == "PUT"          # no identifier: stays a PUT


def test_collection_and_single_resources_and_bad_input() -> None:
    coll = {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient", "id": "p-1"}}]}
    entries, errors = entries_of(coll, "c.json")
    assert not errors and entries[0].method == "PUT" and entries[0].url == "Patient/p-1"
    entries, errors = entries_of({"resourceType": "Patient", "id": "x-2"}, "p.json")
    assert entries[0].url == "Patient/x-2"
    entries, errors = entries_of({"hello": 1}, "junk.json")
    assert not entries and "not a FHIR Bundle" in errors[0]
    bad = {"resourceType": "Bundle", "type": "transaction",
           "entry": [{"resource": {"resourceType": "Patient", "id": "a"}, "request": {"method": "PUT",
                                                                                    "url": "Condition/a"}}]}
    _, errors = entries_of(bad, "bad.json")
    assert "is not Patient/<id>" in errors[0]


def test_chunks_respect_limits_and_never_reference_forward() -> None:
    entries, _ = entries_of(big_bundle(7, 5), "big.json")     # 7 × 7 entries
    chunks = plan_chunks(entries, max_entries=10, max_bytes=1 << 20)
    assert all(len(c.entries) <= 10 for c in chunks)
    assert sorted(e.index for c in chunks for e in c.entries) == list(range(len(entries)))
    position = {e.full_url: n for n, c in enumerate(chunks) for e in c.entries}
    for n, c in enumerate(chunks):
        for e in c.entries:
            for ref in e.refs:
                assert position[ref] <= n, "a chunk references an entry of a later chunk"
    by_bytes = plan_chunks(entries, max_entries=1000, max_bytes=3000)
    assert all(c.size <= 3000 for c in by_bytes if len(c.entries) > 1)


def test_reference_cycles_stay_in_one_chunk() -> None:
    u1, u2 = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
    a = {"fullUrl": f"urn:uuid:{u1}",
         "resource": {"resourceType": "Observation", "id": u1, "status": "final",
                      "code": {"text": "x"}, "hasMember": [{"reference": f"urn:uuid:{u2}"}]},
         "request": {"method": "PUT", "url": f"Observation/{u1}"}}
    b = {"fullUrl": f"urn:uuid:{u2}",
         "resource": {"resourceType": "Observation", "id": u2, "status": "final",
                      "code": {"text": "y"}, "derivedFrom": [{"reference": f"urn:uuid:{u1}"}]},
         "request": {"method": "PUT", "url": f"Observation/{u2}"}}
    c = {"resourceType": "Patient", "id": "lonely-1"}
    entries, _ = entries_of({"resourceType": "Bundle", "type": "transaction",
                             "entry": [a, {"resource": c, "request": {"method": "PUT", "url": "Patient/lonely-1"}}, b]},
                            "cyc.json")
    chunks = plan_chunks(entries, max_entries=1, max_bytes=1 << 20)
    sizes = sorted(len(ch.entries) for ch in chunks)
    assert sizes == [1, 2]


def test_chunk_body_rewrites_references_to_other_chunks() -> None:
    entries, _ = entries_of(case_bundle("rw", 2), "rw.json")
    chunks = plan_chunks(entries, max_entries=2, max_bytes=1 << 20)
    resolved = static_resolution(entries)
    later = json.loads(chunk_body(chunks[-1], "transaction", resolved))
    assert later["type"] == "transaction"
    refs = [e["resource"]["subject"]["reference"] for e in later["entry"]]
    assert all(r.startswith("Patient/") for r in refs)
    first = json.loads(chunk_body(chunks[0], "transaction", resolved))
    assert first["entry"][1]["resource"]["subject"]["reference"].startswith("urn:uuid:")   # same chunk: kept
    batch = json.loads(chunk_body(chunks[0], "batch", resolved))
    assert batch["entry"][1]["resource"]["subject"]["reference"].startswith("Patient/")   # batch: always rewritten


def test_split_chunk_keeps_dependency_order() -> None:
    entries, _ = entries_of(case_bundle("split", 6), "s.json")
    (chunk,) = plan_chunks(entries)
    halves = split_chunk(chunk)
    assert halves is not None
    a, b = halves
    assert len(a.entries) + len(b.entries) == 8 and a.entries[0].resource_type == "Patient"
    assert a.id in b.deps
    (single,) = plan_chunks(entries[:1])
    assert split_chunk(single) is None


# ------------------------------------------------------------------ retry timing
def test_retry_after_seconds_date_and_ms() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    now = time.time()
    date = formatdate(now + 5, usegmt=True)
    wait = retry_after({"retry-after": date}, now=now)
    assert wait is not None and 3.5 <= wait <= 5.5
    assert retry_after({"x-ms-retry-after-ms": "250"}) == 0.25
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None
    policy = RetryPolicy(max_wait=2.0)
    assert policy.delay(1, {"Retry-After": "100"}) == 2.0


def test_backoff_is_jittered_capped_and_grows() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0)
    rng = random.Random(1)
    delays = [[policy.backoff(a, rng) for _ in range(50)] for a in range(1, 8)]
    assert all(0.5 <= d <= 1.0 for d in delays[0])
    assert all(d <= 8.0 for row in delays for d in row)
    assert max(delays[3]) > max(delays[0])
    assert len({round(d, 6) for d in delays[2]}) > 10


# ------------------------------------------------------------------ report and exit codes
def _entry(outcome: str, kind: str | None = None) -> EntryResult:
    return EntryResult("f", 0, "Patient", "p", "PUT", "Patient/p", outcome=outcome, error_kind=kind)


@pytest.mark.parametrize(("outcomes", "code"), [
    ([("written", None)] * 2, EXIT_OK),
    ([("written", None), ("rejected", "rejected")], EXIT_PARTIAL),
    ([("rejected", "rejected")], EXIT_REJECTED),
    ([("rejected", "auth"), ("not-sent", "auth")], EXIT_AUTH),
    ([("failed", "server"), ("rejected", "rejected")], EXIT_SERVER),
    ([("skipped", None), ("written", None)], EXIT_OK),
    ([("skipped", None), ("not-sent", "server")], EXIT_PARTIAL),
    ([], EXIT_OK),
])
def test_exit_codes(outcomes: list[tuple[str, str | None]], code: int) -> None:
    report = PushReport("http://x/fhir", "r", entries=[_entry(o, k) for o, k in outcomes])
    assert report.exit_code == code
    assert json.loads(report.to_json())["exit_code"] == code


def test_outcome_messages_are_readable() -> None:
    oo = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "structure", "details": {"text": "Invalid date"},
         "expression": ["Patient.birthDate"]},
        {"severity": "information", "code": "informational", "diagnostics": "All OK"}]}
    assert outcome_messages(oo) == ["error structure: Invalid date (at Patient.birthDate)"]


def test_differences() -> None:
    sent = {"a": 1, "meta": {"x": 1}, "b": [1, {"c": "d"}]}
    assert _differences(sent, {"a": 1.0, "b": [1, {"c": "d"}], "z": 0}) == []
    assert _differences({"a": {"b": "x"}}, {"a": {"b": "y"}}) == ['a.b: sent "x", server has "y"']


# ------------------------------------------------------------------ secrets
def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PUSH_TEST_TOKEN", "s3cret-token-value")
    auth = BearerAuth.from_env("PUSH_TEST_TOKEN")
    assert "s3cret" not in repr(auth)
    assert redact("oops s3cret-token-value leaked", auth.secrets()) == "oops *** leaked"
    with pytest.raises(AuthError, match="NOPE_NOT_SET is not set"):
        BearerAuth.from_env("NOPE_NOT_SET")
    (tmp_path / "t").write_text("file-token-123\n")
    assert BearerAuth.from_file(tmp_path / "t").secrets() == ["file-token-123"]
    with pytest.raises(AuthError, match="empty"):
        (tmp_path / "e").write_text("  \n")
        BearerAuth.from_file(tmp_path / "e")
    basic = BasicAuth("me", "pa55word")
    assert "pa55word" not in repr(basic) and "pa55word" in basic.secrets()
    clean, userinfo = _strip_userinfo("https://me:pa55word@example.org/fhir")
    assert clean == "https://example.org/fhir" and userinfo == ("me", "pa55word")


# ------------------------------------------------------------------ journal
def test_journal_roundtrip_and_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    j.open(append=False)
    j.start("run-1", "http://x/fhir", resumed=False)
    j.sent("0:0", ["k1", "k2", "k3"])
    j.ack("0:0", [("k1", 200, "Patient/a"), ("k2", 201, "Condition/b"), ("k3", 400, None)])
    j.sent("0:1", ["k4"])
    j.close()
    with open(path, "a") as fh:
        fh.write('{"t":"ack","chunk":"0:1","res')        # killed mid-write
    again = Journal(path)
    assert again.load()
    assert again.run_id == "run-1"
    assert set(again.acked) == {"k1", "k2"} and again.acked["k1"] == (200, "Patient/a")
    assert again.sent_unacked == {"k3", "k4"}


# ------------------------------------------------------------------ bookkeeping while a request is out
def test_background_tasks_run_in_order_on_the_helper_or_inline() -> None:
    from fhirconv.push.client import _Background

    bg = _Background()
    ran: list[tuple[int, str]] = []

    def task(n: int):  # type: ignore[no-untyped-def]
        return lambda: ran.append((n, threading.current_thread().name))

    first, second = bg.later(task(1)), bg.later(task(2))
    bg.wait(first)                   # never handed off: runs inline, and only what it needs
    assert ran == [(1, threading.current_thread().name)]
    bg.trigger()                     # "a request is at the server"
    bg.wait(second)
    assert [n for n, _ in ran] == [1, 2] and ran[1][1] == "fhirconv-bookkeeping"
    bg.later(lambda: 1 / 0)
    third = bg.later(task(3))
    bg.trigger()
    with pytest.raises(ZeroDivisionError):
        bg.wait(third)
    assert [n for n, _ in ran] == [1, 2, 3]     # a failure does not stop later tasks
    bg.close()
    assert not bg._thread.is_alive()


def test_entry_failure_inside_a_successful_transaction_is_reported() -> None:
    """A server that answers 200 yet fails one entry (not something a real server does on demand)."""
    bundle = case_bundle("odd", 2)
    n = len(bundle["entry"])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                             "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]})
        entries = json.loads(request.content)["entry"]
        out = [{"response": {"status": "201 Created", "location": e["request"]["url"] + "/_history/1"}}
               for e in entries]
        out[-1] = {"response": {"status": "400 Bad Request", "outcome": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad value"}]}}}
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": out})

    with FhirClient("http://127.0.0.1:9/fhir", transport=httpx.MockTransport(answer)) as client:
        report = client.push_bundle(bundle, journal=None)
    assert report.exit_code == EXIT_PARTIAL, report.summary()
    assert [e.outcome for e in report.entries].count("written") == n - 1
    bad = report.entries[-1]
    assert bad.status == 400 and any("bad value" in m for m in bad.messages)


def test_entries_of_refuses_json_nested_past_the_limit_but_not_a_deep_real_one() -> None:
    def nested(levels: int) -> dict[str, object]:
        ext: dict[str, object] = {"url": "urn:x", "valueString": "leaf"}
        for _ in range(levels):
            ext = {"url": "urn:x", "extension": [ext]}
        return ext
    # 20 levels of extensions (about 42 JSON levels) is deeper than any published example: pushed
    ok = {"resourceType": "Patient", "id": "d-1", "extension": [nested(20)]}
    entries, errors = entries_of(ok, "ok.json")
    assert entries and not errors
    deep = {"resourceType": "Patient", "id": "d-2", "extension": [nested(40)]}
    entries, errors = entries_of(deep, "deep.json")
    assert not entries and "nested more than 64 levels deep" in errors[0]


def test_progress_lines_come_only_after_half_a_second_and_say_how_far() -> None:
    """A slow server (a delay a real one will not produce on demand): progress lines then, none for a
    quick push, and each line counts against what is planned."""
    def server(delay: float):
        def answer(request: httpx.Request) -> httpx.Response:
            if request.method == "GET":
                rest = [{"mode": "server", "interaction": [{"code": "transaction"}]}]
                return httpx.Response(200, json={"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1",
                                                 "rest": rest})
            time.sleep(delay)
            entries = json.loads(request.content)["entry"]
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": [
                {"response": {"status": "201 Created", "location": e["request"]["url"] + "/_history/1"}}
                for e in entries]})
        return httpx.MockTransport(answer)

    for delay, lines_expected in ((0.0, False), (0.12, True)):
        said: list[str] = []
        with FhirClient("http://127.0.0.1:9/fhir", transport=server(delay), progress=said.append) as client:
            report = client.push_bundle(case_bundle("slow", 6), journal=None, max_entries=1, concurrency=1)
        assert report.exit_code == EXIT_OK
        ticks = [s for s in said if "written so far" in s]
        assert bool(ticks) is lines_expected, said
        for t in ticks:
            assert re.match(r"\d+ of \d+ planned transaction\(s\) done, \d+ resource\(s\) written so far", t), t


def test_values_orjson_cannot_write_and_malformed_meta_or_identifiers_never_crash_planning():
    big = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
           "valueQuantity": {"value": 10 ** 30}}
    entries, errors = entries_of(big, "big.json", run_id="r")
    assert not errors and b'"value":1000000000000000000000000000000' in entries[0].encoded  # long decimal
    entries, errors = entries_of({"resourceType": "Patient", "id": "p1", "name": [{"text": "\ud800"}]}, "s.json")
    assert len(errors) == 1 and "cannot be written as JSON" in errors[0] and "Traceback" not in errors[0]
    for meta in ("x", {"tag": True}, {"tag": "t"}):
        entries, errors = entries_of({"resourceType": "Patient", "id": "p1", "meta": meta}, "m.json", run_id="r")
        assert not errors and entries[0].resource["meta"] == meta          # left for the validator to report
    entries, errors = entries_of({"resourceType": "Patient", "id": "p1", "identifier": True}, "i.json",
                                 mode="conditional")
    assert entries[0].method == "PUT" and not errors
