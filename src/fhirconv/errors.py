"""The one place where fhirconv's exceptions are defined.

Hierarchy (catch ``FhirconvError`` for all of them)::

    FhirconvError
    ├── ReadError        an input cannot be read (missing, empty, binary, undecodable)
    ├── MappingsError    a mappings file is malformed (file and line in the message)
    ├── ExtractError     the text could not be turned into facts
    ├── BuildError       facts could not be turned into FHIR resources
    ├── ValidationError  a bundle failed validation (``issues`` holds the details)
    ├── BudgetError      a document took longer than its time budget (``--time-budget``)
    └── PushError        talking to a FHIR server failed

Every message says what went wrong *and* what the user can do about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Issue


class FhirconvError(Exception):
    """Base class of every error fhirconv raises on purpose."""


class ReadError(FhirconvError):
    """An input file or stream cannot be read as text."""


class MappingsError(FhirconvError):
    """A mappings file is malformed or inconsistent."""


class ExtractError(FhirconvError):
    """Extraction failed on a document."""


class BuildError(FhirconvError):
    """Resources could not be built from extracted facts."""


class ValidationError(FhirconvError):
    """A resource or bundle did not pass validation."""

    def __init__(self, message: str, issues: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class BudgetError(FhirconvError):
    """A document took longer than its time budget; the run goes on with the next one."""


class PushError(FhirconvError):
    """A FHIR server refused, failed or could not be reached."""
