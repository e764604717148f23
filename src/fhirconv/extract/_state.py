"""What extraction remembers while it reads one document, kept apart from the compiled rules.

The rules are shared by every document and thread; these objects live for one ``run()``
only, so two documents converted at once never see each other's patients, sides or
abbreviations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..mappings import Match
from ..model import Assertion, Fact, SourceDocument, Span
from ._context import SentenceContext
from ._text import Sentence

NO_END = 1 << 60
ASSERTED = (Assertion.PRESENT, Assertion.HISTORICAL)


@dataclass(frozen=True, slots=True)
class OpenTest:
    """A qualitative test named without a result: "All tests were negative" in the next sentence is its result."""

    sentence: int
    key: str
    text: str
    span: Span
    section: str
    attrs: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Lesion:
    """A mass the text described, and where: a biopsy calling it metastatic makes these sites metastases."""

    sentence: int
    organ: str | None
    places: tuple[tuple[str, str | None], ...]


@dataclass
class PatientState:
    """One individually described patient while the document is read."""

    index: int
    label: str = ""
    start: int = 0
    end: int = NO_END
    sex: tuple[str, Span] | None = None
    age: tuple[float, str, Span] | None = None
    facts: list[Fact] = field(default_factory=list)
    last_exam: tuple[int, str] | None = None
    lesions: list[Lesion] = field(default_factory=list)
    open_tests: list[OpenTest] = field(default_factory=list)
    # the sides each body site (and the structures containing it) was named with
    sides: dict[str, set[str]] = field(default_factory=dict)
    # where the facts of the sentence being read begin in ``facts``
    sentence_start: int = 0
    # the facts by kind, indexed as they are appended (a long text must not rescan them all per sentence)
    _by_kind: dict[str, list[Fact]] = field(default_factory=dict)
    _indexed: int = 0
    _primary: bool = False

    def of_kind(self, kind: str) -> list[Fact]:
        """The facts of one kind found so far."""
        self._index()
        return self._by_kind.get(kind, [])

    def has_primary(self) -> bool:
        """Has a primary malignancy been asserted so far?"""
        self._index()
        return self._primary

    def sentence_facts(self) -> list[Fact]:
        """The facts the sentence being read has added."""
        return self.facts[self.sentence_start:]

    def _index(self) -> None:
        for f in self.facts[self._indexed:]:
            self._by_kind.setdefault(f.kind, []).append(f)
            if f.kind == "condition" and f.attr("role") == "primary" and f.assertion in ASSERTED:
                self._primary = True
        self._indexed = len(self.facts)


@dataclass
class DocState:
    """Per-document memory: the text's own abbreviations ("squamous cell lung cancer (SCLC)")."""

    doc: SourceDocument
    abbrev: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SentenceView:
    """One sentence as the fact rules see it: its text, its concept matches and their context."""

    sent: Sentence
    ctx: SentenceContext
    matches: tuple[Match, ...]
    sites: tuple[Match, ...]
    term_spans: tuple[tuple[int, int], ...]     # terms other than body sites
    dates: tuple[tuple[int, int, str], ...]
    sample: str | None = None     # the sample a heading line above names ("CSF microscopy and culture")

    @property
    def text(self) -> str:
        return self.sent.text
