"""A ConText implementation (Harkema et al., J Biomed Inform 2009) driven by ``mappings/context.yaml``.

Why our own and not medspaCy/negspacy: the pipeline budget is ~20 ms per document, and
medspaCy runs ~20,000 chars/s (150 ms for a typical case report) before anything else is
done. This is the same algorithm — trigger cues with a direction, a scope that ends at
the sentence end, a terminator or a word window, and pseudo-triggers that block false
cues — over one compiled regular expression per cue class.

One extension: a scope runs on over a coordinated list ("no fever, cough, dyspnoea, nausea,
vomiting or chest pain"), so the word window counts the words outside the list, not the
list's members. A list is a run of short items joined only by connectors; a terminator, a
clause word (a verb, a subject pronoun) or a second coordination ("A and B, and C") ends it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
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
_OPPOSITE = {("forward", "backward"), ("backward", "forward")}


@dataclass(frozen=True, slots=True)
class Cue:
    phrase: str
    category: str
    direction: str
    window: int


@dataclass(frozen=True, slots=True)
class _Run:
    """Consecutive list connectors (", and", "/", "or"), as one separator between two items."""

    start: int
    end: int
    conjunction: bool  # holds "and" / "or" / "nor" …, not only punctuation
    comma: bool


def _alternation(phrases: Sequence[str]) -> re.Pattern[str]:
    """One pattern for all phrases, longest first; whole words where a phrase begins or ends with one.

    The word-boundary test stands before the alternatives, not in each: the engine then
    skips a position inside a word at once (the pattern runs on every sentence)."""
    alts = sorted({normalize(p)[0].strip() for p in phrases if p.strip()}, key=len, reverse=True)
    words = "|".join(re.escape(a) + (r"(?!\w)" if a[-1].isalnum() else "") for a in alts if a[0].isalnum())
    other = "|".join(re.escape(a) + (r"(?!\w)" if a[-1].isalnum() else "") for a in alts if not a[0].isalnum())
    body = "|".join(([rf"(?<!\w)(?:{words})"] if words else []) + ([f"(?:{other})"] if other else []))
    return re.compile(body or "(?!)")


def _flat(items: Sequence[str | list[str]]) -> list[str]:
    """Phrases given one a line or, for a family of them, as one list a line."""
    return [p for item in items for p in ([item] if isinstance(item, str) else item)]


def _words(phrases: Sequence[str]) -> frozenset[str]:
    return frozenset(normalize(p)[0].strip() for p in phrases)


class ContextEngine:
    """Decides, per target phrase in a sentence, which context category applies (if any)."""

    def __init__(self, rules: dict[str, Any]) -> None:
        cues = [Cue(normalize(c["phrase"])[0].strip(), c["category"], c.get("direction", "forward"),
                    int(c.get("window", 8)))
                for c in rules.get("cues", []) if c.get("category") in PRIORITY]
        self.cues = {c.phrase: c for c in cues}
        self._cue_re = _alternation([c.phrase for c in cues])
        self._pseudo_re = _alternation(_flat(rules.get("pseudo", [])))
        terms = rules.get("terminators", [])
        self._term_re = _alternation([t for t in terms if t != ";"])
        self._semicolon = ";" in terms
        lists = rules.get("lists", {})
        self._connector_re = _alternation(lists.get("connectors", []))
        self._conjunctions = _words(lists.get("conjunctions", []))
        self._breaker_re = _alternation(lists.get("breakers", []))
        self._aux_re = _alternation(lists.get("auxiliaries", []))
        self.continues = frozenset(rules.get("continues", []))
        self.fillers = _words(lists.get("fillers", []))
        self.max_item_words = int(lists.get("max_item_words", 4))
        self.word_window = int(rules.get("word_window", 2))

    def analyse(self, sentence: str, targets: Sequence[tuple[int, int]] | None = None) -> SentenceContext:
        """Find the cues of one sentence. ``targets``: the spans of all concept matches in it
        (offsets within the sentence), so that a list item of any length counts as one."""
        norm, idx = normalize(sentence)
        blocked = [(m.start(), m.end()) for m in self._pseudo_re.finditer(norm)]
        found = []
        pos = 0
        while (m := self._cue_re.search(norm, pos)) is not None:
            # overlapping cues both count: "was negative for X" is "was negative" (about what
            # precedes) and "negative for" (about X); a pseudo-trigger blocks only cues it contains
            pos = m.start() + 1
            if any(s <= m.start() < e and m.end() <= e for s, e in blocked):
                continue
            found.append((m.start(), m.end(), self.cues[m.group(0)]))
        # a cue inside a longer one that reads the same way is part of it (medspaCy keeps the
        # longest match): "not been ruled out" is not "been ruled out", "not have" not a bare "not";
        # one that reads the other way is not ("X should be considered in Y": X possible, Y hypothetical)
        cues = [c for c in found if not any(o[0] <= c[0] and c[1] <= o[1] and o[:2] != c[:2]
                                            and (c[2].direction, o[2].direction) not in _OPPOSITE for o in found)]
        terms = [m.start() for m in self._term_re.finditer(norm)]
        if self._semicolon:
            terms += [i for i, ch in enumerate(norm) if ch in ";:"]
        words = [m.start() for m in _WORD.finditer(norm)]
        runs = self._runs(norm)
        breakers = [m.start() for m in self._breaker_re.finditer(norm)]
        clause_words = sorted(breakers + [m.start() for m in self._aux_re.finditer(norm)])
        # a conjunction before a verb or a subject begins a new predicate: "no fever or chills and
        # developed a rash"; "lives with her husband and has diabetes"
        first = set(clause_words)
        terms += [r.start for r in runs if r.conjunction and (w := bisect.bisect_left(words, r.end)) < len(words)
                  and words[w] in first]
        spans = sorted((bisect.bisect_left(idx, s), bisect.bisect_left(idx, e)) for s, e in targets or ())
        return SentenceContext(self, norm, idx, cues, sorted(terms), words, runs, (breakers, clause_words), spans)

    def _runs(self, norm: str) -> list[_Run]:
        """The list separators of a sentence; adjacent connectors (", and") make one."""
        runs: list[_Run] = []
        for m in self._connector_re.finditer(norm):
            start, conj, comma = m.start(), m.group(0) in self._conjunctions, "," in m.group(0)
            if runs and not norm[runs[-1].end:m.start()].strip():
                last = runs.pop()
                start, conj, comma = last.start, conj or last.conjunction, comma or last.comma
            runs.append(_Run(start, m.end(), conj, comma))
        return runs


class SentenceContext:
    """The cues found in one sentence, ready to be asked about targets."""

    def __init__(self, engine: ContextEngine, norm: str, idx: list[int], cues: list[tuple[int, int, Cue]],
                 terms: list[int], words: list[int], runs: list[_Run], breakers: tuple[list[int], list[int]],
                 targets: list[tuple[int, int]]) -> None:
        self.engine, self.norm, self.idx, self.cues, self.terms, self.words = engine, norm, idx, cues, terms, words
        self.runs, self.run_starts, self.targets = runs, [r.start for r in runs], targets
        # where main verbs and subject pronouns stand; and where those or auxiliaries do
        self.breakers, self.clause_words = breakers

    def _pos(self, original_offset: int) -> int:
        return bisect.bisect_left(self.idx, original_offset)

    def _nwords(self, a: int, b: int) -> int:
        return bisect.bisect_left(self.words, b) - bisect.bisect_left(self.words, a)

    @staticmethod
    def _any_in(points: list[int], a: int, b: int) -> bool:
        i = bisect.bisect_left(points, a)
        return i < len(points) and points[i] < b

    def categories(self, start: int, end: int) -> list[str]:
        """Context categories applying to the target at [start, end) (offsets within the sentence)."""
        ts, te = self._pos(start), self._pos(end)
        found = []
        for cs, ce, cue in self.cues:
            if cs < te and ce > ts:
                # the cue is part of the target itself ("non-Hodgkin lymphoma"), unless it begins
                # before the target and only its last words are the target's ("no history of" +
                # the term "history of trauma")
                if cs < ts and cue.direction in ("forward", "both") and cue.window > 0:
                    found.append(cue.category)
                continue
            if ce <= ts and cue.direction in ("forward", "both") and self._reaches(ce, ts, cue, True):
                found.append(cue.category)
            elif cs >= te and cue.direction in ("backward", "both") and self._reaches(te, cs, cue, False):
                found.append(cue.category)
        return found

    def _reaches(self, a: int, b: int, cue: Cue, forward: bool) -> bool:
        """Whether the cue's scope covers the gap [a, b) between it and a target."""
        if self._any_in(self.terms, a, b) or (forward and self._new_predicate(a, b)):
            return False
        if self._nwords(a, b) > cue.window and (cue.window <= self.engine.word_window
                                                 or not self._over_list(a, b, cue.window, forward)):
            return False
        return not self._other_cue(a, b, cue, forward)

    def _new_predicate(self, a: int, b: int) -> bool:
        """A main verb or a subject after a comma or conjunction begins a new statement: "without
        treatment, the patient developed fever" (but "had not previously received" is the cue's
        own predicate)."""
        r = bisect.bisect_left(self.run_starts, a)
        return r < len(self.runs) and self.runs[r].end <= b and self._any_in(self.breakers, self.runs[r].end, b)

    def _over_list(self, a: int, b: int, window: int, forward: bool) -> bool:
        """The gap is the cue's own words (within the window), then a list up to the target.

        "no fever, cough, ..., or chest pain": the piece next to the cue ("fever") is held to
        the window, every other piece must be a list item, and the piece next to the target
        (its modifiers: "severe" chest pain) too."""
        lo, hi = bisect.bisect_left(self.run_starts, a), bisect.bisect_left(self.run_starts, b)
        runs = [r for r in self.runs[lo:hi] if r.end <= b]
        if not runs:
            return False
        # a list coordinates once: in "A and B, and C ..." the ", and" begins a new clause
        if any(r.comma and r.conjunction and any(q.conjunction for q in runs[:i]) for i, r in enumerate(runs)):
            return False
        bounds = [a] + [x for r in runs for x in (r.start, r.end)] + [b]
        pieces = list(zip(bounds[::2], bounds[1::2], strict=True))
        near, items = (pieces[0], pieces[1:]) if forward else (pieces[-1], pieces[:-1])
        if self._nwords(*near) > window:
            return False
        # a forward cue's own words may hold its verb ("had not received chemotherapy, ..."); a
        # backward cue follows the list's auxiliary ("... were absent") but no other verb ("X
        # and underwent Y due to a suspected Z")
        if not forward and self._any_in(self.breakers, *near):
            return False
        return all(self._item(s, e) for s, e in items)

    def _item(self, a: int, b: int) -> bool:
        """A list member: no clause word, and short or made of targets (and filler words)."""
        if self._any_in(self.clause_words, a, b):
            return False
        if self._nwords(a, b) <= self.engine.max_item_words:
            return True
        if not self.targets:
            return False
        inside = [(s, e) for s, e in self.targets if s < b and e > a]
        return all(any(s <= w.start() < e for s, e in inside) or w.group(0) in self.engine.fillers
                   for w in _WORD.finditer(self.norm, a, b))

    def _other_cue(self, a: int, b: int, cue: Cue, forward: bool) -> bool:
        """A scope ends where a cue of another kind begins (ConText's termination by a new trigger),
        unless that cue only qualifies a word ("hepatitis B vaccination") or continues this one
        ("no recent history of")."""
        fillers, continues, word = self.engine.fillers, self.engine.continues, self.engine.word_window
        return any(a <= s and e <= b and c.category != cue.category and c.window > word
                   and not (c.category in continues and forward
                            and all(w in fillers for w in self.norm[a:s].split()))
                   for s, e, c in self.cues)

    def assertion(self, start: int, end: int) -> tuple[Assertion, bool]:
        """(assertion, about_someone_else) for the target at [start, end)."""
        cats = set(self.categories(start, end))
        other = "other_subject" in cats
        for cat in PRIORITY:
            if cat in cats and cat in _TO_ASSERTION:
                return _TO_ASSERTION[cat], other
        return Assertion.PRESENT, other
