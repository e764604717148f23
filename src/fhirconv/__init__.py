"""fhirconv: published clinical case reports → validated HL7 FHIR R4 bundles.

Library API (the CLI is a thin layer over these)::

    import fhirconv
    bundle = fhirconv.convert_text(text)          # a transaction Bundle (dict) or None
    issues = fhirconv.validate(bundle)            # list of Issue, empty when valid
    facts = fhirconv.extract_text(text)           # the typed facts with spans
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._budget import TIME_BUDGET
from ._version import __version__
from .errors import (
    BudgetError,
    BuildError,
    ExtractError,
    FhirconvError,
    MappingsError,
    PushError,
    ReadError,
    ValidationError,
)
from .model import Extraction, Issue
from .read import MAX_CHARS
from .validate import validate_resource as _validate_resource  # binds the subpackage before the function

if TYPE_CHECKING:
    from .mappings import Mappings
    from .pipeline import Pipeline, convert_inputs, convert_text

# imported on first use: `fhirconv push` and `fhirconv --version` need neither the converter nor the
# validator (their tables take most of a conversion's start-up)
_LAZY = {
    "FhirClient": ("push", "FhirClient"), "AsyncFhirClient": ("push", "AsyncFhirClient"),
    "PushReport": ("push", "PushReport"),
    "Pipeline": ("pipeline", "Pipeline"), "convert_inputs": ("pipeline", "convert_inputs"),
    "convert_text": ("pipeline", "convert_text"),
    "Mappings": ("mappings", "Mappings"),
}

__all__ = [
    "__version__", "convert_text", "convert_file", "convert_inputs", "extract_text", "validate",
    "FhirClient", "AsyncFhirClient", "PushReport",
    "load_mappings", "Mappings", "Pipeline", "Issue", "Extraction",
    "FhirconvError", "ReadError", "MappingsError", "ExtractError", "BuildError", "ValidationError", "BudgetError",
    "PushError",
]


def __getattr__(name: str) -> Any:
    """The stages are imported on first use: pushing needs no converter, converting no HTTP stack."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fhirconv' has no attribute {name!r}")


def load_mappings(*overlays: str | Path) -> Mappings:
    """The shipped mappings, with the overlay folders applied in order (cached)."""
    from .mappings import load

    return load(*overlays)


def convert_file(path: str | Path, *, mappings: Mappings | None = None, bundle_type: str | None = None,
                 max_chars: int | None = MAX_CHARS, time_budget: float | None = TIME_BUDGET,
                 profile: str = "none") -> dict[str, Any] | None:
    """Convert one file; None when it describes no individual patient (limits, ``profile`` and the
    bundle type as in ``convert_text``)."""
    from . import read
    from .pipeline import Pipeline

    pipe = Pipeline(mappings, bundle_type=bundle_type, time_budget=time_budget, profile=profile)
    conv = pipe.convert(read.read_path(str(path), max_chars=max_chars))
    if conv.report.errors:
        raise ValidationError(f"{path}: the bundle failed validation ({conv.report.errors[0]})", conv.issues)
    return conv.bundle


def extract_text(text: str, *, name: str = "<text>", mappings: Mappings | None = None) -> Extraction:
    """The facts (with spans and assertion status) a text states about each patient."""
    from . import read
    from .extract import extract

    return extract(read.read_text(text, name), mappings or load_mappings())


def validate(resource: dict[str, Any], *, mappings: Mappings | None = None, profiles: tuple[str, ...] = ()
             ) -> list[Issue]:
    """Validate any FHIR R4 resource or bundle offline; returns the issues (errors and warnings).

    ``profiles``: names or URLs of shipped IG profiles (US Core 6.1.0, mCODE 4.0.0, IPS 2.0.0) that
    every resource of their type must meet, besides those it claims, or whole guides (``us-core``,
    ``mcode``, ``ips``: a resource of a type the guide profiles that claims none of its profiles is a
    warning); an unknown one raises ValidationError."""
    from .validate import profile_url

    urls = tuple(profile_url(p) for p in profiles)
    return _validate_resource(resource, mappings=mappings or load_mappings(), foreign=True, profiles=urls)
