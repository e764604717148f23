"""Small typed values the pipeline stages hand to each other.

Plain frozen dataclasses: they are created by the thousand per second, and pydantic
would cost more than the extraction itself. Every fact carries the character span
of the *original* input text so it can be shown in its source.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """Half-open character range [start, end) in the original text."""

    start: int
    end: int


class Assertion(StrEnum):
    """What the text says about a fact, for the index patient."""

    PRESENT = "present"            # asserted, current
    NEGATED = "negated"            # explicitly absent ("no fever", "negative for desmin")
    POSSIBLE = "possible"          # suspected / provisional ("suspicious for", "likely")
    DIFFERENTIAL = "differential"  # one of several candidates ("lymphoma or carcinoma")
    REFUTED = "refuted"            # considered, then ruled out
    HISTORICAL = "historical"      # past history, no longer the presenting problem
    HYPOTHETICAL = "hypothetical"  # planned, conditional ("if ...", "was planned")


class DocumentKind(StrEnum):
    SINGLE_CASE = "single-case"
    CASE_SERIES = "case-series"
    COHORT = "cohort"          # aggregate study: no individually described patient
    REVIEW = "review"          # narrative review / Q&A: no patient


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Citation:
    """Bibliographic data of the source, from an EndNote/Refer record or the text."""

    title: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    date: str | None = None
    doi: str | None = None
    pmid: str | None = None

    def __post_init__(self) -> None:
        # the fields become FHIR strings, which may not hold control characters: a record's stray
        # byte ("doi:10.1/x\x02") is a space, not an invalid DocumentReference
        for name in ("title", "journal", "date", "doi", "pmid"):
            value = getattr(self, name)
            if value is not None and _CONTROL.search(value):
                object.__setattr__(self, name, _CONTROL.sub(" ", value).strip() or None)
        if any(_CONTROL.search(a) for a in self.authors):
            object.__setattr__(self, "authors", tuple(a for a in (_CONTROL.sub(" ", x).strip() for x in self.authors)
                                                      if a))


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """A decoded input.

    ``original`` is the text exactly as decoded; ``text`` is the cleaned text the
    extractor reads (PDF artefacts repaired, record fields reduced to title and
    abstract). ``offsets[i]`` is the index in ``original`` of ``text[i]``
    (``len(offsets) == len(text) + 1``; the last entry maps the end).
    """

    name: str
    original: str
    text: str
    offsets: tuple[int, ...]
    citation: Citation = Citation()
    encoding: str = "utf-8"
    source_format: str = "text"     # text | pdf-text | endnote
    warnings: tuple[str, ...] = ()

    def to_original(self, start: int, end: int) -> Span:
        """Map a [start, end) range of ``text`` back to ``original``."""
        if end <= start:
            o = self.offsets[start]
            return Span(o, o)
        return Span(self.offsets[start], self.offsets[end - 1] + 1)


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing the text states, about one patient.

    ``kind`` is one of: sex, age, deceased, condition, finding, lab, imaging,
    procedure, medication, stage, tnm. ``concept`` is a mappings key (empty when the concept is
    uncoded and only ``text`` is known). ``attrs`` carries kind-specific details
    (laterality, body_site, role, value, unit, date, modality, ...), all plain JSON values.
    """

    kind: str
    concept: str
    text: str
    span: Span
    patient: int = 0
    assertion: Assertion = Assertion.PRESENT
    section: str = ""
    attrs: tuple[tuple[str, Any], ...] = ()

    def attr(self, name: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["assertion"] = self.assertion.value
        d["attrs"] = dict(self.attrs)
        return d


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """The facts about one individually described patient."""

    index: int
    label: str = ""              # e.g. "Case 2"
    facts: tuple[Fact, ...] = ()


@dataclass(frozen=True, slots=True)
class Extraction:
    """Everything the extractor found in one document."""

    document: SourceDocument
    kind: DocumentKind
    patients: tuple[PatientFacts, ...] = ()
    warnings: tuple[str, ...] = ()
    sections: tuple[tuple[str, Span], ...] = ()


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation finding, shaped like an OperationOutcome.issue.

    ``location`` is a FHIRPath-like expression (e.g. ``Bundle.entry[3].resource.code``);
    ``layer`` names the validation layer that raised it (model, schema, invariant,
    binding, reference, terminology, spec, profile); ``profile``, for the profile layer, the
    profile the finding is against.
    """

    severity: Severity
    location: str
    message: str
    layer: str = ""
    code: str = "invalid"       # OperationOutcome issue-type code
    profile: str = ""           # the profile layer's: the profile (url|version) the resource failed

    def to_dict(self) -> dict[str, str]:
        out = {"severity": self.severity.value, "code": self.code, "location": self.location,
               "message": self.message, "layer": self.layer}
        if self.profile:
            out["profile"] = self.profile
        return out


@dataclass
class DocumentReport:
    """Per-document line of the run summary."""

    name: str
    kind: str = ""
    patients: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    output: str | None = None
    notes: list[str] = field(default_factory=list)      # an output profile's: what it left unclaimed

    @property
    def ok(self) -> bool:
        return not self.errors
