"""The document as a whole: which sentences may speak about the patient(s), how many patients
the text describes individually, and whose each sentence is."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..model import DocumentKind
from ._rules import Rules
from ._state import NO_END, PatientState
from ._text import Sentence

FACT_SECTIONS = {"body", "case", "abstract"}
_ORDINALS = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6"}


@dataclass(frozen=True, slots=True)
class Triage:
    """What kind of text this is and the patients it describes (none for a cohort or a review)."""

    kind: DocumentKind
    patients: tuple[PatientState, ...]
    warnings: tuple[str, ...] = ()


_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def is_prose(rules: Rules, text: str, words: list[str] | None = None) -> bool:
    """False for a run of capitalised words that no sentence is made of: a web page's menus, a
    journal's list of titles, an author list ("Genetics & Medicine Bookshelf Influenza Virus ..."),
    an index's subject headings with their qualifiers."""
    if "/" in text and len(rules.mesh_heading.findall(text)) >= 2:
        return False        # an index's subject headings: "Arthritis/diagnosis Celiac Disease/etiology"
    min_words, share = rules.not_prose
    words = _WORD.findall(text) if words is None else words
    if not min_words or len(words) < min_words:
        return True
    return sum(w[0].isupper() for w in words) < share * len(words)


def is_english(rules: Rules, text: str, words: list[str] | None = None) -> bool:
    """False for a sentence in another language (an abstract's translation, "Os testes para HIV foram
    negativos"): the cues and the vocabulary are English, so its negations would be lost."""
    lower = [w.lower() for w in (_WORD.findall(text) if words is None else words)]
    foreign = sum(w in rules.foreign_words for w in lower)
    return foreign < 2 or foreign <= sum(w in rules.english_words for w in lower)


def eligible(rules: Rules, s: Sentence) -> bool:
    """May this sentence assert anything about the index patient(s)?"""
    if s.section in ("skip", "figure"):
        return False
    words = _WORD.findall(s.text)
    if s.section != "title" and not is_prose(rules, s.text, words) or not is_english(rules, s.text, words):
        return False
    index = bool(rules.index_phrases.search(s.text))
    cited = any(p.search(s.text) for p in rules.cited)
    if s.section in ("general", "discussion"):
        return index and not cited
    if cited and not index:
        return False
    if any(p.search(s.text) for p in rules.literature) and not index:
        return bool(rules.intro.search(s.text))
    if s.section != "title" and any(p.search(s.text) for p in rules.general):
        return index or bool(rules.patient_ref.search(s.text) or rules.intro.search(s.text))
    return True


def drop_background(rules: Rules, text: str, sentences: list[Sentence], ok: list[bool]) -> None:
    """In a summary paragraph, what comes before the patient is introduced is background knowledge."""
    by_section: dict[tuple[str, int], list[int]] = {}
    section_id = 0
    prev = None
    for i, s in enumerate(sentences):
        if prev is not None and (s.section != prev.section or "\n\n" in text[prev.end:s.start]):
            section_id += 1
        prev = s
        by_section.setdefault((s.section, section_id), []).append(i)
    for (kind, _), idxs in by_section.items():
        if kind not in ("body", "abstract"):
            continue
        first = next((i for i in idxs if rules.intro.search(sentences[i].text)
                      or rules.single_case.search(sentences[i].text) or rules.markers.search(sentences[i].text)),
                     None)
        if first is None:
            continue
        for i in idxs:
            if i >= first:
                break
            if not rules.index_phrases.search(sentences[i].text):
                ok[i] = False


def discussion_lead(rules: Rules, sentences: list[Sentence], ok: list[bool]) -> None:
    """The first sentences of a discussion that report the case in the past tense, before any general
    statement, are about the patient ("Biopsy of the lesion showed lymphoma. PET showed no uptake.")."""
    prev: tuple[str, str] = ("", "")
    leading = False
    for i, s in enumerate(sentences):
        if (s.section, s.heading) != prev:
            leading = s.section == "discussion" and bool(rules.discussion_heading.match(s.heading))
            prev = (s.section, s.heading)
        if not leading:
            continue
        general = any(p.search(s.text) for p in (*rules.general, *rules.literature, *rules.cited))
        if general or not rules.discussion_lead.search(s.text):
            leading = False
            continue
        ok[i] = True


def triage(rules: Rules, text: str, sentences: list[Sentence], ok: list[bool]) -> Triage:
    """Single case, case series (one patient per marker or introduction), cohort or review."""
    factual = [s for s, good in zip(sentences, ok, strict=True) if good and s.section in FACT_SECTIONS]
    markers: dict[str, int] = {}
    for s in factual:
        # a section headed "Case 2" or "Patient B" opens that patient's part (the heading is no sentence)
        for m in rules.markers.finditer(s.heading):
            label = next((g for g in m.groups() if g), "")
            markers.setdefault(_ORDINALS.get(label.lower(), label), s.start)
        for m in rules.markers.finditer(s.text):
            label = next((g for g in m.groups() if g), "")
            markers.setdefault(_ORDINALS.get(label.lower(), label), s.start + m.start())
    if len(markers) >= 2:
        starts = sorted(markers.items(), key=lambda kv: kv[1])
        return Triage(DocumentKind.CASE_SERIES, tuple(
            PatientState(i, f"Case {num}", pos, starts[i + 1][1] if i + 1 < len(starts) else NO_END)
            for i, (num, pos) in enumerate(starts)))
    intros = [(s, m) for s in factual for m in rules.intro.finditer(s.text)]
    if len({m.group("age") for _, m in intros}) >= 2:
        # several patients introduced one after the other, each at a sentence start
        firsts: list[tuple[str, int]] = []
        for s, m in intros:
            if m.start() <= 2 and m.group("age") not in {a for a, _ in firsts} and s.section != "abstract":
                firsts.append((m.group("age"), s.start))
        if len(firsts) >= 2:
            return Triage(DocumentKind.CASE_SERIES, tuple(
                PatientState(i, f"Patient {i + 1}", pos, firsts[i + 1][1] if i + 1 < len(firsts) else NO_END)
                for i, (_, pos) in enumerate(firsts)))
    if intros or any(rules.single_case.search(s.text) or (s.section == "case" and rules.patient_header.search(s.text))
                     for s in factual):
        return Triage(DocumentKind.SINGLE_CASE, (PatientState(0),))
    # a case section that speaks of "the patient", "she", "he": one patient, age not given; so does
    # any text that speaks of one and shows no sign of aggregating patients
    aggregate = rules.cohort.search(text)
    if any((s.section == "case" or not aggregate) and rules.patient_ref.search(s.text) for s in factual):
        return Triage(DocumentKind.SINGLE_CASE, (PatientState(0),))
    # a case section ("Presentation", "Patient data") in a text that, outside its discussion, says
    # nothing of patients in general or in number: one patient ("3-day history of leg weakness.")
    if any(s.section == "case" for s in factual) and not any(
            rules.cohort.search(s.text) or any(p.search(s.text) for p in rules.literature)
            for s in sentences if s.section not in ("discussion", "skip")):
        return Triage(DocumentKind.SINGLE_CASE, (PatientState(0),))
    if aggregate:
        return Triage(DocumentKind.COHORT, (),
                      ("no individually described patient: aggregate study, no Patient written",))
    return Triage(DocumentKind.REVIEW, (), ("no individually described patient: review, no Patient written",))


def owner(patients: tuple[PatientState, ...], s: Sentence) -> PatientState | None:
    """The patient a sentence speaks about: the only one, or the one whose part of the text it is in."""
    if len(patients) == 1:
        return patients[0]
    if s.section == "title":
        return None
    for p in patients:
        if p.start <= s.start < p.end:
            return p
    return None
