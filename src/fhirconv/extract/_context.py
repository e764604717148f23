"""A ConText implementation (Harkema et al., J Biomed Inform 2009) driven by ``mappings/context.yaml``.

Why our own and not medspaCy/negspacy: the pipeline budget is ~20 ms per document, and
medspaCy runs ~20,000 chars/s (150 ms for a typical case report) before anything else is
done. This is the same algorithm — trigger cues with a direction, a scope that ends at
the sentence end, a terminator or a word window, and pseudo-triggers that block false
cues — over one compiled regular expression per cue class.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from ..mappings import normalize
from ..model import Assertion

PRIORITY = ("refuted", "negated", "differential", "possible", "hypothetical", "other_subject", "historical")
_TO_ASSERTION = {
    "refuted": Assertion.REFUTED, "negated": Assertion.NEGATED, "differential": Assertion.DIFFERENTIAL,
    "possible": Assertion.POSSIBLE, "hypothetical": Assertion.HYPOTHETICAL, "historical": Assertion.HISTORICAL,
}
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Cue:
    phrase: str
    category: str
    direction: str
    window: int


def _alternation(phrases: list[str]) -> re.Pattern[str]:
    alts = sorted({normalize(p)[0].strip() for p in phrases if p.strip()}, key=len, reverse=True)
    body = "|".join(re.escape(a) for a in alts) or "(?!)"
    return re.compile(rf"(?<![\w])(?:{body})(?![\w])")


class ContextEngine:
    """Decides, per target phrase in a sentence, which context category applies (if any)."""

    def __init__(self, rules: dict[str, Any]) -> None:
        cues = [Cue(normalize(c["phrase"])[0].strip(), c["category"], c.get("direction", "forward"),
                    int(c.get("window", 8)))
                for c in rules.get("cues", []) if c.get("category") in PRIORITY]
        self.cues = {c.phrase: c for c in cues}
        self._cue_re = _alternation([c.phrase for c in cues])
        self._pseudo_re = _alternation(rules.get("pseudo", []))
        terms = rules.get("terminators", [])
        self._term_re = _alternation([t for t in terms if t != ";" and t[:1].isalnum()])
        # terminators that begin with punctuation (", consistent with") follow a word directly
        punct = sorted({normalize(t)[0].strip() for t in terms if t != ";" and not t[:1].isalnum()}, key=len,
                       reverse=True)
        self._punct_term_re = re.compile(rf"(?:{'|'.join(re.escape(t) for t in punct)})(?![\w])") if punct \
            else None
        self._semicolon = ";" in terms

    def analyse(self, sentence: str) -> SentenceContext:
        norm, idx = normalize(sentence)
        blocked = [(m.start(), m.end()) for m in self._pseudo_re.finditer(norm)]
        cues = []
        pos = 0
        while (m := self._cue_re.search(norm, pos)) is not None:
            # overlapping cues both count: "was negative for X" is "was negative" (about what
            # precedes) and "negative for" (about X); a pseudo-trigger blocks only cues it contains
            pos = m.start() + 1
            if any(s <= m.start() < e and m.end() <= e for s, e in blocked):
                continue
            cues.append((m.start(), m.end(), self.cues[m.group(0)]))
        terms = [m.start() for m in self._term_re.finditer(norm)]
        if self._punct_term_re is not None:
            terms += [m.start() for m in self._punct_term_re.finditer(norm)]
        if self._semicolon:
            terms += [i for i, ch in enumerate(norm) if ch in ";:"]
        words = [m.start() for m in _WORD.finditer(norm)]
        return SentenceContext(norm, idx, cues, sorted(terms), words)


class SentenceContext:
    """The cues found in one sentence, ready to be asked about targets."""

    def __init__(self, norm: str, idx: list[int], cues: list[tuple[int, int, Cue]], terms: list[int],
                 words: list[int]) -> None:
        self.norm, self.idx, self.cues, self.terms, self.words = norm, idx, cues, terms, words

    def _pos(self, original_offset: int) -> int:
        return bisect.bisect_left(self.idx, original_offset)

    def _nwords(self, a: int, b: int) -> int:
        return bisect.bisect_left(self.words, b) - bisect.bisect_left(self.words, a)

    def _terminated(self, a: int, b: int) -> bool:
        i = bisect.bisect_left(self.terms, a)
        return i < len(self.terms) and self.terms[i] < b

    def categories(self, start: int, end: int) -> list[str]:
        """Context categories applying to the target at [start, end) (offsets within the sentence)."""
        ts, te = self._pos(start), self._pos(end)
        found = []
        for cs, ce, cue in self.cues:
            if cs < te and ce > ts:
                continue  # the cue is part of the target itself ("non-Hodgkin lymphoma")
            if ce <= ts and cue.direction in ("forward", "both"):
                if self._nwords(ce, ts) <= cue.window and not self._terminated(ce, ts) \
                        and not self._other_cue(ce, ts, cue):
                    found.append(cue.category)
            elif cs >= te and cue.direction in ("backward", "both"):
                if self._nwords(te, cs) <= cue.window and not self._terminated(te, cs) \
                        and not self._other_cue(te, cs, cue):
                    found.append(cue.category)
        return found

    def _other_cue(self, a: int, b: int, cue: Cue) -> bool:
        """A scope ends where a cue of another kind begins (ConText's termination by a new trigger)."""
        return any(a <= s and e <= b and c.category != cue.category for s, e, c in self.cues)

    def assertion(self, start: int, end: int) -> tuple[Assertion, bool]:
        """(assertion, about_someone_else) for the target at [start, end)."""
        cats = set(self.categories(start, end))
        other = "other_subject" in cats
        for cat in PRIORITY:
            if cat in cats and cat in _TO_ASSERTION:
                return _TO_ASSERTION[cat], other
        return Assertion.PRESENT, other
