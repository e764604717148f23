"""The extraction rules compiled once per Mappings: every word list of ``mappings/*.yaml`` as a pattern.

Compiling is the slow part (hundreds of alternations); the result is read-only and shared by
every document and thread, so per-document state never lives here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ExtractError
from ..mappings import Mappings
from ._context import ContextEngine
from ._text import section_patterns
from ._values import UnitReader


def words_re(words: list[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation, longest first."""
    alts = sorted((re.escape(w) for w in words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts or ["(?!)"]) + r")\b", re.I)


class AnyOf:
    """Several patterns read as one: the earliest match of any (each has the same named groups)."""

    def __init__(self, patterns: list[re.Pattern[str]]) -> None:
        self.patterns = patterns

    def search(self, text: str) -> re.Match[str] | None:
        found = [m for m in (p.search(text) for p in self.patterns) if m]
        return min(found, key=lambda m: m.start()) if found else None

    def finditer(self, text: str) -> list[re.Match[str]]:
        return sorted((m for p in self.patterns for m in p.finditer(text)), key=lambda m: m.start())


def _patterns(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _need(rules: dict[str, Any], name: str) -> Any:
    if name not in rules:
        raise ExtractError(f"mappings file {name}.yaml is missing; reinstall fhirconv or restore the file")
    return rules[name]


@dataclass(frozen=True)
class Rules:
    sections: dict[str, Any]
    context: ContextEngine
    literature: list[re.Pattern[str]]
    cited: list[re.Pattern[str]]
    general: list[re.Pattern[str]]
    patient_ref: re.Pattern[str]
    index_phrases: re.Pattern[str]
    age: list[re.Pattern[str]]
    age_units: dict[str, str]
    number_words: dict[str, int]
    intro: AnyOf
    other_person: re.Pattern[str]
    markers: re.Pattern[str]
    cohort: re.Pattern[str]
    single_case: re.Pattern[str]
    patient_header: re.Pattern[str]
    discussion_lead: re.Pattern[str]
    discussion_heading: re.Pattern[str]
    sex_words: dict[str, str]
    sex_re: re.Pattern[str]
    sex_letters: dict[str, str]
    deceased: list[re.Pattern[str]]
    survived: re.Pattern[str]
    metastasis: re.Pattern[str]
    metastasis_pseudo: re.Pattern[str]
    metastasis_strong: frozenset[str]
    metastasis_with_primary: frozenset[str]
    site_links: frozenset[str]
    laterality: dict[str, str]
    relapse: re.Pattern[str]
    organism: re.Pattern[str]
    status_words: dict[str, re.Pattern[str]]
    discontinued: re.Pattern[str]
    results: dict[str, list[str]]
    results_before: dict[str, list[str]]
    results_of_all: re.Pattern[str]
    results_of_all_except: re.Pattern[str]
    enlarged_words: re.Pattern[str]
    enlarged_kinds: dict[str, str]
    disseminated: re.Pattern[str]
    samples: list[tuple[str, re.Pattern[str]]]
    site_verbs: frozenset[str]
    measured_by: dict[str, str]
    unit_implies: dict[str, str]
    exam_result: re.Pattern[str]
    exam_act: re.Pattern[str]
    exam_repeat: re.Pattern[str]
    site_modifiers: frozenset[str]
    mass_words: re.Pattern[str]
    initial_diagnosis: re.Pattern[str]
    score_pattern: re.Pattern[str]
    treatment_context: re.Pattern[str]
    treatment_dose: re.Pattern[str]
    score_results: dict[str, dict[str, str]]
    revised_diagnosis: re.Pattern[str]
    units: UnitReader
    not_prose: tuple[int, float]
    mesh_heading: re.Pattern[str]
    english_words: frozenset[str]
    foreign_words: frozenset[str]

    @classmethod
    def compile(cls, mappings: Mappings) -> Rules:
        r = mappings.rules
        ctx, sec, subj, rel = (_need(r, n) for n in ("context", "sections", "subject", "relations"))
        section_patterns(sec)       # compiled now: a heading pattern that does not compile fails here
        lat: dict[str, str] = {}
        for side, words in rel.get("laterality", {}).items():
            for w in words:
                lat[w.lower()] = side
        sex_words = {w.lower(): s for s, ws in subj.get("sex", {}).items() for w in ws}
        number_words = {str(k).lower(): int(v) for k, v in subj.get("number_words", {}).items()}
        tens = [w for w, v in number_words.items() if v >= 20]
        units = [w for w, v in number_words.items() if v < 10]
        number = "(?:(?:" + "|".join(tens) + r")(?:[\s-](?:" + "|".join(units) + "))?|" + "|".join(
            w for w, v in number_words.items() if v < 20) + ")"

        def pat(p: str) -> str:
            return p.replace("{number}", number)

        def lower_set(name: str) -> frozenset[str]:
            return frozenset(w.lower() for w in rel.get(name, []))

        return cls(
            sections=sec,
            context=ContextEngine(ctx),
            literature=[re.compile(p, re.I) for p in ctx.get("literature", {}).get("patterns", [])],
            cited=[re.compile(p, re.I) for p in ctx.get("literature", {}).get("cited", [])],
            general=[re.compile(p, re.I) for p in ctx.get("general", [])],
            patient_ref=re.compile(ctx.get("patient_reference", r"(?!)"), re.I),
            index_phrases=words_re(ctx.get("index_patient", [])),
            age=[re.compile(pat(p), re.I) for p in subj.get("age", [])],
            age_units=subj.get("age_units", {}),
            number_words=number_words,
            intro=AnyOf([re.compile(pat(p), re.I) for p in _patterns(subj.get("intro"))]),
            other_person=re.compile("|".join(pat(p) for p in _patterns(subj.get("other_person"))) or r"(?!)", re.I),
            markers=re.compile(sec.get("patient_markers", r"(?!)"), re.I),
            cohort=re.compile(sec.get("cohort", r"(?!)"), re.I),
            single_case=re.compile(sec.get("single_case", r"(?!)"), re.I),
            patient_header=re.compile(sec.get("patient_header", r"(?!)"), re.I),
            discussion_lead=re.compile(sec.get("discussion_lead", r"(?!)"), re.I),
            discussion_heading=re.compile(sec.get("discussion_heading", r"(?!)"), re.I),
            sex_words=sex_words,
            sex_re=words_re(list(sex_words)),
            sex_letters={str(k).lower(): v for k, v in subj.get("sex_letters", {}).items()},
            deceased=[re.compile(p, re.I) for p in subj.get("deceased", [])],
            survived=re.compile(subj.get("survived_until", r"(?!)"), re.I),
            metastasis=words_re(rel.get("metastasis_words", [])),
            metastasis_pseudo=re.compile(rel.get("metastasis_pseudo") or r"(?!)", re.I),
            metastasis_strong=lower_set("metastasis_strong"),
            metastasis_with_primary=lower_set("metastasis_with_primary"),
            site_links=lower_set("site_links"),
            laterality=lat,
            relapse=words_re(rel.get("relapse", [])),
            organism=re.compile(rel.get("organism_result", r"(?!)")),
            status_words={k: words_re(v) for k, v in rel.get("clinical_status_words", {}).items()},
            discontinued=words_re(rel.get("discontinued", [])),
            results=rel.get("result_words", {}),
            results_before=rel.get("result_words_before", {}),
            results_of_all=re.compile(rel.get("results_of_all", r"(?!)"), re.I),
            results_of_all_except=re.compile(rel.get("results_of_all_except", r"(?!)"), re.I),
            enlarged_words=words_re(rel.get("enlarged_site", {}).get("words", [])),
            enlarged_kinds=rel.get("enlarged_site", {}).get("kinds", {}),
            disseminated=re.compile(rel.get("disseminated", r"(?!)"), re.I),
            samples=[(name, re.compile(rx, re.I)) for name, rx in r.get("lab_names", {}).get("samples", {}).items()],
            site_verbs=lower_set("site_verbs"),
            measured_by=rel.get("measured_by", {}),
            unit_implies=rel.get("unit_implies", {}),
            exam_result=words_re(rel.get("exam_result_verbs", [])),
            exam_act=words_re(rel.get("exam_act_verbs", [])),
            exam_repeat=words_re(rel.get("exam_repeat", [])),
            site_modifiers=lower_set("site_modifiers"),
            mass_words=words_re(rel.get("mass_words", [])),
            initial_diagnosis=re.compile(rel.get("initial_diagnosis", r"(?!)"), re.I),
            score_pattern=re.compile(rel.get("score_pattern", r"(?!)"), re.I),
            treatment_context=re.compile(rel.get("treatment_context", r"(?!)"), re.I),
            treatment_dose=re.compile(rel.get("treatment_dose", r"(?!)")),
            score_results={k: {str(a): b for a, b in v.items()} for k, v in rel.get("score_results", {}).items()},
            revised_diagnosis=re.compile(rel.get("revised_diagnosis", r"(?!)"), re.I),
            units=UnitReader(list(mappings.category("unit"))),
            not_prose=(int(sec.get("not_prose", {}).get("min_words", 0)),
                       float(sec.get("not_prose", {}).get("capitalised_share", 1.01))),
            mesh_heading=re.compile(r"[A-Za-z)]/(?:" + "|".join(
                re.escape(q) for q in sec.get("not_prose", {}).get("heading_qualifiers", [])) + r")\b\*?"
                if sec.get("not_prose", {}).get("heading_qualifiers") else r"(?!)"),
            english_words=frozenset(w.lower() for w in sec.get("language", {}).get("english", [])),
            foreign_words=frozenset(w.lower() for w in sec.get("language", {}).get("foreign", [])),
        )
