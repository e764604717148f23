"""Cancer staging in a sentence: stage groups ("FIGO stage IIIC") and TNM categories ("pT2N1M0").

The patterns and codes are data (``mappings/staging.yaml``). A stage group counts only next to a
cancer (the nearest disorder must be a malignant neoplasm: "CKD stage 3" is no cancer stage); a TNM
expression is its own evidence (T and N written together), and the builder writes it only for a
patient with a primary cancer.
"""

from __future__ import annotations

import re
from typing import Any

from ..mappings import Mappings
from ..model import Assertion, Fact, SourceDocument
from ._concepts import ConceptFinder
from ._relations import span_of
from ._state import PatientState, SentenceView

_OWN = (Assertion.PRESENT, Assertion.HISTORICAL)
_CANCER = ("malignant", "secondary", "in_situ")


class Staging:
    """Compiled staging rules; shared by every document."""

    def __init__(self, mappings: Mappings, concepts: ConceptFinder) -> None:
        rules = mappings.rule("staging") or {}
        tnm = rules.get("tnm") or {}
        self.maps, self.concepts = mappings, concepts
        self.group_re = re.compile(rules.get("pattern") or r"(?!)", re.I)
        self.window = int(rules.get("window", 60))
        self.tnm_re = re.compile(tnm.get("pattern") or r"(?!)")           # case matters: pT2, not pt2
        self.pathologic = re.compile(tnm.get("pathologic_prefix") or r"(?!)")
        self.prefix = re.compile(tnm.get("prefix") or r"(?!)")
        self.clinical_only = frozenset(tnm.get("clinical_only") or ())
        self.method_re = re.compile(tnm.get("method") or r"(?!)", re.I)

    def read(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        self._groups(doc, sv, p)
        self._tnm(doc, sv, p)

    def _method(self, sv: SentenceView) -> str:
        m = self.method_re.search(sv.text)
        return " ".join(m.group(0).split()) if m else ""

    def _groups(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        """Stage groups: only where the nearest disorder or TNM expression (within the window) is a
        cancer or the TNM, and only as the patient's own, asserted stage (one fact per group)."""
        tnm = [(t.start(), t.end()) for t in self.tnm_re.finditer(sv.text)]
        for m in self.group_re.finditer(sv.text):
            assertion, other = sv.ctx.assertion(m.start(), m.end())
            if other or assertion not in _OWN:
                continue
            if not self._next_to_cancer(sv, tnm, m.start(), m.end()):
                continue
            group = m.group("group").upper()
            attrs: list[tuple[str, Any]] = [("group", group), ("sub", (m.group("sub") or "").upper())]
            if m.group("kind"):
                attrs.append(("kind", m.group("kind").lower()))
            if m.group("system"):
                attrs.append(("system", m.group("system")))
            method = self._method(sv)
            if method:
                attrs.append(("method", method))
            if any(f.kind == "stage" and f.attr("group") == group and f.attr("sub") == attrs[1][1]
                   for f in p.facts):
                continue
            p.facts.append(Fact("stage", "", m.group(0), span_of(doc, sv, m.start(), m.end()), p.index, assertion,
                                sv.sent.section, tuple(attrs)))

    def _next_to_cancer(self, sv: SentenceView, tnm: list[tuple[int, int]], start: int, end: int) -> bool:
        """Whether the disorder or TNM expression nearest to the stage (of those in the window) is a
        cancer or the TNM: "CKD stage 3" is no cancer stage, "pT3N1M0, stage IIIB" is."""
        def gap(a: int, b: int) -> int:                     # characters between [a, b) and the stage
            return start - b if b <= start else a - end if a >= end else 0

        near: list[tuple[int, bool]] = []
        for mt in sv.matches:
            if self.concepts.category(mt) == "disorder" and start - self.window <= mt.end \
                    and mt.start <= end + self.window:                   # before, after, or holding it
                kind = self.maps[self.concepts.key(mt, "disorder")].attr("neoplasm")
                near.append((gap(mt.start, mt.end), kind in _CANCER))
        near += [(gap(a, b), True) for a, b in tnm if gap(a, b) <= self.window]
        return bool(near) and min(near)[1]        # a tie goes to the disorder that is no cancer

    def _tnm(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        """A TNM expression: one fact, each category as written with its kind (clinical / pathologic).
        A category without its own prefix takes the expression's first one ("pT2N0" → pN0), except
        those that are clinical whatever the prefix (there is no pM0)."""
        for m in self.tnm_re.finditer(sv.text):
            assertion, other = sv.ctx.assertion(m.start(), m.end())
            if other or assertion not in _OWN:
                continue
            first = self.prefix.match(m.group("t"))
            lead = first.group(0) if first else ""
            attrs: list[tuple[str, Any]] = []
            for cat in ("t", "n", "m"):
                said = m.group(cat)
                if not said:
                    continue
                own = self.prefix.match(said)
                prefix = own.group(0) if own and own.group(0) else lead
                bare = said[len(own.group(0)) if own else 0:]
                kind = "clinical" if bare in self.clinical_only or not self.pathologic.match(prefix) \
                    else "pathologic"
                attrs += [(cat, said), (f"{cat}_kind", kind)]
            method = self._method(sv)
            if method:
                attrs.append(("method", method))
            if any(f.kind == "tnm" and f.text == m.group(0) for f in p.facts):
                continue
            p.facts.append(Fact("tnm", "", m.group(0), span_of(doc, sv, m.start(), m.end()), p.index, assertion,
                                sv.sent.section, tuple(attrs)))
