"""Fixtures for the push tests: a real FHIR server (Node, tests/fhir_server), a fault-injecting
proxy, and generated R4 transaction bundles.

Test modules load this with ``pytest_plugins = ["conftest_push"]``.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER_DIR = Path(__file__).resolve().parent / "fhir_server"
NAMESPACE = uuid.UUID("6f1c1d2e-3b4a-5c6d-8e9f-0a1b2c3d4e5f")


# =========================================================================== the FHIR server
class FhirTestServer:
    """``node tests/fhir_server/server.js 0`` on 127.0.0.1; ``base`` is its FHIR base URL."""

    def __init__(self, env: dict[str, str] | None = None, *, startup_timeout: float = 60.0) -> None:
        if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
            pytest.fail(
                f"the test FHIR server's packages are not installed ({SERVER_DIR / 'node_modules'} is missing). "
                "Run `make test` (it runs `npm ci` in tests/fhir_server), or `cd tests/fhir_server && npm ci`.",
                pytrace=False)
        self.token = (env or {}).get("FHIR_SERVER_TOKEN")
        full_env = {**os.environ, **(env or {})}
        self.proc = subprocess.Popen(["node", str(SERVER_DIR / "server.js"), "0"], cwd=SERVER_DIR,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True)
        deadline = time.monotonic() + startup_timeout
        line = ""
        assert self.proc.stdout is not None
        # readline blocks; the server prints the port as soon as it listens (or dies)
        reader: list[str] = []
        t = threading.Thread(target=lambda: reader.append(self.proc.stdout.readline() if self.proc.stdout else ""),
                             daemon=True)
        t.start()
        t.join(startup_timeout)
        line = reader[0] if reader else ""
        if not line.startswith("PORT "):
            self.stop()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"the test FHIR server did not start: {line!r} {err[-2000:]}", pytrace=False)
        self.port = int(line.split()[1])
        self.root = f"http://127.0.0.1:{self.port}"
        self.base = f"{self.root}/fhir"
        self.http = httpx.Client(timeout=10.0, headers=self._auth_headers())
        while True:
            try:
                if self.http.get(f"{self.base}/metadata").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("the test FHIR server does not answer GET /metadata", pytrace=False)
            time.sleep(0.05)

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def reset(self) -> None:
        assert self.http.post(f"{self.root}/__reset").status_code == 200

    def count(self, resource_type: str, **params: str) -> int:
        r = self.http.get(f"{self.base}/{resource_type}", params={"_summary": "count", **params})
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    def counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in ("Patient", "Condition", "Observation")}

    def read(self, literal: str) -> dict[str, Any] | None:
        r = self.http.get(f"{self.base}/{literal}")
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        if hasattr(self, "http"):
            self.http.close()


@pytest.fixture(scope="session")
def fhir_server_session() -> Iterator[FhirTestServer]:
    server = FhirTestServer()
    yield server
    server.stop()


@pytest.fixture
def fhir_server(fhir_server_session: FhirTestServer) -> FhirTestServer:
    """The shared test server, emptied for this test."""
    fhir_server_session.reset()
    return fhir_server_session


@pytest.fixture
def server_factory() -> Iterator[Callable[..., FhirTestServer]]:
    """Start extra servers with their own environment (token, announced version); stopped after the test."""
    started: list[FhirTestServer] = []

    def start(**env: str) -> FhirTestServer:
        s = FhirTestServer(env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


# =========================================================================== bundles
def case_bundle(label: str, observations: int = 1) -> dict[str, Any]:
    """A small valid R4 transaction: Patient + Condition + Observations, PUT to uuid5 ids, urn:uuid refs."""

    def uid(kind: str, n: int = 0) -> str:
        value = str(uuid.uuid5(NAMESPACE, f"{label}/{kind}/{n}"))
        return value if any(c.isalpha() for c in value) else "a" + value[1:]

    pid = uid("patient")
    entries: list[dict[str, Any]] = [{
        "fullUrl": f"urn:uuid:{pid}",
        "resource": {"resourceType": "Patient", "id": pid,
                     "identifier": [{"system": "urn:fhirconv:test-case", "value": label}],
                     "gender": "female", "birthDate": "1970-01-01"},
        "request": {"method": "PUT", "url": f"Patient/{pid}"},
    }]
    cid = uid("condition")
    entries.append({
        "fullUrl": f"urn:uuid:{cid}",
        "resource": {"resourceType": "Condition", "id": cid,
                     "clinicalStatus": {"coding": [{
                         "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                     "code": {"coding": [{"system": "http://snomed.info/sct", "code": "386661006",
                                          "display": "Fever"}], "text": "fever"},
                     "subject": {"reference": f"urn:uuid:{pid}"}},
        "request": {"method": "PUT", "url": f"Condition/{cid}"},
    })
    for n in range(observations):
        oid = uid("observation", n)
        entries.append({
            "fullUrl": f"urn:uuid:{oid}",
            "resource": {"resourceType": "Observation", "id": oid, "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5",
                                              "display": "Body temperature"}]},
                         "subject": {"reference": f"urn:uuid:{pid}"},
                         "focus": [{"reference": f"urn:uuid:{cid}"}],
                         "valueQuantity": {"value": 38.0 + n / 10, "unit": "Cel",
                                           "system": "http://unitsofmeasure.org", "code": "Cel"}},
            "request": {"method": "PUT", "url": f"Observation/{oid}"},
        })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def write_bundles(directory: Path, count: int, observations: int = 1, prefix: str = "case") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"{prefix}-{i:03d}.json"
        p.write_text(json.dumps(case_bundle(f"{prefix}-{i}", observations)), encoding="utf-8")
        paths.append(p)
    return paths


def expected_counts(bundles: int, observations: int = 1) -> dict[str, int]:
    return {"Patient": bundles, "Condition": bundles, "Observation": bundles * observations}


# =========================================================================== fault proxy
@dataclass
class Fault:
    """One misbehaviour, applied to the next ``times`` matching requests (``times=0``: every one).

    kinds: ``status`` (answer ``status`` with ``headers``, do not forward), ``too_large`` (413
    when the body is over ``limit`` bytes, else forward), ``timeout_after_forward`` (forward,
    then hold the connection ``hold`` s and close it unanswered), ``reset`` (close with RST;
    ``after_forward`` decides whether the server got the request), ``delay`` (wait ``seconds``,
    then forward), ``throttle_entry`` (forward a batch without its last entry and answer 429
    for that entry in the batch-response), ``transform`` (forward, then pass the response body
    through ``transform``).
    """

    kind: str
    method: str = "POST"
    times: int = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    limit: int = 0
    hold: float = 2.0
    seconds: float = 0.0
    after_forward: bool = False
    transform: Callable[[bytes], bytes] | None = None
    skip: int = 0           # let this many matching requests pass first (to spread faults over a run)
    used: int = 0
    passed: int = 0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fault: str | None
    status: int | None = None


class FaultProxy:
    """A loopback HTTP proxy in front of the test server that injects faults.

    Bounded: it answers at most ``max_requests`` requests and shuts down by itself after
    ``lifetime`` seconds.
    """

    def __init__(self, upstream_port: int, *, max_requests: int = 2000, lifetime: float = 120.0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.max_requests = max_requests
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def add(self, kind: str, **kwargs: Any) -> Fault:
        fault = Fault(kind, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]

    def _pick(self, method: str, body: bytes) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.method not in (method, "*"):
                    continue
                if f.times and f.used >= f.times:
                    continue
                if f.kind == "too_large" and len(body) <= f.limit:
                    continue
                if f.passed < f.skip:
                    f.passed += 1
                    continue
                f.used += 1
                return f
        return None

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection",
                                                                                "content-length", "keep-alive")}
            headers["Content-Length"] = str(len(body))
            conn.request(h.command, h.path, body=body if body else None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            out = [(k, v) for k, v in r.getheaders() if k.lower() not in ("connection", "keep-alive",
                                                                          "transfer-encoding", "content-length")]
            return r.status, out, data
        finally:
            conn.close()

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    @staticmethod
    def _rst(h: BaseHTTPRequestHandler) -> None:
        sock = h.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        h.close_connection = True

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            over = len(self.seen) >= self.max_requests
        fault = None if over else self._pick(h.command, body)
        seen = Seen(h.command, h.path, dict(h.headers.items()), body, fault.kind if fault else None)
        with self.lock:
            self.seen.append(seen)
        if over or self.stopping.is_set():
            self._reply(h, 503, [("Content-Type", "text/plain")], b"fault proxy: request budget exhausted")
            return
        oo = json.dumps({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "transient", "diagnostics": "injected by the fault proxy"}]}).encode()
        if fault is None:
            pass
        elif fault.kind in ("status", "too_large"):
            status = 413 if fault.kind == "too_large" else fault.status
            seen.status = status
            self._reply(h, status, [("Content-Type", "application/fhir+json"), *fault.headers.items()], oo)
            return
        elif fault.kind == "reset" and not fault.after_forward:
            self._rst(h)
            return
        elif fault.kind == "delay":
            self.stopping.wait(fault.seconds)
        elif fault.kind == "throttle_entry":
            # hold back the last entry of a batch and answer 429 for it in the batch-response
            bundle = json.loads(body)
            bundle["entry"] = bundle["entry"][:-1]
            status, headers, data = self._forward(h, json.dumps(bundle).encode())
            answer = json.loads(data)
            answer["entry"].append({"response": {"status": "429 Too Many Requests"}})
            seen.status = status
            self._reply(h, status, headers, json.dumps(answer).encode())
            return
        status, headers, data = self._forward(h, body)
        seen.status = status
        if fault is not None and fault.kind == "timeout_after_forward":
            self.stopping.wait(fault.hold)
            self._rst(h)
            return
        if fault is not None and fault.kind == "reset" and fault.after_forward:
            self._rst(h)
            return
        if fault is not None and fault.kind == "transform" and fault.transform is not None:
            data = fault.transform(data)
        self._reply(h, status, headers, data)

    def stop(self) -> None:
        self.stopping.set()
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_proxy(fhir_server: FhirTestServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(fhir_server.port)
    yield proxy
    proxy.stop()


# =========================================================================== running the CLI
def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that imports fhirconv from this checkout."""
    import fhirconv.push

    src = str(Path(fhirconv.push.__file__).resolve().parents[2])
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120.0,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """``fhirconv push ARGS`` in a subprocess (run in a temporary directory, so a default journal lands there)."""
    return subprocess.run([sys.executable, "-m", "fhirconv.cli_push", *args], capture_output=True, text=True,
                          env=env or cli_env(), timeout=timeout, cwd=cwd or tempfile.gettempdir())


def new_token() -> str:
    return "tok-" + secrets.token_hex(16)
