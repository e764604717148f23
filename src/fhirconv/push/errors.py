"""The kinds of push failure, each a :class:`fhirconv.errors.PushError`.

Each kind maps onto one exit code of ``fhirconv push`` (see :mod:`fhirconv.push`).
"""

from __future__ import annotations

from ..errors import PushError


class CapabilityError(PushError):
    """The server is not a FHIR R4 server that accepts transaction or batch Bundles."""


class AuthError(PushError):
    """The server refused our credentials (401/403) or a token could not be obtained."""


class RejectedError(PushError):
    """The server rejected the data (a 4xx other than auth and throttling)."""


class ServerError(PushError):
    """The server failed (5xx) or could not be reached, after every allowed retry."""


class JournalError(PushError):
    """The local journal cannot be read, written, or does not match this push."""


class InputError(PushError):
    """An input file is not a FHIR Bundle or resource that can be pushed."""


__all__ = [
    "AuthError",
    "CapabilityError",
    "InputError",
    "JournalError",
    "PushError",
    "RejectedError",
    "ServerError",
]
