"""Push FHIR R4 bundles to a server: idempotent, resumable, fault-tolerant.

Library::

    from fhirconv.push import FhirClient, BearerAuth
    with FhirClient("https://example.org/fhir", auth=BearerAuth.from_env("FHIR_TOKEN")) as client:
        report = client.push_files(["out/"], journal=".fhirconv-journal/run.jsonl")
        print(report.summary()); raise SystemExit(report.exit_code)

:class:`AsyncFhirClient` has the same options with awaitable methods.

What a push does
    1. ``GET [base]/metadata``: the server must announce ``fhirVersion`` 4.0.x and the
       ``transaction`` (preferred) or ``batch`` interaction; otherwise
       :class:`CapabilityError` and nothing is written.
    2. Inputs (Bundles of type transaction/batch/collection, single resources, NDJSON)
       become entries written with ``PUT Type/id`` (idempotent; see :mod:`.plan` for why
       this is the default and for ``mode="conditional"``). Every resource gets a
       ``meta.tag`` ``urn:fhirconv:push-run|<run id>`` so a run can be found
       (``GET [base]/Patient?_tag=urn:fhirconv:push-run|<run id>``) and removed.
    3. Each input bundle is cut into chunks of at most ``max_entries`` (50; 8 for conditional writes) entries and
       ``max_bytes`` (1 MiB) that keep references resolvable, POSTed to the base URL
       (never ``[base]/Bundle``) with ``Content-Type: application/fhir+json``. A 413 halves
       the chunk and resends.
    4. Network errors, 408, 429, 502, 503 and 504 are retried with jittered, capped
       exponential backoff (``Retry-After`` in seconds or as an HTTP-date and
       ``x-ms-retry-after-ms`` are honoured), at most ``max_attempts`` tries in all; in a
       batch only the throttled entries are resent. Timeouts: ``timeout`` (read/write,
       60 s) and ``connect_timeout`` (10 s). Since writes are PUTs, a retry after a lost
       response (the server may have committed) creates nothing twice.
    5. With a journal, every request is recorded before it is sent and its answer after;
       ``resume=True`` skips what the journal shows as written.

Exit codes (:attr:`PushReport.exit_code`, also ``fhirconv push``'s exit status)
    0  everything written (for ``dry_run``: everything valid and would be sent)
    1  partly written: some entries written, others not (see the per-entry report)
    2  rejected data: nothing written because the server refused it (4xx other than
       401/403/408/413-split/429) or an input file is not a pushable bundle
    3  auth failure: 401/403, or credentials missing/unusable; nothing written
    4  server or transport failure: 5xx, network errors or timeouts after every retry,
       or a server that is not FHIR R4 / supports neither transaction nor batch
"""

from ..errors import PushError
from .auth import BasicAuth, BearerAuth, PushAuth
from .client import AsyncFhirClient, Capabilities, FhirClient, default_journal_path, outcome_messages
from .errors import AuthError, CapabilityError, InputError, JournalError, RejectedError, ServerError
from .report import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REJECTED,
    EXIT_SERVER,
    ChunkResult,
    EntryResult,
    PushReport,
)
from .retry import RetryPolicy

__all__ = [
    "EXIT_AUTH",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_REJECTED",
    "EXIT_SERVER",
    "AsyncFhirClient",
    "AuthError",
    "BasicAuth",
    "BearerAuth",
    "Capabilities",
    "CapabilityError",
    "ChunkResult",
    "EntryResult",
    "FhirClient",
    "InputError",
    "JournalError",
    "PushAuth",
    "PushError",
    "PushReport",
    "RejectedError",
    "RetryPolicy",
    "ServerError",
    "default_journal_path",
    "outcome_messages",
]
