"""What a push did, entry by entry, and the exit code that sums it up."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import AuthError, PushError, RejectedError, ServerError

# Outcomes of one entry.
WRITTEN = "written"        # the server acknowledged it (2xx)
SKIPPED = "skipped"        # already acknowledged in the journal (--resume): not sent again
REJECTED = "rejected"      # the server refused it (4xx); see messages
FAILED = "failed"          # server error or transport failure after every retry
NOT_SENT = "not-sent"      # never sent: the push stopped, or what it depends on failed
DRY_RUN = "dry-run"        # --dry-run: would be sent
MISMATCH = "mismatch"      # --verify: written, but what the server returns differs

# Why an entry was not written (EntryResult.error_kind).
KIND_REJECTED = "rejected"   # data refused by the server, or invalid input
KIND_AUTH = "auth"           # 401/403, token could not be obtained
KIND_SERVER = "server"       # 5xx, network, timeouts, unsuitable server

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_REJECTED = 2
EXIT_AUTH = 3
EXIT_SERVER = 4


@dataclass
class EntryResult:
    """The fate of one Bundle entry."""

    file: str
    index: int                    # position of the entry in its input bundle
    resource_type: str
    id: str | None
    method: str
    url: str
    outcome: str = NOT_SENT
    status: int | None = None     # HTTP status of the entry (or of its whole transaction)
    location: str | None = None
    messages: list[str] = field(default_factory=list)
    error_kind: str | None = None
    chunk: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome in (WRITTEN, SKIPPED, DRY_RUN)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkResult:
    """One transaction (or batch) as sent: its HTTP status and OperationOutcome."""

    id: str
    file: str
    entries: int
    bytes: int
    status: int | None = None
    attempts: int = 0
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PushReport:
    """Everything a push did.

    ``exit_code``: 0 all written (or, for a dry run, all valid), 1 partly written,
    2 rejected data (nothing written, a 4xx or invalid input), 3 auth failure,
    4 server or transport failure (including a server that is not FHIR R4 or
    supports neither transaction nor batch).
    """

    server: str
    run_id: str
    entries: list[EntryResult] = field(default_factory=list)
    chunks: list[ChunkResult] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fatal_kind: str | None = None   # a failure that stopped the push before or while writing
    fatal: PushError | None = field(default=None, repr=False, compare=False)
    dry_run: bool = False
    verified: bool = False
    duration_s: float = 0.0
    requests: int = 0

    # ----------------------------------------------------------------- summaries
    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(e.outcome for e in self.entries)
        out = {k: counts.get(k, 0) for k in (WRITTEN, SKIPPED, REJECTED, FAILED, NOT_SENT, MISMATCH, DRY_RUN)}
        out["entries"] = len(self.entries)
        out["transactions"] = len(self.chunks)
        return out

    @property
    def written(self) -> int:
        return sum(1 for e in self.entries if e.outcome in (WRITTEN, SKIPPED, MISMATCH))

    @property
    def exit_code(self) -> int:
        bad = [e for e in self.entries if not e.ok]
        if not bad and not self.fatal_kind and not self.errors:
            return EXIT_OK
        if self.written and (bad or self.errors):
            return EXIT_PARTIAL
        kinds = {e.error_kind for e in bad}
        if self.fatal_kind:
            kinds.add(self.fatal_kind)
        if KIND_AUTH in kinds:
            return EXIT_AUTH
        if KIND_SERVER in kinds:
            return EXIT_SERVER
        return EXIT_REJECTED

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def resources_per_second(self) -> float:
        n = sum(1 for e in self.entries if e.outcome == WRITTEN)
        return n / self.duration_s if self.duration_s > 0 else 0.0

    def raise_for_status(self) -> None:
        """Raise the :class:`PushError` subclass that matches ``exit_code`` (nothing when 0)."""
        code = self.exit_code
        if code == EXIT_OK:
            return
        first = self.errors[:1] or [m for e in self.entries if not e.ok for m in e.messages][:1]
        detail = first[0] if first else ""
        msg = f"push to {self.server}: {self.summary_line()}" + (f" — {detail}" if detail else "")
        if self.fatal is not None and code != EXIT_PARTIAL:
            raise self.fatal
        if code == EXIT_AUTH:
            raise AuthError(msg)
        if code == EXIT_SERVER:
            raise ServerError(msg)
        if code == EXIT_REJECTED:
            raise RejectedError(msg)
        raise PushError(msg)

    def summary_line(self) -> str:
        t = self.totals
        parts = [f"{t['entries']} entries"]
        for key in (WRITTEN, SKIPPED, DRY_RUN, MISMATCH, REJECTED, FAILED, NOT_SENT):
            if t[key]:
                parts.append(f"{t[key]} {key}")
        parts.append(f"{t['transactions']} transaction(s) in {self.requests} HTTP request(s)" if not self.dry_run
                     else f"in {t['transactions']} planned request(s)")
        return ", ".join(parts) + f" ({self.duration_s:.2f} s)"

    def summary(self, max_entries: int = 20) -> str:
        """Readable multi-line report: problems first (at most ``max_entries``), then the totals line."""
        lines: list[str] = []
        lines.extend(f"note: {n}" for n in self.notices)
        lines.extend(f"error: {e}" for e in self.errors)
        bad = [e for e in self.entries if not e.ok]
        # the entries one failed request covered, with the same answer, are one line: a transaction
        # refused for one entry's sake is reported once, not once per entry
        groups: dict[tuple[Any, ...], list[EntryResult]] = {}
        for e in bad:
            groups.setdefault((e.file, e.chunk, e.outcome, e.status, tuple(e.messages)), []).append(e)
        shown = 0
        for (file, chunk, outcome, status, messages), members in groups.items():
            if shown >= max_entries:
                break
            shown += 1
            code = f" HTTP {status}" if status else ""
            if len(members) == 1:
                e = members[0]
                lines.append(f"{outcome}:{code} {file} entry {e.index} ({e.method} {e.url})")
            else:
                lines.append(f"{outcome}:{code} {file}, {len(members)} entries ({_ranges([e.index for e in members])})"
                             + (f" of request {chunk}" if chunk else ""))
            lines.extend(f"    {m}" for m in messages)
        if len(groups) > shown:
            lines.append(f"... and {len(groups) - shown} more failures (--json lists every entry)")
        verb = "would push" if self.dry_run else "pushed"
        lines.append(f"{verb} to {self.server} (run {self.run_id}): {self.summary_line()}; exit code {self.exit_code}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "run_id": self.run_id,
            "exit_code": self.exit_code,
            "dry_run": self.dry_run,
            "verified": self.verified,
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "totals": self.totals,
            "notices": list(self.notices),
            "errors": list(self.errors),
            "fatal_kind": self.fatal_kind,
            "transactions": [c.to_dict() for c in self.chunks],
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _ranges(numbers: list[int]) -> str:
    """'0-4, 7, 9-10' for [0, 1, 2, 3, 4, 7, 9, 10]."""
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and n == int(out[-1].rsplit("-", 1)[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)
