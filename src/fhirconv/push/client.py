"""The FHIR push clients: :class:`FhirClient` (sync) and :class:`AsyncFhirClient` (asyncio).

All decisions live in generator "flows" that yield what they need done — an HTTP
exchange (:class:`_Http`) or a pause (:class:`_Sleep`) — and receive the result. The
two clients differ only in how they perform those steps and schedule chunks, so retries,
splitting, reporting and journaling behave the same in both.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from .auth import BasicAuth, PushAuth, redact
from .errors import AuthError, CapabilityError, JournalError, PushError, ServerError
from .journal import Journal
from .plan import (
    CONDITIONAL_MAX_ENTRIES,
    DEFAULT_MAX_ENTRIES,
    MODES,
    Chunk,
    Entry,
    LoadedFile,
    chunk_body,
    entries_of,
    expand_paths,
    expected_resource,
    load_file,
    loads,
    new_run_id,
    plan_chunks,
    split_chunk,
    split_to,
    static_resolution,
)
from .report import (
    DRY_RUN,
    FAILED,
    KIND_AUTH,
    KIND_REJECTED,
    KIND_SERVER,
    MISMATCH,
    NOT_SENT,
    REJECTED,
    SKIPPED,
    WRITTEN,
    ChunkResult,
    EntryResult,
    PushReport,
)
from .retry import RETRY_STATUSES, RetryPolicy

log = logging.getLogger("fhirconv.push")

FHIR_JSON = "application/fhir+json"
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_JOURNAL_DIR = ".fhirconv-journal"

# Known public test servers: whatever is pushed there can be read by anyone.
PUBLIC_SANDBOXES = frozenset({
    "hapi.fhir.org", "server.fire.ly", "r4.smarthealthit.org", "launch.smarthealthit.org",
    "r4.test.pyrohealth.net", "sqlonfhir-r4.azurewebsites.net", "fhir.simplifier.net",
    "spark.incendi.no", "vonk.fire.ly", "test.fhir.org", "tx.fhir.org",
})

T = TypeVar("T")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("fhirconv")
    except Exception:  # pragma: no cover - not installed
        return "0"


# --------------------------------------------------------------------------- flow steps
@dataclass
class _Http:
    method: str
    url: str
    body: bytes | None = None


@dataclass
class _Sleep:
    seconds: float


@dataclass
class _Response:
    status: int
    headers: dict[str, str]
    content: bytes

    def json(self) -> Any:
        try:
            return loads(self.content)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass
class _Failure:
    message: str
    refused: bool = False       # nothing listens there (connection refused): retrying rarely helps


@dataclass
class _Exchange:
    response: _Response | None
    failure: _Failure | None
    attempts: int


_Step = _Http | _Sleep
_Flow = Generator[_Step, Any, T]


@dataclass(frozen=True)
class Capabilities:
    """What ``GET [base]/metadata`` told us."""

    fhir_version: str
    transaction: bool
    batch: bool
    software: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def bundle_type(self) -> str:
        return "transaction" if self.transaction else "batch"


_SEVERITY = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


def outcome_messages(oo: Any, *, min_severity: str = "warning") -> list[str]:
    """Readable lines from an OperationOutcome (``severity code: text (at location)``)."""
    if not isinstance(oo, dict) or oo.get("resourceType") != "OperationOutcome":
        return []
    limit = _SEVERITY.get(min_severity, 2)
    out = []
    for issue in oo.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        sev = str(issue.get("severity", "error"))
        if _SEVERITY.get(sev, 1) > limit:
            continue
        details = issue.get("details") or {}
        text = details.get("text") if isinstance(details, dict) else None
        text = text or issue.get("diagnostics") or ""
        where = issue.get("expression") or issue.get("location") or []
        line = f"{sev} {issue.get('code', '')}: {text}".rstrip()
        if where:
            line += f" (at {', '.join(str(w) for w in where)})"
        out.append(line)
    return out


def _status_code(value: Any) -> int | None:
    text = value.strip() if isinstance(value, str) else str(value or "").strip()
    digits = text[:3]
    return int(digits) if digits.isdigit() else None


def _entry_index(issue: dict[str, Any]) -> int | None:
    for where in list(issue.get("expression") or []) + list(issue.get("location") or []):
        text = str(where)
        if text.startswith("Bundle.entry["):
            num = text[len("Bundle.entry["):].split("]", 1)[0]
            if num.isdigit():
                return int(num)
    return None


def _strip_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (parts.username or "", parts.password or "")


def default_journal_path(server: str, directory: str | os.PathLike[str] = DEFAULT_JOURNAL_DIR) -> Path:
    """``.fhirconv-journal/push-<hash of the server URL>.jsonl`` under the current directory."""
    digest = hashlib.sha256(server.rstrip("/").encode()).hexdigest()[:12]
    return Path(directory) / f"push-{digest}.jsonl"


# How servers say a whole transaction or batch was refused for its size or entry count (HTTP 400/422):
# Medplum ("Transaction contains more update operations than allowed", "... requires strict isolation
# but has too many entries"), Azure Health Data Services ("The number of entries in the bundle exceeded
# the configured limit of 500"), Firely and HAPI plug-ins ("exceeds the maximum number of entries"),
# AWS FHIR Works ("maximum number of entries"), Google ("too many entries"). A refusal in these words is
# answered by splitting the request, not by reporting the entries as bad data.
_LIMIT_WORDS = re.compile(
    r"more \w+(?: \w+)? (?:operations|entries|resources) than (?:allowed|permitted|supported)"
    r"|too many (?:entries|resources|operations|requests)|has too many entries"
    r"|(?:number|count) of (?:entries|resources)\b[^.]{0,60}\b(?:exceed|limit|maximum)"
    r"|exceed(?:s|ed)? (?:the )?(?:configured |allowed )?(?:maximum|max|limit)\b[^.]{0,40}\b(?:entries|resources|size)"
    r"|maximum (?:number of )?(?:entries|bundle size)|bundle (?:is )?too (?:large|big)",
    re.I)


# the number a limit message gives: "exceeded the configured limit of 500", "maximum number of entries (100)"
_LIMIT_NUMBER = re.compile(r"(?:limit|maximum|max)\b[^\d.]{0,30}?(\d{1,6})\b", re.I)


def _refused(exc: BaseException) -> bool:
    """Was the connection refused outright (no server on that port), as opposed to lost or timed out?"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return isinstance(exc, httpx.ConnectError)
        seen = seen.__cause__ or seen.__context__
    return False


class _State:
    """Shared bookkeeping of one push run."""

    def __init__(self, report: PushReport, results: dict[int, EntryResult], resolved: dict[str, str],
                 journal: Journal | None, bundle_type: str) -> None:
        self.report = report
        self.results = results
        self.resolved = resolved
        self.journal = journal
        self.bundle_type = bundle_type
        self.abort_kind: str | None = None
        self.abort_reason = ""
        self.lock = threading.Lock()
        self.written: list[Entry] = []
        self.resume = False
        self.skipped = 0
        # the most entries per request the server accepts, once it has refused more (None: not known)
        self.entry_limit: int | None = None
        # --isolate-failures: a transaction refused for its data is bisected to write its good entries
        self.isolate = False

    def result(self, entry: Entry) -> EntryResult:
        return self.results[id(entry)]

    def abort(self, kind: str, reason: str) -> None:
        with self.lock:
            if self.abort_kind is None:
                self.abort_kind = kind
                self.abort_reason = reason

    def resolved_copy(self) -> dict[str, str]:
        with self.lock:
            return dict(self.resolved)


class _Loader:
    """Reads and normalises the inputs in order, a batch at a time, as the push consumes them.

    (A loader thread running ahead was measured: it competes with the request loop for the
    GIL and made pushes slower, so inputs are read inline, between requests.)
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]] | None, bundles: list[tuple[str, Any]] | None, *,
                 mode: str, run_id: str | None) -> None:
        self.errors: list[str] = []
        self.notices: list[str] = []
        self.files: list[Path] = []
        if paths is not None:
            self.files = expand_paths(paths, self.notices)
            if not self.files and not bundles:
                self.errors.append("no input files found; give bundle files (.json, .ndjson) or directories")
        self.bundles = list(bundles or [])
        self.mode = mode
        self.run_id = run_id
        self.total = len(self.files) + len(self.bundles)

    batch = 256

    def __iter__(self) -> Iterator[LoadedFile]:
        # read in batches: one tight loop per batch runs faster than reading each file between
        # two requests (caches are cold after every wait on the server), memory stays bounded;
        # the helper thread reads one file at a time instead (see _Background)
        for start in range(0, len(self.files), self.batch):
            batch = [load_file(p, mode=self.mode, run_id=self.run_id)
                     for p in self.files[start:start + self.batch]]
            yield from batch
        for name, data in self.bundles:
            notices: list[str] = []
            entries, errors = entries_of(data, name, mode=self.mode, run_id=self.run_id, notices=notices)
            yield LoadedFile(name, entries, errors, notices)


class _Planner:
    """Admits loaded files into the run (report rows, resume, reference map) and plans their chunks."""

    def __init__(self, st: _State, loader: _Loader, *, max_entries: int, max_bytes: int) -> None:
        self.st = st
        self.loader = loader
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.planned = 0
        self._files = 0
        self._iter: Iterator[LoadedFile] | None = None

    def next_file(self) -> list[Chunk] | None:
        """The chunks of the next input file (possibly none); ``None`` when all are admitted."""
        if self._iter is None:
            self._iter = iter(self.loader)
        f = next(self._iter, None)
        if f is None:
            return None
        return self._admit(f)

    def __iter__(self) -> Iterator[list[Chunk]]:
        while (chunks := self.next_file()) is not None:
            yield chunks

    def drain(self) -> None:
        for _ in self:
            pass

    def close(self) -> None:
        """Nothing to release (inputs are read inline)."""

    def _admit(self, f: LoadedFile) -> list[Chunk]:
        st, report = self.st, self.st.report
        n = self._files
        self._files += 1
        report.notices.extend(f.notices)
        if f.errors:
            report.errors.extend(f.errors)
            report.fatal_kind = KIND_REJECTED
        jr = st.journal if st.resume else None
        todo: list[Entry] = []
        resolved = static_resolution(f.entries)
        for e in f.entries:
            res = EntryResult(e.file, e.index, e.resource_type, e.id, e.method, e.url)
            st.results[id(e)] = res
            report.entries.append(res)
            if e.problems:
                res.outcome = REJECTED
                res.error_kind = KIND_REJECTED
                res.messages.extend(e.problems)
                continue
            hit = jr.acked.get(e.key) if jr is not None else None
            if hit is not None:
                res.outcome, res.status, res.location = SKIPPED, hit[0], hit[1]
                res.messages.append("already written by the interrupted push (journal)")
                if e.full_url and hit[1]:
                    resolved[e.full_url] = hit[1]
                st.skipped += 1
                continue
            todo.append(e)
        with st.lock:
            st.resolved.update(resolved)
        limit = min(self.max_entries, st.entry_limit or self.max_entries)
        chunks = plan_chunks(todo, max_entries=limit, max_bytes=self.max_bytes, prefix=f"{n}:")
        self.planned += len(chunks)
        return chunks


class _Task:
    """A piece of bookkeeping the request loop hands to the helper thread."""

    __slots__ = ("fn", "done")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.done = threading.Event()


class _Background:
    """Does the push's own bookkeeping while a request is at the server.

    With one request in flight the client is idle while the server works, and reading,
    checking and planning the next file, then recording the previous answer (per-entry
    results, journal) cost about as much CPU as the request itself. Such work is queued
    with :meth:`later` and handed to a helper thread when the next request has been sent
    (httpcore's trace event ``receive_response_headers.started``), so it never competes
    with sending for the GIL (a free-running loader thread was measured slower for exactly
    that reason). Tasks run in order; :meth:`wait` and :meth:`barrier` make the request
    loop wait for them (or run them inline when no request came to hand them off).
    """

    def __init__(self) -> None:
        self._pending: list[_Task] = []          # request loop only
        self._queue: deque[_Task] = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="fhirconv-bookkeeping", daemon=True)
        self._thread.start()

    def later(self, fn: Callable[[], None]) -> _Task:
        task = _Task(fn)
        self._pending.append(task)
        return task

    def trigger(self) -> None:
        """A request is at the server: start on what is pending."""
        if self._pending:
            with self._cv:
                self._queue.extend(self._pending)
                self._cv.notify()
            self._pending = []

    def wait(self, task: _Task) -> None:
        """Make sure ``task`` (and everything queued before it) has run."""
        if task in self._pending:
            i = self._pending.index(task)
            self.barrier_upto(i + 1)
        else:
            task.done.wait()
        self._raise()

    def barrier_upto(self, n: int) -> None:
        head, self._pending = self._pending[:n], self._pending[n:]
        self._drain()
        for task in head:
            self._run(task)

    def barrier(self) -> None:
        """Everything queued has run."""
        self.barrier_upto(len(self._pending))
        self._raise()

    def close(self, *, raise_error: bool = True) -> None:
        """Run what is left and stop the helper; ``raise_error=False`` while another error unwinds."""
        try:
            if raise_error:
                self.barrier()
            else:
                self.barrier_upto(len(self._pending))
        finally:
            with self._cv:
                self._stop = True
                self._cv.notify()
            self._thread.join()

    def _drain(self) -> None:
        with self._cv:
            while self._queue:
                self._cv.wait()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self, task: _Task) -> None:
        try:
            task.fn()
        except BaseException as exc:     # handed to the request loop by _raise
            if self._error is None:
                self._error = exc
        finally:
            task.done.set()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait()
                if not self._queue:
                    return
                task = self._queue[0]       # left in the queue until done: _drain waits for it
            self._run(task)
            with self._cv:
                self._queue.popleft()
                self._cv.notify_all()


class _Base:
    """Configuration and the flows shared by both clients."""

    _bg: _Background | None = None                 # set while pushing one request at a time
    _on_sent: Callable[[], None] | None = None     # called once a request is at the server

    def __init__(
        self,
        base_url: str,
        *,
        auth: PushAuth | httpx.Auth | None = None,
        timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        verify: bool = True,
        ca_bundle: str | os.PathLike[str] | None = None,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_wait: float = 120.0,
        mode: str = "put",
        bundle_type: str = "auto",
        tag: bool = True,
        check_capabilities: bool = True,
        progress: Callable[[str], None] | None = None,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if bundle_type not in ("auto", "transaction", "batch"):
            raise ValueError("bundle_type must be 'auto', 'transaction' or 'batch'")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        clean, userinfo = _strip_userinfo(base_url.strip())
        parts = urlsplit(clean)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PushError(f"server URL {clean!r} is not an http(s) URL; give the FHIR base, "
                            "e.g. https://example.org/fhir")
        self.base_url = clean.rstrip("/")
        if userinfo and auth is None:
            auth = BasicAuth(*userinfo)
        self.auth = auth
        set_base = getattr(auth, "set_base", None)
        if callable(set_base):
            set_base(self.base_url)          # SMART: discover the token endpoint from the base
        self.mode = mode
        self.bundle_type = bundle_type
        self.tag = tag
        self.check_capabilities = check_capabilities
        self.policy = RetryPolicy(max_attempts=max_attempts, backoff_base=backoff_base,
                                  backoff_cap=backoff_cap, max_wait=max_wait)
        if isinstance(timeout, tuple):
            connect, read = timeout
        else:
            read = timeout if timeout is not None else DEFAULT_TIMEOUT
            connect = connect_timeout if connect_timeout is not None else min(DEFAULT_CONNECT_TIMEOUT, read)
        self.timeout = httpx.Timeout(read, connect=connect)
        self.verify: bool | ssl.SSLContext = verify
        if ca_bundle is not None:
            try:
                self.verify = ssl.create_default_context(cafile=os.fspath(ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                raise PushError(f"cannot load the CA bundle {ca_bundle}: {exc}; give a PEM file") from exc
        self.progress = progress
        self.transport = transport
        self.headers = {"Accept": FHIR_JSON, "User-Agent": f"fhirconv-push/{_version()}"}
        self.post_headers = {**self.headers, "Content-Type": f"{FHIR_JSON}; charset=utf-8",
                             "Prefer": "return=minimal"}
        self._capabilities: Capabilities | None = None
        self._sandbox_noted = False
        self.notices: list[str] = []
        self._sleep = sleep
        self._requests = 0
        self._count_lock = threading.Lock()
        if not verify and ca_bundle is None:
            self._notice("TLS certificate verification is disabled (--insecure): "
                         "anyone on the network path could read or alter what is pushed")
        self._open()

    def _open(self) -> None:
        """Create the HTTP client (in the subclasses)."""

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=32, max_keepalive_connections=32)

    # ------------------------------------------------------------------ helpers
    def _secrets(self) -> list[str]:
        return self.auth.secrets() if isinstance(self.auth, PushAuth) else []

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets())

    def _notice(self, text: str) -> None:
        text = self._redact(text)
        self.notices.append(text)
        log.warning(text)
        if self.progress:
            self.progress(f"note: {text}")

    def _say(self, text: str) -> None:
        text = self._redact(text)
        log.info(text)
        if self.progress:
            self.progress(text)

    _last_tick = 0.0

    def _tick(self, done: int, planner: _Planner, st: _State) -> None:
        """Progress, at most twice a second."""
        now = time.monotonic()
        if now - self._last_tick >= 0.5:
            self._last_tick = now
            self._say(f"{done} of {planner.planned} planned {st.bundle_type}(s) done, "
                      f"{len(st.written)} resource(s) written so far")

    def _refused(self, st: _State, planner: _Planner, exc: PushError, dry_run: bool,
                 validator: Callable[[dict[str, Any]], list[str]] | None) -> None:
        """The capability check failed: nothing is written (a dry run still validates)."""
        report = st.report
        report.fatal = exc
        report.fatal_kind = KIND_AUTH if isinstance(exc, AuthError) else KIND_SERVER
        report.errors.append(self._redact(str(exc)))
        if dry_run:
            self._validate_dry(st, planner, validator,
                               "transaction" if self.bundle_type == "auto" else self.bundle_type)
            return
        st.abort(report.fatal_kind, str(exc))
        planner.drain()
        self._finish_not_sent(st)

    def _start_writing(self, st: _State, resume: bool) -> None:
        # the first progress line comes after half a second of writing, not after the first answer: a
        # short push prints only its summary, never a line that the summary then contradicts
        self._last_tick = time.monotonic()
        self._sandbox_notice()
        st.report.notices.extend(n for n in self.notices if n not in st.report.notices)
        if st.journal is not None:
            st.journal.open(append=resume)
            st.journal.start(st.report.run_id, self.base_url, resumed=resume)

    def _stopped(self, st: _State, exc: PushError) -> None:
        kind = KIND_AUTH if isinstance(exc, AuthError) else KIND_SERVER
        st.abort(kind, self._redact(str(exc)))
        st.report.fatal, st.report.fatal_kind = exc, kind
        st.report.errors.append(self._redact(str(exc)))

    def _close_run(self, st: _State, started: float, requests: int) -> None:
        if st.journal is not None:
            st.journal.close()
        if st.skipped:
            st.report.notices.append(f"resumed run {st.report.run_id}: {st.skipped} entries already "
                                     "written were skipped")
        st.report.duration_s = time.perf_counter() - started
        st.report.requests = requests

    def public_sandbox(self) -> bool:
        host = (urlsplit(self.base_url).hostname or "").lower()
        return host in PUBLIC_SANDBOXES

    def _sandbox_notice(self) -> None:
        if self.public_sandbox() and not self._sandbox_noted:
            self._sandbox_noted = True
            self._notice(f"{urlsplit(self.base_url).hostname} is a public test server: "
                         "everything pushed there can be read by anyone")

    def _literal(self, location: str | None, expected: str | None = None) -> str | None:
        """``Type/id`` of a response location (absolute or relative, with or without history)."""
        if not location:
            return None
        loc = location
        if loc.startswith(self.base_url):
            loc = loc[len(self.base_url):].lstrip("/")
        if expected and (loc == expected or loc.startswith(expected + "/_history/")):
            return expected       # the usual answer to a PUT, without splitting it apart
        loc = loc.split("/_history/")[0].split("?")[0].strip("/")
        parts = loc.split("/")
        return "/".join(parts[-2:]) if len(parts) >= 2 else None

    # ------------------------------------------------------------------ flows
    def _exchange_flow(self, method: str, url: str, body: bytes | None, label: str) -> _Flow[_Exchange]:
        attempt = 0
        while True:
            attempt += 1
            res = yield _Http(method, url, body)
            if isinstance(res, _Failure):
                # a refused connection is retried once (a server restarting), not with the full backoff
                if attempt < (min(2, self.policy.max_attempts) if res.refused else self.policy.max_attempts):
                    delay = self.policy.backoff(attempt)
                    self._say(f"{label}: {res.message}; retry {attempt}/{self.policy.max_attempts - 1} "
                              f"in {delay:.2f} s")
                    yield _Sleep(delay)
                    continue
                return _Exchange(None, res, attempt)
            if res.status in RETRY_STATUSES and attempt < self.policy.max_attempts:
                delay = self.policy.delay(attempt, res.headers)
                self._say(f"{label}: HTTP {res.status}; retry {attempt}/{self.policy.max_attempts - 1} "
                          f"in {delay:.2f} s")
                yield _Sleep(delay)
                continue
            return _Exchange(res, None, attempt)

    def _capabilities_flow(self) -> _Flow[Capabilities]:
        url = f"{self.base_url}/metadata"
        ex = yield from self._exchange_flow("GET", url, None, "GET metadata")
        if ex.failure is not None:
            raise ServerError(self._redact(f"cannot reach {self.base_url}: {ex.failure.message}; "
                                           "check the URL, the network and --timeout"))
        res = ex.response
        assert res is not None
        if res.status in (401, 403):
            raise AuthError(f"{self.base_url} refused GET metadata with HTTP {res.status}; "
                            "check the credentials (--token-env, --token-file, --basic-user)")
        if res.status != 200:
            detail = "; ".join(outcome_messages(res.json()))
            if 300 <= res.status < 400:
                detail = f"a redirect to {res.headers.get('location', '?')}; give the FHIR base it points to"

            raise CapabilityError(self._redact(
                f"GET {url} answered HTTP {res.status}{': ' + detail if detail else ''}; "
                "is this the FHIR base URL of the server?"))
        cs = res.json()
        if not isinstance(cs, dict) or cs.get("resourceType") != "CapabilityStatement":
            raise CapabilityError(f"GET {url} did not return a CapabilityStatement; "
                                  "is this the FHIR base URL of the server?")
        version = str(cs.get("fhirVersion") or "")
        if not version.startswith("4.0."):
            raise CapabilityError(
                f"{self.base_url} is a FHIR {version or '(unknown version)'} server; fhirconv pushes "
                "FHIR R4 (4.0.x) bundles. Use the server's R4 endpoint.")
        codes: set[str] = set()
        for rest in cs.get("rest") or []:
            if isinstance(rest, dict) and rest.get("mode", "server") == "server":
                codes.update(str(i.get("code")) for i in rest.get("interaction") or [] if isinstance(i, dict))
        caps = Capabilities(version, "transaction" in codes, "batch" in codes,
                            str((cs.get("software") or {}).get("name", "")), cs)
        if not caps.transaction and not caps.batch:
            raise CapabilityError(f"{self.base_url} announces neither transaction nor batch in its "
                                  "CapabilityStatement; fhirconv writes bundles with them only")
        return caps

    def _mark(self, st: _State, entries: Iterable[Entry], outcome: str, *, kind: str | None = None,
              status: int | None = None, messages: list[str] | None = None) -> None:
        for e in entries:
            r = st.result(e)
            r.outcome = outcome
            r.error_kind = kind
            if status is not None:
                r.status = status
            if messages:
                r.messages.extend(self._redact(m) for m in messages)

    def _chunk_flow(self, chunk: Chunk, st: _State) -> _Flow[bool]:
        queue = [chunk]
        ok_all = True
        requeues = 0
        while queue:
            ch = queue.pop(0)
            if st.entry_limit and len(ch.entries) > st.entry_limit:
                # planned before the server said its limit: cut it first
                pieces = split_to(ch, st.entry_limit)
                if len(pieces) > 1:
                    queue[0:0] = pieces
                    continue
            if st.abort_kind is not None:
                self._mark(st, ch.entries, NOT_SENT, kind=st.abort_kind,
                           messages=[f"not sent: the push stopped ({st.abort_reason})"])
                ok_all = False
                continue
            with st.lock:
                body = chunk_body(ch, st.bundle_type, st.resolved)
            cres = ChunkResult(ch.id, ch.file, len(ch.entries), len(body))
            with st.lock:
                st.report.chunks.append(cres)
            for e in ch.entries:
                st.result(e).chunk = ch.id
            risky = any(e.method == "POST" and not e.if_none_exist for e in ch.entries)
            if st.journal is not None:
                st.journal.sent(ch.id, [e.key for e in ch.entries], sync=risky)
            label = f"{st.bundle_type} {ch.id} ({len(ch.entries)} entries)"
            ex = yield from self._exchange_flow("POST", self.base_url, body, label)
            cres.attempts = ex.attempts
            for e in ch.entries:
                st.result(e).attempts += ex.attempts
            if ex.failure is not None or ex.response is None:
                msg = f"{ex.failure.message if ex.failure else 'no response'} after {ex.attempts} attempt(s)"
                cres.messages.append(msg)
                self._mark(st, ch.entries, FAILED, kind=KIND_SERVER, messages=[msg])
                st.abort(KIND_SERVER, f"{label} failed: {msg}")
                ok_all = False
                continue
            res = ex.response
            cres.status = res.status
            if self._bg is not None and 200 <= res.status < 300 and st.bundle_type == "transaction" and \
                    all(e.literal for e in ch.entries):
                # all-or-nothing and every id known: the transaction is written; its answer is
                # recorded while the next request is at the server
                self._bg.later(functools.partial(self._settle, ch, res, cres, st))
                continue
            payload = res.json()
            oo_lines = outcome_messages(payload)
            cres.messages.extend(self._redact(m) for m in oo_lines)
            if res.status in (400, 422) and len(ch.entries) > 1 and any(_LIMIT_WORDS.search(m) for m in oo_lines):
                # refused whole for its size: split (to the number the server gives, else in halves) and
                # plan the rest of the run, and a --resume, that small
                said = next((int(m.group(1)) for m in map(_LIMIT_NUMBER.search, oo_lines) if m), 0)
                pieces = split_to(ch, said) if 0 < said < len(ch.entries) else list(split_chunk(ch) or ())
                if len(pieces) > 1:
                    limit = max(len(p.entries) for p in pieces)
                    with st.lock:
                        st.entry_limit = min(st.entry_limit or limit, limit)
                    if st.journal is not None:
                        st.journal.limit(st.entry_limit)
                    self._say(f"{label}: HTTP {res.status}, over the server's limit "
                              f"({self._redact(oo_lines[0])}); sent in {len(pieces)} parts, "
                              f"at most {st.entry_limit} entries per {st.bundle_type} from now on")
                    queue[0:0] = pieces
                    continue
            if res.status == 413:
                halves = split_chunk(ch)
                if halves is not None:
                    self._say(f"{label}: HTTP 413 (too large); sending it in two halves")
                    queue[0:0] = list(halves)
                    continue
                msg = "HTTP 413: the server accepts no request this large, even for this single entry"
                self._mark(st, ch.entries, REJECTED, kind=KIND_REJECTED, status=413, messages=[msg, *oo_lines])
                ok_all = False
                self._ack(st, ch, [(e.key, 413, None) for e in ch.entries])
                continue
            if res.status in (401, 403):
                msg = (f"HTTP {res.status}: the server refused the credentials"
                       f"{' (' + self.auth.describe() + ')' if isinstance(self.auth, PushAuth) else ''}; "
                       "check the token or password and its scopes")
                self._mark(st, ch.entries, REJECTED, kind=KIND_AUTH, status=res.status, messages=[msg, *oo_lines])
                st.abort(KIND_AUTH, msg)
                ok_all = False
                continue
            if 200 <= res.status < 300:
                retry_entries = self._apply_response(ch, res, payload, st)
                if retry_entries:
                    if requeues + 1 < self.policy.max_attempts:
                        requeues += 1
                        delay = self.policy.delay(requeues, res.headers)
                        self._say(f"{label}: {len(retry_entries)} throttled entries; resending them "
                                  f"in {delay:.2f} s")
                        yield _Sleep(delay)
                        queue.insert(0, Chunk(f"{ch.id}r{requeues}", ch.file, retry_entries, set(ch.deps)))
                    else:
                        self._mark(st, retry_entries, FAILED, kind=KIND_SERVER,
                                   messages=["still throttled after every allowed retry"])
                        ok_all = False
                if any(not st.result(e).ok for e in ch.entries):
                    ok_all = False
                continue
            # a failed transaction: nothing of it was written
            transient = res.status >= 500 or res.status in RETRY_STATUSES
            if st.isolate and not transient and 400 <= res.status < 500 and len(ch.entries) > 1 \
                    and st.bundle_type == "transaction":
                # --isolate-failures: bisect until every good entry is written and each bad one is alone
                halves = split_chunk(ch)
                if halves is not None:
                    self._say(f"{label}: HTTP {res.status}; isolating the failing entries (halves of "
                              f"{len(halves[0].entries)} and {len(halves[1].entries)})")
                    queue[0:0] = list(halves)
                    continue
            kind = KIND_SERVER if transient else KIND_REJECTED
            outcome = FAILED if transient else REJECTED
            self._apply_failure(ch, res.status, payload, st, outcome, kind, ex.attempts,
                                {k.lower(): v for k, v in res.headers.items()}.get("location"))
            self._ack(st, ch, [(e.key, res.status, None) for e in ch.entries])
            ok_all = False
            if transient:
                st.abort(KIND_SERVER, f"{label} failed with HTTP {res.status} after {ex.attempts} attempt(s)")
        return ok_all

    def _settle(self, ch: Chunk, res: _Response, cres: ChunkResult, st: _State) -> None:
        """Record a successful transaction's answer (see ``_Background``)."""
        payload = res.json()
        cres.messages.extend(self._redact(m) for m in outcome_messages(payload))
        throttled = self._apply_response(ch, res, payload, st)
        if throttled:    # a per-entry 429 inside a successful transaction: not written
            self._mark(st, throttled, FAILED, kind=KIND_SERVER,
                       messages=["the server answered 429 for this entry inside a successful transaction; "
                                 "push again to write it"])

    def _ack(self, st: _State, ch: Chunk, results: list[tuple[str, int | None, str | None]]) -> None:
        if st.journal is not None:
            risky = any(e.method == "POST" and not e.if_none_exist for e in ch.entries)
            st.journal.ack(ch.id, results, sync=risky)

    def _apply_failure(self, ch: Chunk, status: int, payload: Any, st: _State, outcome: str, kind: str,
                       attempts: int, location: str | None = None) -> None:
        pinned: dict[int, list[str]] = {}
        general: list[str] = []
        if isinstance(payload, dict) and payload.get("resourceType") == "OperationOutcome":
            for issue in payload.get("issue") or []:
                if not isinstance(issue, dict):
                    continue
                lines = outcome_messages({"resourceType": "OperationOutcome", "issue": [issue]})
                idx = _entry_index(issue)
                if idx is not None and 0 <= idx < len(ch.entries):
                    pinned.setdefault(idx, []).extend(lines)
                else:
                    general.extend(lines)
        head = f"{st.bundle_type} rejected with HTTP {status}" if outcome == REJECTED else \
            f"{st.bundle_type} failed with HTTP {status} after {attempts} attempt(s)"
        if 300 <= status < 400:
            head += f" (a redirect to {location or '?'}: give that URL as the server)"
        for i, e in enumerate(ch.entries):
            msgs = [head] + pinned.get(i, []) + general
            if pinned and i not in pinned:
                msgs.append("this entry is fine; it was not written because the transaction is all-or-nothing")
            self._mark(st, [e], outcome, kind=kind, status=status, messages=msgs)

    def _apply_response(self, ch: Chunk, res: _Response, payload: Any, st: _State) -> list[Entry]:
        """Record a 2xx transaction/batch response; return the entries to requeue (throttled in a batch)."""
        answers = payload.get("entry") if isinstance(payload, dict) and payload.get("resourceType") == "Bundle" \
            else None
        acks: list[tuple[str, int | None, str | None]] = []
        requeue: list[Entry] = []
        written: list[Entry] = []
        learned: dict[str, str] = {}
        results = st.results
        if not isinstance(answers, list):
            answers = []
        n_answers = len(answers)
        for i, e in enumerate(ch.entries):
            r = results[id(e)]
            ans = answers[i] if i < n_answers and isinstance(answers[i], dict) else None
            if ans is None:
                # no per-entry answer (e.g. a 200 with an empty body): the transaction as a whole succeeded
                status = res.status if st.bundle_type == "transaction" else None
                if status is None:
                    self._mark(st, [e], FAILED, kind=KIND_SERVER,
                               messages=["the batch-response has no answer for this entry"])
                    continue
                location = e.literal
                r.messages.append("the server sent no per-entry response; the transaction succeeded as a whole")
            else:
                resp = ans.get("response") or {}
                status = _status_code(resp.get("status"))
                location = resp.get("location") or None
                msgs = outcome_messages(resp["outcome"]) if "outcome" in resp else []
                if status is None:
                    status = res.status
                if 200 <= status < 300:
                    r.messages.extend(self._redact(m) for m in msgs)
                elif status in RETRY_STATUSES:
                    requeue.append(e)
                    r.status = status
                    r.messages.extend(self._redact(m) for m in msgs)
                    continue
                else:
                    kind = KIND_AUTH if status in (401, 403) else KIND_SERVER if status >= 500 else KIND_REJECTED
                    self._mark(st, [e], FAILED if status >= 500 else REJECTED, kind=kind, status=status,
                               messages=msgs or [f"the server answered {resp.get('status')}"])
                    acks.append((e.key, status, None))
                    continue
            literal = self._literal(location, e.literal) or e.literal
            r.outcome = WRITTEN
            r.error_kind = None
            r.status = status
            r.location = location or literal
            acks.append((e.key, status, literal))
            written.append(e)
            if e.full_url and literal and literal != e.literal:
                learned[e.full_url] = literal
        with st.lock:
            st.written.extend(written)
            st.resolved.update(learned)
        self._ack(st, ch, acks)
        return requeue

    def _verify_flow(self, st: _State) -> _Flow[None]:
        resolved = st.resolved_copy()
        for e in list(st.written):
            r = st.result(e)
            literal = self._literal(r.location) or e.literal
            if not literal:
                continue
            ex = yield from self._exchange_flow("GET", f"{self.base_url}/{literal}", None, f"verify {literal}")
            res = ex.response
            if res is None or res.status != 200:
                status = res.status if res else None
                r.outcome = MISMATCH
                r.error_kind = KIND_SERVER
                r.messages.append(f"verify: GET {literal} answered "
                                  f"{'HTTP ' + str(status) if status else ex.failure.message if ex.failure else '?'}")
                continue
            diffs = _differences(expected_resource(e, resolved), res.json())
            if diffs:
                r.outcome = MISMATCH
                r.error_kind = KIND_SERVER
                r.messages.extend(f"verify: {d}" for d in diffs[:5])

    # ------------------------------------------------------------------ planning
    def _prepare(self, paths: Iterable[str | os.PathLike[str]] | None, bundles: list[tuple[str, Any]] | None, *,
                 journal: str | os.PathLike[str] | None, resume: bool, dry_run: bool, max_entries: int | None,
                 max_bytes: int, run_id: str | None) -> tuple[_State, _Planner]:
        jr: Journal | None = None
        if journal is not None and not dry_run:
            jr = Journal(journal)
            if resume:
                if not jr.path.exists():
                    self.notices.append(f"no journal at {journal}: nothing to resume, pushing everything")
                elif jr.load():
                    if jr.server and jr.server.rstrip("/") != self.base_url:
                        raise JournalError(f"journal {journal} belongs to a push to {jr.server}, not "
                                           f"{self.base_url}; pass the matching --journal or drop --resume")
                    run_id = jr.run_id or run_id
        elif resume and journal is None:
            raise JournalError("--resume needs a journal; pass the --journal of the interrupted push")
        run = run_id or new_run_id()
        report = PushReport(server=self.base_url, run_id=run, dry_run=dry_run)
        report.notices.extend(self.notices)
        st = _State(report, {}, {}, jr, "transaction")
        st.resume = resume
        if resume and jr is not None and jr.entry_limit:
            st.entry_limit = jr.entry_limit      # learnt by the interrupted run
        loader = _Loader(paths, bundles, mode=self.mode, run_id=run if self.tag else None)
        report.notices.extend(n for n in loader.notices if n not in report.notices)
        if loader.errors:
            report.errors.extend(loader.errors)
            report.fatal_kind = KIND_REJECTED
        if max_entries is None:
            max_entries = CONDITIONAL_MAX_ENTRIES if self.mode == "conditional" else DEFAULT_MAX_ENTRIES
        return st, _Planner(st, loader, max_entries=max_entries, max_bytes=max_bytes)

    def _validate_dry(self, st: _State, planner: _Planner,
                      validator: Callable[[dict[str, Any]], list[str]] | None, bundle_type: str) -> None:
        check = validator or _default_validator()
        for chunks in planner:
            for ch in chunks:
                body = chunk_body(ch, bundle_type, st.resolved)
                st.report.chunks.append(ChunkResult(ch.id, ch.file, len(ch.entries), len(body)))
                for e in ch.entries:
                    r = st.result(e)
                    r.chunk = ch.id
                    problems = check(e.resource) if check else []
                    if problems:
                        self._mark(st, [e], REJECTED, kind=KIND_REJECTED, messages=problems)
                    else:
                        r.outcome = DRY_RUN

    def _finish_not_sent(self, st: _State) -> None:
        for r in st.report.entries:
            if r.outcome == NOT_SENT and r.error_kind is None:
                r.error_kind = st.abort_kind or KIND_SERVER
                if not r.messages:
                    r.messages.append(f"not sent: {st.abort_reason or 'the push stopped'}")


def _named(bundles: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for n, b in enumerate(bundles):
        out.append(b if isinstance(b, tuple) else (f"<bundle {n}>", b))
    return out


def _default_validator() -> Callable[[dict[str, Any]], list[str]] | None:
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except Exception:  # pragma: no cover - dependency missing
        return None

    def check(resource: dict[str, Any]) -> list[str]:
        try:
            cls = get_fhir_model_class(str(resource.get("resourceType")))
        except Exception:
            return [f"unknown resourceType {resource.get('resourceType')!r}"]
        try:
            cls.model_validate(resource)
        except Exception as exc:
            errors = getattr(exc, "errors", None)
            if callable(errors):
                return [f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in errors()][:10]
            return [str(exc)]
        return []

    return check


def _differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` (read back) differs from what was sent; ``meta`` is ignored."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or 'resource'}: expected an object"]
        out: list[str] = []
        for k, v in expected.items():
            if k == "meta" and not path:
                continue
            sub = f"{path}.{k}" if path else k
            if k not in actual:
                out.append(f"{sub} is missing on the server")
            else:
                out.extend(_differences(v, actual[k], sub))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} item(s)"]
        out = []
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            out.extend(_differences(a, b, f"{path}[{i}]"))
        return out
    if expected != actual:
        if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and float(expected) == float(actual):
            return []
        return [f"{path}: sent {json.dumps(expected)[:60]}, server has {json.dumps(actual)[:60]}"]
    return []


# =========================================================================== sync
class FhirClient(_Base):
    """Push FHIR R4 bundles to a server; see :mod:`fhirconv.push` for the behaviour.

    Use as a context manager (or call :meth:`close`). Options (all keyword-only):
    ``auth`` (:class:`BearerAuth`, :class:`BasicAuth`, :class:`SmartBackendAuth` or any
    ``httpx.Auth``), ``timeout`` (read, 60 s; or a ``(connect, read)`` pair),
    ``connect_timeout`` (10 s), ``verify`` (TLS, on), ``ca_bundle``, ``max_attempts`` (6),
    ``backoff_base`` / ``backoff_cap`` / ``max_wait`` (seconds), ``mode`` (``"put"`` or
    ``"conditional"``), ``bundle_type`` (``"auto"``, ``"transaction"``, ``"batch"``), ``tag``
    (run tag, on), ``check_capabilities`` (on), ``progress`` (a callable taking a line),
    ``transport`` (an httpx transport, for tests), ``sleep`` (for tests).
    """

    def _open(self) -> None:
        self._http = httpx.Client(auth=self.auth, timeout=self.timeout, verify=self.verify,
                                  headers=self.headers, transport=self.transport, follow_redirects=False,
                                  limits=self._limits())
        self._trace_ext = {"trace": self._trace}

    def _trace(self, event: str, info: Any) -> None:
        if event.endswith("receive_response_headers.started") and self._on_sent is not None:
            self._on_sent()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ driving flows
    def _perform(self, step: _Http) -> _Response | _Failure:
        with self._count_lock:
            self._requests += 1
        headers = self.post_headers if step.body is not None else None
        try:
            r = self._http.request(step.method, step.url, content=step.body, headers=headers,
                                   extensions=self._trace_ext if self._on_sent is not None else None)
        except httpx.TimeoutException as exc:
            return _Failure(self._redact(f"timed out ({exc.__class__.__name__})"))
        except httpx.TransportError as exc:
            return _Failure(self._redact(f"transport error ({exc.__class__.__name__}: {exc})"), _refused(exc))
        return _Response(r.status_code, dict(r.headers.items()), r.content)

    def _run(self, flow: _Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Sleep):
                    self._sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._perform(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ public API
    def capabilities(self, *, refresh: bool = False) -> Capabilities:
        """``GET [base]/metadata``; raise :class:`CapabilityError` unless FHIR 4.0.x with transaction or batch."""
        if self._capabilities is None or refresh:
            self._capabilities = self._run(self._capabilities_flow())
        return self._capabilities

    def push_bundle(self, bundle: dict[str, Any], *, name: str = "<bundle>", **kwargs: Any) -> PushReport:
        """Push one Bundle (or resource) held in memory; same options as :meth:`push_files`."""
        return self._push(None, [(name, bundle)], **kwargs)

    def push_bundles(self, bundles: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]], **kwargs: Any
                     ) -> PushReport:
        """Push several in-memory Bundles (optionally as ``(name, bundle)`` pairs) in one run."""
        return self._push(None, _named(bundles), **kwargs)

    def push_files(self, paths: Iterable[str | os.PathLike[str]], **kwargs: Any) -> PushReport:
        """Push the bundles in ``paths`` (files, or directories of ``*.json`` / ``*.ndjson``).

        Keyword options: ``journal`` (path of the write-ahead journal, ``None`` for none),
        ``resume``, ``dry_run``, ``verify``, ``max_entries`` (50, or 8 with ``mode="conditional"``: see
        ``plan.DEFAULT_MAX_ENTRIES``), ``isolate_failures`` (bisect a transaction refused for its data, to
        write every good entry and report each bad one), ``max_bytes`` (1 MiB),
        ``concurrency`` (1), ``run_id``, ``validator`` (for dry runs).
        """
        return self._push(paths, None, **kwargs)

    def _push(self, paths: Iterable[str | os.PathLike[str]] | None, bundles: list[tuple[str, Any]] | None, *,
              journal: str | os.PathLike[str] | None = None, resume: bool = False, dry_run: bool = False,
              verify: bool = False, max_entries: int | None = None, max_bytes: int = 1 << 20, concurrency: int = 1,
              run_id: str | None = None, validator: Callable[[dict[str, Any]], list[str]] | None = None,
              isolate_failures: bool = False) -> PushReport:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        started = time.perf_counter()
        first_request = self._requests
        st, planner = self._prepare(paths, bundles, journal=journal, resume=resume, dry_run=dry_run,
                                    max_entries=max_entries, max_bytes=max_bytes, run_id=run_id)
        st.isolate = isolate_failures
        report = st.report
        try:
            try:
                # a dry run never contacts the server: it plans and validates what would be sent
                caps = self.capabilities() if self.check_capabilities and not dry_run else None
            except PushError as exc:
                self._refused(st, planner, exc, dry_run, validator)
                return report
            st.bundle_type = self.bundle_type if self.bundle_type != "auto" else (
                caps.bundle_type if caps else "transaction")
            if dry_run:
                self._validate_dry(st, planner, validator, st.bundle_type)
                return report
            self._start_writing(st, resume)
            try:
                self._schedule(planner, st, concurrency)
            except PushError as exc:           # e.g. a token that cannot be obtained
                self._stopped(st, exc)
                planner.drain()
            self._finish_not_sent(st)
            if verify and st.written:
                self._run(self._verify_flow(st))
                report.verified = True
            if st.journal is not None:
                st.journal.end(report.exit_code)
            return report
        finally:
            planner.close()
            self._close_run(st, started, self._requests - first_request)

    def _schedule(self, planner: _Planner, st: _State, concurrency: int) -> None:
        done: dict[str, bool] = {}
        finished = 0
        if concurrency == 1:
            self._one_at_a_time(planner, st, done)
            return
        pending: list[Chunk] = []
        running: dict[Future[bool], Chunk] = {}
        more = True
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fhirconv-push") as pool:
            while more or pending or running:
                while more and len(pending) < 2 * concurrency:
                    nxt = planner.next_file()
                    if nxt is None:
                        more = False
                    else:
                        pending.extend(nxt)
                for ch in list(pending):
                    if len(running) >= concurrency:
                        break
                    if any(d not in done for d in ch.deps):
                        continue
                    pending.remove(ch)
                    if not self._deps_ok(ch, done, st):
                        done[ch.id] = False
                        finished += 1
                        continue
                    running[pool.submit(self._run, self._chunk_flow(ch, st))] = ch
                if not running:
                    if pending and all(any(d not in done for d in ch.deps) for ch in pending):
                        for ch in pending:   # cannot happen with plan_chunks' ordering; never spin
                            self._deps_ok(ch, done, st)
                            done[ch.id] = False
                        pending.clear()
                    continue
                complete, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in complete:
                    ch = running.pop(fut)
                    done[ch.id] = fut.result()
                    finished += 1
                    self._tick(finished, planner, st)

    def _one_at_a_time(self, planner: _Planner, st: _State, done: dict[str, bool]) -> None:
        """One request in flight; the bookkeeping around it done while the server works."""
        bg = _Background()
        planner.loader.batch = 1         # one file per request, read by the helper
        self._bg, self._on_sent = bg, bg.trigger
        slot: list[list[Chunk] | None] = []
        ahead: _Task | None = None
        finished = 0
        failed = True
        try:
            while True:
                if ahead is None:
                    chunks = planner.next_file()
                else:
                    bg.wait(ahead)
                    chunks = slot.pop()
                if chunks is None:
                    break
                ahead = bg.later(lambda: slot.append(planner.next_file()))
                for ch in chunks:
                    done[ch.id] = self._deps_ok(ch, done, st) and self._run(self._chunk_flow(ch, st))
                    finished += 1
                    self._tick(finished, planner, st)
            failed = False
        finally:
            self._bg, self._on_sent = None, None
            bg.close(raise_error=not failed)

    def _deps_ok(self, ch: Chunk, done: dict[str, bool], st: _State) -> bool:
        failed = sorted(d for d in ch.deps if not done.get(d, False))
        if not failed:
            return True
        kind = st.abort_kind or KIND_REJECTED
        self._mark(st, ch.entries, NOT_SENT, kind=kind,
                   messages=[f"not sent: it references entries of {', '.join(failed)} that were not written"])
        return False


# =========================================================================== async
class AsyncFhirClient(_Base):
    """The asyncio twin of :class:`FhirClient` (same options, awaitable methods)."""

    def _open(self) -> None:
        self._ahttp = httpx.AsyncClient(auth=self.auth, timeout=self.timeout, verify=self.verify,
                                        headers=self.headers, transport=self.transport, follow_redirects=False,
                                        limits=self._limits())

    async def __aenter__(self) -> AsyncFhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._ahttp.aclose()

    async def _perform(self, step: _Http) -> _Response | _Failure:
        self._requests += 1
        headers = self.post_headers if step.body is not None else None
        try:
            r = await self._ahttp.request(step.method, step.url, content=step.body, headers=headers)
        except httpx.TimeoutException as exc:
            return _Failure(self._redact(f"timed out ({exc.__class__.__name__})"))
        except httpx.TransportError as exc:
            return _Failure(self._redact(f"transport error ({exc.__class__.__name__}: {exc})"), _refused(exc))
        return _Response(r.status_code, dict(r.headers.items()), r.content)

    async def _run(self, flow: _Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._perform(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def capabilities(self, *, refresh: bool = False) -> Capabilities:
        if self._capabilities is None or refresh:
            self._capabilities = await self._run(self._capabilities_flow())
        return self._capabilities

    async def push_bundle(self, bundle: dict[str, Any], *, name: str = "<bundle>", **kwargs: Any) -> PushReport:
        return await self._push(None, [(name, bundle)], **kwargs)

    async def push_bundles(self, bundles: Iterable[dict[str, Any] | tuple[str, dict[str, Any]]], **kwargs: Any
                           ) -> PushReport:
        return await self._push(None, _named(bundles), **kwargs)

    async def push_files(self, paths: Iterable[str | os.PathLike[str]], **kwargs: Any) -> PushReport:
        return await self._push(paths, None, **kwargs)

    async def _push(self, paths: Iterable[str | os.PathLike[str]] | None, bundles: list[tuple[str, Any]] | None, *,
                    journal: str | os.PathLike[str] | None = None, resume: bool = False, dry_run: bool = False,
                    verify: bool = False, max_entries: int | None = None, max_bytes: int = 1 << 20,
                    concurrency: int = 1, run_id: str | None = None,
                    validator: Callable[[dict[str, Any]], list[str]] | None = None,
                    isolate_failures: bool = False) -> PushReport:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        started = time.perf_counter()
        first_request = self._requests
        st, planner = self._prepare(paths, bundles, journal=journal, resume=resume, dry_run=dry_run,
                                    max_entries=max_entries, max_bytes=max_bytes, run_id=run_id)
        st.isolate = isolate_failures
        report = st.report
        try:
            try:
                # a dry run never contacts the server: it plans and validates what would be sent
                caps = await self.capabilities() if self.check_capabilities and not dry_run else None
            except PushError as exc:
                await asyncio.to_thread(self._refused, st, planner, exc, dry_run, validator)
                return report
            st.bundle_type = self.bundle_type if self.bundle_type != "auto" else (
                caps.bundle_type if caps else "transaction")
            if dry_run:
                await asyncio.to_thread(self._validate_dry, st, planner, validator, st.bundle_type)
                return report
            self._start_writing(st, resume)
            try:
                await self._schedule(planner, st, concurrency)
            except PushError as exc:
                self._stopped(st, exc)
                await asyncio.to_thread(planner.drain)
            self._finish_not_sent(st)
            if verify and st.written:
                await self._run(self._verify_flow(st))
                report.verified = True
            if st.journal is not None:
                st.journal.end(report.exit_code)
            return report
        finally:
            planner.close()
            self._close_run(st, started, self._requests - first_request)

    async def _schedule(self, planner: _Planner, st: _State, concurrency: int) -> None:
        events: dict[str, asyncio.Event] = {}
        done: dict[str, bool] = {}
        finished: list[str] = []
        sem = asyncio.Semaphore(concurrency)

        async def one(ch: Chunk) -> None:
            try:
                for d in ch.deps:
                    if d in events:
                        await events[d].wait()
                failed = sorted(d for d in ch.deps if not done.get(d, False))
                if failed:
                    self._mark(st, ch.entries, NOT_SENT, kind=st.abort_kind or KIND_REJECTED,
                               messages=[f"not sent: it references entries of {', '.join(failed)} "
                                         "that were not written"])
                    done[ch.id] = False
                    return
                async with sem:
                    done[ch.id] = await self._run(self._chunk_flow(ch, st))
            finally:
                done.setdefault(ch.id, False)
                events[ch.id].set()
                finished.append(ch.id)
                self._tick(len(finished), planner, st)

        tasks: list[asyncio.Task[None]] = []
        while True:
            # keep reading inputs only as far as the writes can use them
            while sum(1 for t in tasks if not t.done()) > 4 * concurrency:
                await asyncio.wait([t for t in tasks if not t.done()], return_when=asyncio.FIRST_COMPLETED)
            chunks = await asyncio.to_thread(planner.next_file)
            if chunks is None:
                break
            for ch in chunks:
                events[ch.id] = asyncio.Event()
                tasks.append(asyncio.create_task(one(ch)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
