"""A write-ahead journal of a push, so ``--resume`` writes exactly what is missing.

One JSON object per line, appended before the request it announces is sent and right
after its answer arrives; acknowledgements are flushed at once, so a killed process loses
none (the "sent" lines are flushed with them, or at once for a plain POST). Lines are also
``fsync``-ed to disk when ``fsync=True`` or when a chunk holds a non-idempotent entry (a
plain POST): otherwise a machine crash may lose the last acknowledgements, and resuming
then re-sends those entries, which is harmless for PUTs and conditional creates.

``{"t": "run", ...}``   the push: run id, server (without credentials), start time
``{"t": "sent", "chunk": ..., "keys": [...]}``   a transaction about to be sent
``{"t": "ack", "chunk": ..., "results": [[key, status, location], ...]}``   its answer
``{"t": "end", "exit_code": ...}``   the push finished

An entry key is its request (``PUT Patient/…``) plus a digest of its content, so a
resumed push re-sends an entry whose file changed since. Entries sent but never
acknowledged are sent again on resume: harmless, since writes are idempotent. The
journal never holds credentials: only keys, statuses and locations. A line cut short by
a crash is ignored.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from .errors import JournalError

VERSION = 1


class Journal:
    """Append-only journal file; thread-safe."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fh: Any = None
        self.run_id: str | None = None
        self.server: str | None = None
        self.acked: dict[str, tuple[int, str | None]] = {}   # key -> (status, location) of 2xx
        self.sent_unacked: set[str] = set()
        self.entry_limit: int | None = None     # the most entries per request the server took

    # ------------------------------------------------------------------ reading
    def load(self) -> bool:
        """Read an existing journal; ``False`` when there is none."""
        if not self.path.exists():
            return False
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise JournalError(f"cannot read journal {self.path}: {exc}; check its permissions "
                               "or pass another --journal") from exc
        sent: set[str] = set()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                if n == len(lines):
                    continue      # torn last line: the process died while writing it
                raise JournalError(f"journal {self.path} is corrupt at line {n}; "
                                   "remove it to start the push afresh") from None
            kind = rec.get("t")
            if kind == "run":
                if rec.get("v") != VERSION:
                    raise JournalError(f"journal {self.path} has version {rec.get('v')}, expected {VERSION}; "
                                       "remove it to start the push afresh")
                self.run_id = self.run_id or rec.get("run_id")
                self.server = rec.get("server")
            elif kind == "sent":
                sent.update(rec.get("keys") or [])
            elif kind == "ack":
                for key, status, location in rec.get("results") or []:
                    if isinstance(status, int) and 200 <= status < 300:
                        self.acked[key] = (status, location)
            elif kind == "limit" and isinstance(rec.get("entries"), int) and rec["entries"] > 0:
                self.entry_limit = min(self.entry_limit or rec["entries"], rec["entries"])
        self.sent_unacked = sent - set(self.acked)
        return True

    # ------------------------------------------------------------------ writing
    def open(self, *, append: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab" if append else "wb")  # noqa: SIM115
        except OSError as exc:
            raise JournalError(f"cannot write journal {self.path}: {exc}; pass another --journal") from exc

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def _write(self, rec: dict[str, Any], *, sync: bool = False, flush: bool = True) -> None:
        line = orjson.dumps(rec) + b"\n"
        with self._lock:
            if self._fh is None:
                return
            self._fh.write(line)
            if flush or sync or self.fsync:
                self._fh.flush()
            if self.fsync or sync:
                os.fsync(self._fh.fileno())

    def start(self, run_id: str, server: str, *, resumed: bool) -> None:
        self.run_id = run_id
        self.server = server
        self._write({"t": "run", "v": VERSION, "run_id": run_id, "server": server,
                     "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resumed": resumed}, sync=True)

    def sent(self, chunk: str, keys: list[str], *, sync: bool = False) -> None:
        # resuming re-sends whatever has no "ack"; a lost "sent" line only matters for a plain POST
        self._write({"t": "sent", "chunk": chunk, "keys": keys}, sync=sync, flush=sync)

    def ack(self, chunk: str, results: list[tuple[str, int | None, str | None]], *, sync: bool = False) -> None:
        self._write({"t": "ack", "chunk": chunk, "results": [list(r) for r in results]}, sync=sync)
        with self._lock:
            for key, status, location in results:
                if status is not None and 200 <= status < 300:
                    self.acked[key] = (status, location)

    def limit(self, entries: int) -> None:
        """The server refused a request for its entry count: a resumed run plans at most ``entries``."""
        self._write({"t": "limit", "entries": entries}, sync=True)
        with self._lock:
            self.entry_limit = min(self.entry_limit or entries, entries)

    def end(self, exit_code: int) -> None:
        self._write({"t": "end", "exit_code": exit_code}, sync=True)
