"""Turning sentences into facts: the rules, all driven by the mappings' terms and cue lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExtractError
from ..mappings import Concept, Mappings, Match
from ..model import Assertion, DocumentKind, Extraction, Fact, PatientFacts, SourceDocument, Span
from ._context import ContextEngine, SentenceContext
from ._text import Section, Sentence, split_sections, split_sentences
from ._values import UnitReader, find_age, find_dates, qualitative, quantities, resolve_date

CATEGORIES = ("disorder", "finding", "body_site", "lab", "modality", "procedure", "medication")
_CATEGORY_RANK = {c: i for i, c in enumerate(("disorder", "finding", "lab", "procedure", "medication", "modality",
                                               "body_site"))}
FACT_SECTIONS = {"body", "case", "abstract"}
_CONNECTOR = re.compile(r"^[\s,()]*(?:and|or|,|/|&)?[\s,()]*(?:the\s+|serum\s+)?$", re.I)
_GUIDED = re.compile(r"^[\s-]*(?:guided|guidance)\b|^\s*[-]?guided", re.I)
# between a modality and the region examined: "CT (scan) of the chest, abdomen and pelvis"
_REGION_GAP = re.compile(r"\s*(?:\(\w+\)\s*)?(?:scan\s+)?(?:of|to)\s+(?:the\s+|her\s+|his\s+)?"
                         r"|\s*,\s*|\s*(?:,\s*)?and\s+(?:the\s+)?")
_ORDINAL = re.compile(r"\b\d+(?:st|nd|rd|th)\b")


def _gap_words(gap: str) -> list[str]:
    """The words between a term and a site, ordinals left out ("of the right 4th metatarsal")."""
    return re.findall(r"[a-z]+", _ORDINAL.sub(" ", gap.lower()))


# a word right after these is the end of a prepositional phrase, not a modifier of what follows
_ENDS_PHRASE = re.compile(r"\b(?:in|of|on|at|to|from|into|within)\s+(?:the\s+|both\s+|his\s+|her\s+)?"
                          r"(?:left|right|bilateral)?\s*$", re.I)
_GUIDANCE_BEFORE = re.compile(r"\bunder\s+(?:\w+\s+)?$", re.I)


@dataclass
class _Patient:
    index: int
    label: str = ""
    start: int = 0
    end: int = 1 << 60
    sex: tuple[str, Span] | None = None
    age: tuple[float, str, Span] | None = None
    facts: list[Fact] = field(default_factory=list)
    last_exam: tuple[int, str] | None = None
    lesions: list[tuple[int, str | None, tuple[tuple[str, str | None], ...]]] = field(default_factory=list)
    # qualitative tests named without a result, and the sentence naming them: a result given for
    # "all tests" in the next sentence is theirs
    open_tests: list[tuple[int, str, str, Span, str, tuple[tuple[str, Any], ...]]] = field(
        default_factory=list)


@dataclass
class _Rules:
    sections: dict[str, Any]
    context: ContextEngine
    literature: list[re.Pattern[str]]
    general: list[re.Pattern[str]]
    patient_ref: re.Pattern[str]
    index_phrases: re.Pattern[str]
    age: list[re.Pattern[str]]
    age_units: dict[str, str]
    intro: re.Pattern[str]
    markers: re.Pattern[str]
    cohort: re.Pattern[str]
    single_case: re.Pattern[str]
    sex_words: dict[str, str]
    deceased: list[re.Pattern[str]]
    survived: re.Pattern[str]
    metastasis: re.Pattern[str]
    metastasis_strong: set[str]
    metastasis_with_primary: set[str]
    site_links: set[str]
    laterality: dict[str, str]
    relapse: re.Pattern[str]
    organism: re.Pattern[str]
    status_words: dict[str, re.Pattern[str]]
    discontinued: re.Pattern[str]
    results: dict[str, list[str]]
    results_before: dict[str, list[str]]
    results_of_all: re.Pattern[str]
    enlarged_words: re.Pattern[str]
    disseminated: re.Pattern[str]
    specimens: list[tuple[re.Pattern[str], dict[str, str]]]
    site_verbs: set[str]
    enlarged_kinds: dict[str, str]
    results_of_all_except: re.Pattern[str]
    measured_by: dict[str, str]
    unit_implies: dict[str, str]
    exam_result: re.Pattern[str]
    site_modifiers: set[str]
    mass_words: re.Pattern[str]
    exam_act: re.Pattern[str]
    exam_repeat: re.Pattern[str]


def _words_re(words: list[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(w) for w in words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts or ["(?!)"]) + r")\b", re.I)


def _need(rules: dict[str, Any], name: str) -> Any:
    if name not in rules:
        raise ExtractError(f"mappings file {name}.yaml is missing; reinstall fhirconv or restore the file")
    return rules[name]


class Extractor:
    """Compiled rules for one Mappings; reusable across documents."""

    @classmethod
    def for_mappings(cls, mappings: Mappings) -> Extractor:
        """The extractor compiled for these mappings, built on first use and kept with them."""
        found = mappings.derived.get("extractor")
        if not isinstance(found, cls):
            found = mappings.derived["extractor"] = cls(mappings)
        return found

    def __init__(self, mappings: Mappings) -> None:
        self.maps = mappings
        r = mappings.rules
        ctx, sec, subj, rel = (_need(r, n) for n in ("context", "sections", "subject", "relations"))
        lat: dict[str, str] = {}
        for side, words in rel.get("laterality", {}).items():
            for w in words:
                lat[w.lower()] = side
        sex_words = {w.lower(): s for s, ws in subj.get("sex", {}).items() for w in ws}
        self.number_words = {str(k).lower(): int(v) for k, v in subj.get("number_words", {}).items()}
        tens = [w for w, v in self.number_words.items() if v >= 20]
        units = [w for w, v in self.number_words.items() if v < 10]
        number = "(?:(?:" + "|".join(tens) + r")(?:[\s-](?:" + "|".join(units) + "))?|" + "|".join(
            w for w, v in self.number_words.items() if v < 20) + ")"

        def pat(p: str) -> str:
            return p.replace("{number}", number)

        self.rules = _Rules(
            sections=sec,
            context=ContextEngine(ctx),
            literature=[re.compile(p, re.I) for p in ctx.get("literature", {}).get("patterns", [])],
            general=[re.compile(p, re.I) for p in ctx.get("general", [])],
            patient_ref=re.compile(ctx.get("patient_reference", r"(?!)"), re.I),
            index_phrases=_words_re(ctx.get("index_patient", [])),
            age=[re.compile(pat(p), re.I) for p in subj.get("age", [])],
            age_units=subj.get("age_units", {}),
            intro=re.compile(pat(subj.get("intro", r"(?!)")), re.I),
            markers=re.compile(sec.get("patient_markers", r"(?!)"), re.I),
            cohort=re.compile(sec.get("cohort", r"(?!)"), re.I),
            single_case=re.compile(sec.get("single_case", r"(?!)"), re.I),
            sex_words=sex_words,
            deceased=[re.compile(p, re.I) for p in subj.get("deceased", [])],
            survived=re.compile(subj.get("survived_until", r"(?!)"), re.I),
            metastasis=_words_re(rel.get("metastasis_words", [])),
            metastasis_strong={w.lower() for w in rel.get("metastasis_strong", [])},
            metastasis_with_primary={w.lower() for w in rel.get("metastasis_with_primary", [])},
            site_links={w.lower() for w in rel.get("site_links", [])},
            laterality=lat,
            relapse=_words_re(rel.get("relapse", [])),
            organism=re.compile(rel.get("organism_result", r"(?!)")),
            status_words={k: _words_re(v) for k, v in rel.get("clinical_status_words", {}).items()},
            discontinued=_words_re(rel.get("discontinued", [])),
            results=rel.get("result_words", {}),
            results_before={k: [p + "" for p in v] for k, v in rel.get("result_words_before", {}).items()},
            results_of_all=re.compile(rel.get("results_of_all", r"(?!)"), re.I),
            enlarged_words=_words_re(rel.get("enlarged_site", {}).get("words", [])),
            site_verbs={w.lower() for w in rel.get("site_verbs", [])},
            disseminated=re.compile(rel.get("disseminated", r"(?!)"), re.I),
            specimens=[(re.compile(sp["words"], re.I), dict(sp.get("analytes", {})))
                       for sp in rel.get("specimen_context", [])],
            enlarged_kinds=rel.get("enlarged_site", {}).get("kinds", {}),
            results_of_all_except=re.compile(rel.get("results_of_all_except", r"(?!)"), re.I),
            measured_by=rel.get("measured_by", {}),
            unit_implies=rel.get("unit_implies", {}),
            exam_result=_words_re(rel.get("exam_result_verbs", [])),
            site_modifiers={w.lower() for w in rel.get("site_modifiers", [])},
            mass_words=_words_re(rel.get("mass_words", [])),
            exam_act=_words_re(rel.get("exam_act_verbs", [])),
            exam_repeat=_words_re(rel.get("exam_repeat", [])),
        )
        # body sites are matched on their own: they sit inside disease names ("breast cancer")
        self.matcher = mappings.matcher(*(c for c in CATEGORIES if c != "body_site"))
        self.site_matcher = mappings.matcher("body_site")
        self.units = UnitReader(list(mappings.category("unit")))
        self._sex_re = _words_re(list(sex_words))
        # site-specific forms of generic findings: (category, kind, site) → concept ("mass" + breast → breast mass);
        # of several, the coded one with the shortest name: the most general ("Thyroid nodule")
        self._by_kind_site: dict[tuple[str, str, str], str] = {}
        self._term_spans: list[tuple[int, int]] = []     # the current sentence's terms other than sites
        for c in sorted(mappings.concepts.values(), key=lambda c: (not c.coded, len(c.display), c.key)):
            if c.attr("kind") and c.attr("site"):
                self._by_kind_site.setdefault((c.category, c.attr("kind") or "", c.attr("site") or ""), c.key)
        for c in sorted(mappings.concepts.values(), key=lambda c: (not c.coded, len(c.display), c.key)):
            for more in (c.attr("sites") or "").split(",") if c.attr("kind") else ():
                if more.strip():
                    self._by_kind_site.setdefault((c.category, c.attr("kind") or "", more.strip()), c.key)
        self._lat_re = _words_re(list(lat))

    # ------------------------------------------------------------------ document level
    def run(self, doc: SourceDocument) -> Extraction:
        text = doc.text
        self._text = text
        self._abbrev: dict[str, tuple[str, ...]] = {}
        self._sides: dict[int, dict[str, set[str]]] = {}
        sections = split_sections(text, self.rules.sections)
        sentences = split_sentences(text, sections)
        has_case = any(s.kind == "case" for s in sections)
        eligible = [self._eligible(s) for s in sentences]
        self._drop_background(sentences, eligible)
        patients, kind, warnings = self._triage(text, sentences, eligible)
        if not patients:
            return Extraction(doc, kind, (), tuple(warnings), _section_spans(doc, sections))
        anchor: int | None = None
        for sent, ok in zip(sentences, eligible, strict=True):
            dates = []
            for s, e, dkind, raw in find_dates(sent.text):
                iso, year = resolve_date(dkind, raw, anchor)
                if year:
                    anchor = year
                if iso:
                    dates.append((s, e, iso))
            if not ok:
                continue
            owner = self._owner(patients, sent)
            if owner is None:
                continue
            self._sentence(doc, sent, owner, dates, has_case)
        out = []
        for p in patients:
            facts = _dedupe(self._demographics(doc, p) + self._settle(p))
            out.append(PatientFacts(p.index, p.label, tuple(facts)))
        return Extraction(doc, kind, tuple(out), tuple(warnings), _section_spans(doc, sections))

    def _eligible(self, s: Sentence) -> bool:
        """May this sentence assert anything about the index patient(s)?"""
        if s.section in ("skip", "figure"):
            return False
        index = bool(self.rules.index_phrases.search(s.text))
        if s.section in ("general", "discussion"):
            return index and not any(p.search(s.text) for p in self.rules.literature[:1])
        if any(p.search(s.text) for p in self.rules.literature) and not index:
            return bool(self.rules.intro.search(s.text)) and not self.rules.literature[0].search(s.text)
        if s.section != "title" and any(p.search(s.text) for p in self.rules.general):
            return index or bool(self.rules.patient_ref.search(s.text) or self.rules.intro.search(s.text))
        return True

    def _drop_background(self, sentences: list[Sentence], eligible: list[bool]) -> None:
        """In a summary paragraph, what comes before the patient is introduced is background knowledge."""
        r = self.rules
        by_section: dict[tuple[str, int], list[int]] = {}
        section_id = 0
        prev = None
        for i, s in enumerate(sentences):
            if prev is not None and (s.section != prev.section or "\n\n" in self._text[prev.end:s.start]):
                section_id += 1
            prev = s
            by_section.setdefault((s.section, section_id), []).append(i)
        for (kind, _), idxs in by_section.items():
            if kind not in ("body", "abstract"):
                continue
            first = next((i for i in idxs if r.intro.search(sentences[i].text)
                          or r.single_case.search(sentences[i].text) or r.markers.search(sentences[i].text)), None)
            if first is None:
                continue
            for i in idxs:
                if i >= first:
                    break
                if not r.index_phrases.search(sentences[i].text):
                    eligible[i] = False

    def _triage(self, text: str, sentences: list[Sentence], eligible: list[bool]
                ) -> tuple[list[_Patient], DocumentKind, list[str]]:
        r = self.rules
        factual = [s for s, ok in zip(sentences, eligible, strict=True) if ok and s.section in FACT_SECTIONS]
        markers: dict[str, int] = {}
        ordinals = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6"}
        for s in factual:
            for m in r.markers.finditer(s.text):
                label = next((g for g in m.groups() if g), "")
                markers.setdefault(ordinals.get(label.lower(), label), s.start + m.start())
        if len(markers) >= 2:
            starts = sorted(markers.items(), key=lambda kv: kv[1])
            patients = []
            for i, (num, pos) in enumerate(starts):
                end = starts[i + 1][1] if i + 1 < len(starts) else 1 << 60
                patients.append(_Patient(i, f"Case {num}", pos, end))
            return patients, DocumentKind.CASE_SERIES, []
        intros = []
        for s in factual:
            for m in r.intro.finditer(s.text):
                intros.append((s, m))
        ages = {m.group(1) for _, m in intros}
        if len(ages) >= 2:
            # several patients introduced one after the other, each at a sentence start
            firsts: list[tuple[str, int]] = []
            for s, m in intros:
                if m.start() <= 2 and m.group(1) not in {a for a, _ in firsts} and s.section != "abstract":
                    firsts.append((m.group(1), s.start))
            if len(firsts) >= 2:
                patients = [_Patient(i, f"Patient {i + 1}", pos, firsts[i + 1][1] if i + 1 < len(firsts) else 1 << 60)
                            for i, (_, pos) in enumerate(firsts)]
                return patients, DocumentKind.CASE_SERIES, []
        if intros or any(r.single_case.search(s.text) for s in factual):
            return [_Patient(0, "")], DocumentKind.SINGLE_CASE, []
        # a case section that speaks of "the patient", "she", "he": one patient, age not given
        if any(s.section == "case" and r.patient_ref.search(s.text) for s in factual):
            return [_Patient(0, "")], DocumentKind.SINGLE_CASE, []
        if r.cohort.search(text):
            return [], DocumentKind.COHORT, ["no individually described patient: aggregate study, no Patient written"]
        return [], DocumentKind.REVIEW, ["no individually described patient: review, no Patient written"]

    @staticmethod
    def _owner(patients: list[_Patient], s: Sentence) -> _Patient | None:
        if len(patients) == 1:
            return patients[0] if s.section != "title" else patients[0]
        if s.section == "title":
            return None
        for p in patients:
            if p.start <= s.start < p.end:
                return p
        return None

    # ------------------------------------------------------------------ patient-level facts
    def _demographics(self, doc: SourceDocument, p: _Patient) -> list[Fact]:
        out: list[Fact] = []
        if p.sex:
            out.append(Fact("sex", "", p.sex[0], p.sex[1], p.index))
        if p.age:
            out.append(Fact("age", "", f"{p.age[0]:g} {p.age[1]}", p.age[2], p.index,
                            attrs=(("value", p.age[0]), ("unit", p.age[1]))))
        return out

    def _span(self, doc: SourceDocument, sent: Sentence, start: int, end: int) -> Span:
        return doc.to_original(sent.start + start, sent.start + end)

    def _sentence(self, doc: SourceDocument, sent: Sentence, p: _Patient,
                  dates: list[tuple[int, int, str]], has_case: bool) -> None:
        r = self.rules
        text = sent.text
        ctx = r.context.analyse(text)
        summary_only = sent.section == "title" or (sent.section == "abstract" and has_case)
        # age and sex from the introduction
        m = r.intro.search(text)
        if m and p.age is None:
            found = find_age(m.group(0), r.age, r.age_units, self.number_words)
            if found:
                p.age = (found[0], found[1], self._span(doc, sent, m.start(), m.end()))
            noun = m.group(2).lower()
            if noun in r.sex_words and p.sex is None:
                p.sex = (r.sex_words[noun], self._span(doc, sent, m.start(2), m.end(2)))
        if p.age is None and not summary_only:
            found = find_age(text, r.age, r.age_units, self.number_words)
            if found:
                p.age = (found[0], found[1], self._span(doc, sent, found[2], found[3]))
        if p.sex is None:
            for sm in self._sex_re.finditer(text):
                p.sex = (r.sex_words[sm.group(0).lower()], self._span(doc, sent, sm.start(), sm.end()))
                break
        if not summary_only:
            self._deceased(doc, sent, p, ctx, dates)
        matches = self._matches(text)
        self._matches_cache = matches
        self._term_spans = [(mt.start, mt.end) for mt in matches if self._cat(mt) != "body_site"]
        sites = [mt for mt in matches if self._cat(mt) == "body_site"]
        for st in sites:
            lat = self._site_laterality(text, st)
            if lat in ("left", "right"):
                self._note_side(p, self._site(st)[0], lat)
        labs: list[Match] = []
        modal_seen: set[str] = set()
        for mt in matches:
            cat = self._cat(mt)
            if cat == "body_site":
                continue
            assertion, other = ctx.assertion(mt.start, mt.end)
            if other:
                continue
            date = _nearest_date(dates, mt.start)
            key = self._key(mt, cat)
            concept = self.maps[key]
            span = self._span(doc, sent, mt.start, mt.end)
            base: list[tuple[str, Any]] = [("date", date)] if date else []
            if cat == "disorder":
                self._disorder(doc, sent, p, mt, concept, assertion, span, base, ctx, sites)
            elif cat == "finding":
                if concept.attr("absent") in self.maps.concepts:
                    # "afebrile": fever, absent ("not afebrile": present)
                    key = concept.attr("absent") or key
                    concept = self.maps[key]
                    assertion = {Assertion.PRESENT: Assertion.NEGATED, Assertion.NEGATED: Assertion.PRESENT}.get(
                        assertion, assertion)
                before_lat = self._laterality_before(text, mt.start)
                every = self._sites_after(text, mt, sites)
                if r.mass_words.search(text[mt.start:mt.end]):
                    # where a lesion is: used when a biopsy of it shows a metastasis; a site named
                    # inside the term itself ("scalp nodule") counts too
                    where = every or [self._site(st) for st in sites
                                      if mt.start <= st.start and st.end <= mt.end]
                    if where:
                        p.lesions.append((sent.index, concept.attr("site"), tuple(where)))
                # "masses in the abdominal wall, back and thigh": one finding at each site named
                places: list[tuple[str, str | None] | None] = list(every) or [None]
                for after in places:
                    lat, site, fkey = before_lat, concept.attr("site"), key
                    if after and (not site or self._within(after[0], site)):
                        site, lat = after[0], lat or after[1]
                    if site and concept.attr("kind") and site != concept.attr("site"):
                        fkey = self._specific(concept, site) or key
                    attrs = base + ([("laterality", lat)] if lat else []) + ([("body_site", site)] if site else [])
                    p.facts.append(Fact("finding", fkey, text[mt.start:mt.end], span, p.index, assertion,
                                        sent.section, tuple(attrs)))
            elif summary_only:
                continue
            elif cat == "lab":
                labs.append(mt)
            elif cat == "modality":
                self._imaging(doc, sent, p, mt, concept, assertion, span, base, sites, modal_seen)
            elif cat == "procedure":
                if assertion in (Assertion.PRESENT, Assertion.HISTORICAL):
                    lat = self._laterality_before(text, mt.start)
                    site = concept.attr("site")
                    p.facts.append(Fact("procedure", key, text[mt.start:mt.end], span, p.index, assertion,
                                        sent.section, tuple(base + ([("laterality", lat)] if lat else [])
                                                            + ([("body_site", site)] if site else []))))
            elif cat == "medication":
                if assertion in (Assertion.PRESENT, Assertion.HISTORICAL):
                    stopped = bool(r.discontinued.search(text[max(0, mt.start - 40):mt.start]))
                    p.facts.append(Fact("medication", key, text[mt.start:mt.end], span, p.index, assertion,
                                        sent.section, tuple(base + ([("status", "stopped")] if stopped else []))))
        if not summary_only or sent.section == "abstract":
            self._enlarged_sites(doc, sent, p, ctx, sites)
        self._results_of_all(sent, p)
        if labs:
            self._labs(doc, sent, p, labs, ctx, dates)
        if not summary_only:
            self._implied_labs(doc, sent, p, matches, dates)
        if not summary_only or sent.section == "abstract":
            self._metastases(doc, sent, p, ctx, sites, dates)

    def _matches(self, text: str) -> list[Match]:
        matches = self.matcher.find(text)
        # "squamous cell lung cancer (SCLC)": the text's own definition beats the dictionary's
        for m in re.finditer(r"\(([A-Z][A-Za-z0-9-]{1,9})\)|(?<=\w)/([A-Z]{2,6})\b", text):
            prev = [mt for mt in matches if mt.end <= m.start() and m.start() - mt.end <= 2]
            if prev:
                self._abbrev[m.group(1) or m.group(2)] = prev[-1].keys
        if self._abbrev:
            redone = []
            for mt in matches:
                word = text[mt.start:mt.end]
                if word in self._abbrev and self._abbrev[word] != mt.keys:
                    mt = Match(mt.start, mt.end, mt.term, self._abbrev[word])
                redone.append(mt)
            matches = redone
            known = {(mt.start, mt.end) for mt in matches}
            for word, keys in self._abbrev.items():
                for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
                    if not any(a <= m.start() < b for a, b in known):
                        matches.append(Match(m.start(), m.end(), word.lower(), keys))
        matches = matches + self.site_matcher.find(text)
        # coordinated heads: "estrogen and progesterone receptor" names two tests
        extra = []
        for mt in matches:
            head = mt.term.split(" ")
            before = text[max(0, mt.start - 40):mt.start]
            if len(head) < 2:
                # "mediastinal and retroperitoneal lymphadenopathy": each modifier with the head
                cm = re.search(r"\b([A-Za-z-]+)\s*(?:and|or|,)\s*([A-Za-z-]+)\s+$", before)
                if cm and cm.group(2).lower() not in ("a", "an", "the", "his", "her", "their", "its", "some") \
                        and not _ENDS_PHRASE.search(before[:cm.start(1)]):
                    for g in (1, 2):
                        cand = f"{cm.group(g)} {mt.term}"
                        found = self.matcher.find(cand)
                        if found and found[0].start == 0 and found[0].end == len(cand):
                            start = mt.start - len(before) + cm.start(g)
                            end = mt.end if g == 2 else start + len(cm.group(g))
                            extra.append(Match(start, end, found[0].term, found[0].keys))
                continue
            # "right cervical and left supraclavicular lymph nodes", "estrogen and progesterone receptor"
            cm = re.search(r"\b([A-Za-z0-9-]+)\s*(?:and|or|,|/)\s*(?:(?:left|right)\s+)?$", before)
            if not cm:
                continue
            if _ENDS_PHRASE.search(before[:cm.start(1)]):
                continue   # "a lump in the left breast and bone pain": 'breast' ends its own phrase
            cand = cm.group(1) + " " + " ".join(head[1:])
            matcher = self.site_matcher if self._cat(mt) == "body_site" else self.matcher
            found = matcher.find(cand)
            if found and found[0].start == 0 and found[0].end == len(cand):
                start = mt.start - len(before) + cm.start(1)
                extra.append(Match(start, start + len(cm.group(1)), found[0].term, found[0].keys))
        return sorted(matches + extra, key=lambda m: (m.start, -m.end))

    def _cat(self, mt: Match) -> str:
        cats = {k.split(".", 1)[0] for k in mt.keys}
        return min(cats, key=lambda c: _CATEGORY_RANK.get(c, 99))

    def _key(self, mt: Match, cat: str) -> str:
        keys = [k for k in mt.keys if k.startswith(cat + ".")]
        coded = [k for k in keys if self.maps[k].coded]
        return (coded or keys)[0]

    def _laterality_before(self, text: str, pos: int, words: int = 3) -> str | None:
        window = text[max(0, pos - 40):pos]
        toks = re.findall(r"[A-Za-z-]+", window)[-words:]
        for t in reversed(toks):
            side = self.rules.laterality.get(t.lower())
            if side:
                return side
            if t.lower() in ("and", "or", "with", "plus", "but"):
                return None     # "a lump in the left breast and bone pain": the side is the breast's
        return None

    def _site_after(self, text: str, mt: Match, sites: list[Match]) -> tuple[str, str | None] | None:
        """'lymphoma of the thyroid', 'thrombus in the right internal jugular vein' → (site, laterality)."""
        found = self._sites_after(text, mt, sites)
        return found[0] if found else None

    def _sites_after(self, text: str, mt: Match, sites: list[Match]) -> list[tuple[str, str | None]]:
        """Every site a phrase is 'of/in/on': 'nodules on her arms, thighs, and chest wall' → three sites."""
        r = self.rules
        out: list[tuple[str, str | None]] = []
        carried: str | None = None
        pos = mt.end
        for st in sites:
            if st.start < pos:
                continue
            gap = text[pos:st.start].lower()
            if len(gap) > 40 or re.search(r"[.;:()]", gap) or ("," in gap and not out):
                break
            toks = _gap_words(gap)
            # "nodules appeared on her arms", "a mass located in the thigh", "masses were felt in"
            while not out and len(toks) > 1 and (toks[0].endswith("ed") or toks[0] in r.site_verbs):
                toks = toks[1:]
            if not out and (not toks or toks[0] not in ("of", "in", "at", "on", "within", "involving", "over",
                                                        "from")):
                break
            if not all(t in r.site_links or t in r.laterality or t in r.site_modifiers or t in ("and", "or")
                       for t in toks):
                break
            if out and any(a <= st.start and st.end <= b and (a < st.start or st.end < b)
                           and (a, b) != (mt.start, mt.end) for a, b in self._term_spans):
                break           # "a lump in the left breast and bone pain": 'bone' belongs to 'bone pain'
            base, own = self._site(st)
            side = own or self._site_laterality(text, st) or next(
                (r.laterality[t] for t in toks if t in r.laterality), None)
            if side is None and out and carried and self.maps[base].attr("paired"):
                side = carried      # "in both breasts and axillae", "the left breast and axilla"
            carried = side if not out else carried
            out.append((base, side))
            pos = st.end
        return out

    def _site(self, site: Match) -> tuple[str, str | None]:
        """(general body-site key, laterality) of a site match: 'left breast' → (body_site.breast, left)."""
        concept = self.maps[self._key(site, "body_site")]
        parent = concept.attr("parent")
        if parent and parent in self.maps.concepts and concept.attr("laterality"):
            return parent, concept.attr("laterality")
        return concept.key, concept.attr("laterality")

    def _site_laterality(self, text: str, site: Match) -> str | None:
        own = self._site(site)[1]
        if own:
            return own
        lat = self._laterality_before(text, site.start, 2)
        if lat:
            return lat
        concept = self.maps[self._key(site, "body_site")]
        matched = text[site.start:site.end].lower()
        if concept.attr("paired") and (matched.endswith("s") and not matched.endswith("ss")
                                       or matched.endswith("ae")):
            if matched not in {t.lower() for t in concept.terms}:
                return "bilateral"
        return None

    def _specific(self, concept: Concept, site: str) -> str | None:
        """The concept of the same kind at ``site`` or the nearest structure containing it."""
        seen = 0
        while site and seen < 6:
            found = self._by_kind_site.get((concept.category, concept.attr("kind") or "", site))
            if found:
                return found
            site = (self.maps[site].attr("parent") or "") if site in self.maps.concepts else ""
            seen += 1
        return None

    def _ancestors(self, site: str) -> list[str]:
        out: list[str] = []
        while site and len(out) < 6:
            out.append(site)
            site = (self.maps[site].attr("parent") or "") if site in self.maps.concepts else ""
        return out

    def _same_organ(self, a: str, b: str) -> bool:
        """Are two sites parts of one paired organ (the lower lobe and the bronchi of a lung)?"""
        common = set(self._ancestors(a)) & set(self._ancestors(b))
        return any(self.maps[c].attr("paired") for c in common if c in self.maps.concepts)

    def _within(self, site: str, container: str) -> bool:
        """Is ``site`` the ``container`` or part of it (following parent links)?"""
        seen = 0
        while site and seen < 6:
            if site == container:
                return True
            site = (self.maps[site].attr("parent") or "") if site in self.maps.concepts else ""
            seen += 1
        return False

    def _note_side(self, p: _Patient, site: str, lat: str) -> None:
        """Remember that this patient's <site> (and the structures containing it) was named with a side."""
        seen = 0
        while site and seen < 6:
            self._sides.setdefault(p.index, {}).setdefault(site, set()).add(lat)
            parent = self.maps[site].attr("parent") if site in self.maps.concepts else None
            site, seen = (parent or ""), seen + 1

    def _disseminated(self, facts: list[Fact], masses: list[Fact]) -> list[Fact]:
        """A malignancy the text calls disseminated (widespread, metastatic, "-matosis"), with one
        primary site: the masses found elsewhere are its metastases, each at its site."""
        asserted = (Assertion.PRESENT, Assertion.HISTORICAL)
        tumours = [f for f in facts if f.kind == "condition" and f.assertion in asserted and f.concept
                   and self.maps[f.concept].attr("neoplasm") == "malignant"]
        # said of the malignancy itself ("disseminated leiomyosarcomatosis"), not of another disease
        # ("disseminated intravascular coagulation")
        spread = any(self.rules.disseminated.search(f.text) for f in facts
                     if f.kind == "condition" and f.assertion in asserted
                     and (f in tumours or f.attr("role") == "metastasis"))
        if not masses or not tumours or not spread:
            return facts
        primary_sites = {f.attr("body_site") for f in tumours if f.attr("role") == "primary" and f.attr("body_site")}
        if len(primary_sites) != 1:
            return facts
        (primary_site,) = primary_sites
        known = {(f.attr("body_site"), f.attr("laterality")) for f in facts
                 if f.kind == "condition" and f.attr("role") == "metastasis" and f.assertion in asserted}
        out = list(facts)
        for m in masses:
            site = m.attr("body_site")
            if self._same_organ(site, primary_site) or self._within(site, primary_site) \
                    or (site, m.attr("laterality")) in known:
                continue
            known.add((site, m.attr("laterality")))
            organ_key = self.maps[m.concept].attr("site") if m.concept in self.maps.concepts else None
            organ = self.maps.get(organ_key) if organ_key else None
            secondary = (organ.attr("secondary") if organ else None) or (
                self.maps[site].attr("secondary") if site in self.maps.concepts else None)
            attrs: list[tuple[str, Any]] = [("role", "metastasis"), ("body_site", site)]
            if m.attr("laterality"):
                attrs.append(("laterality", m.attr("laterality")))
            out.append(Fact("condition", secondary if secondary and secondary in self.maps.concepts else "",
                            m.text, m.span, m.patient, Assertion.PRESENT, m.section, tuple(attrs)))
        return out

    @staticmethod
    def _resolved_diagnoses(facts: list[Fact]) -> list[Fact]:
        """A suspected or differential diagnosis that the text later confirms or rules out is
        recorded once, as it ended ("suspected tuberculosis ... biopsy confirmed tuberculosis",
        "provisional diagnosis of dengue infection ... dengue tests were negative")."""
        open_ = (Assertion.POSSIBLE, Assertion.DIFFERENTIAL)
        settled = [f for f in facts if f.kind == "condition" and f.assertion in (Assertion.PRESENT, Assertion.REFUTED)]

        def same(a: Fact, b: Fact) -> bool:
            if a.attr("role") != b.attr("role"):
                return False
            if a.attr("body_site") != b.attr("body_site") and a.attr("body_site") and b.attr("body_site"):
                return False
            if a.concept and a.concept == b.concept:
                return True
            return bool(re.search(rf"\b{re.escape(b.text.lower())}\b", a.text.lower()))

        out: list[Fact] = []
        for f in facts:
            if f.kind == "condition" and f.assertion in open_:
                later = [o for o in settled if o.span.start > f.span.start and same(f, o)]
                if later:
                    last = later[-1]
                    if last.assertion == Assertion.REFUTED and not (last.concept and last.concept == f.concept):
                        # the form named earlier is ruled out with the disease: keep its own (more
                        # specific) name, refuted
                        out.append(Fact(f.kind, f.concept, f.text, f.span, f.patient, Assertion.REFUTED,
                                        f.section, f.attrs))
                    continue
            out.append(f)
        return out

    def _settle(self, p: _Patient) -> list[Fact]:
        """Patient-level rules, applied once all sentences are read.

        * a generic 'metastasis' gives way to site-specific ones;
        * one disease named twice, once less specifically ('carcinoma', 'prostate cancer' beside
          'prostate adenocarcinoma'), is kept once, at its most specific;
        * a solid primary tumour named without a site lies where the presenting mass is;
        * a lateral organ named with one side only lends that side to the tumours of that organ.
        """
        r = self.rules
        asserted = (Assertion.PRESENT, Assertion.HISTORICAL)
        facts = list(p.facts)
        has_site_mets = any(f.kind == "condition" and f.attr("role") == "metastasis" and f.attr("body_site")
                            for f in facts)
        primaries = [f for f in facts if f.kind == "condition" and f.attr("role") == "primary"
                     and f.assertion in asserted]

        def drop(f: Fact) -> bool:
            concept = self.maps.get(f.concept) if f.concept else None
            if concept is None or f.kind != "condition":
                return False
            if has_site_mets and concept.attr("neoplasm") == "secondary" and not concept.attr("site"):
                return True
            if f.attr("role") != "primary" or f.assertion not in asserted:
                return False
            if f.attr("metastatic_histology") and any(o is not f and not o.attr("metastatic_histology")
                                                       for o in primaries):
                return True  # the histology of a metastasis of the primary already named
            words = f.text.lower()
            for other in primaries:
                if other is f or other.concept == f.concept:
                    continue
                longer = len(other.text) > len(f.text)
                if not f.attr("body_site") and longer and words in other.text.lower():
                    return True  # 'carcinoma' inside 'ovarian carcinoma'
                if f.attr("body_site") and f.attr("body_site") == other.attr("body_site") and longer:
                    return True  # 'prostate cancer' beside 'prostate adenocarcinoma'
            return False

        facts = [f for f in facts if not drop(f)]
        # a form of a disease that tests ruled out is ruled out too ("dengue" negative → "dengue
        # haemorrhagic fever" was not the diagnosis)
        refuted = [f.text.lower() for f in facts if f.kind == "condition" and f.assertion == Assertion.REFUTED]
        for i, f in enumerate(facts):
            if f.kind == "condition" and f.assertion in asserted and any(
                    re.search(rf"\b{re.escape(t)}\b", f.text.lower()) for t in refuted if t != f.text.lower()):
                facts[i] = Fact(f.kind, f.concept, f.text, f.span, f.patient, Assertion.REFUTED, f.section, f.attrs)
        facts = self._resolved_diagnoses(facts)
        masses = [f for f in facts if f.kind == "finding" and f.assertion in asserted and f.attr("body_site")
                  and r.mass_words.search(f.text)]
        def haematological(f: Fact) -> bool:
            c = self.maps.get(f.concept)
            return c is not None and c.attr("class") == "haematological"

        siteless = [f for f in facts if f.kind == "condition" and f.attr("role") == "primary"
                    and f.assertion in asserted and not f.attr("body_site") and not haematological(f)
                    and not f.attr("metastatic_histology")]
        if masses and len(siteless) == 1:
            mass, tumour = masses[0], siteless[0]
            extra = (("body_site", mass.attr("body_site")),) + (
                (("laterality", mass.attr("laterality")),) if mass.attr("laterality") else ())
            facts[facts.index(tumour)] = Fact(tumour.kind, tumour.concept, tumour.text, tumour.span, tumour.patient,
                                              tumour.assertion, tumour.section, tumour.attrs + extra)
        # a lesion found to be "metastatic" in the primary tumour's own organ is the primary
        primary_sites = {(f.attr("body_site"), f.attr("laterality")) for f in facts if f.kind == "condition"
                         and f.attr("role") == "primary" and f.attr("body_site") and f.assertion in asserted}
        facts = [f for f in facts if not (f.attr("inferred") and any(
            (self._same_organ(f.attr("body_site"), s) or self._within(f.attr("body_site"), s))
            and (not side or not f.attr("laterality") or side == f.attr("laterality")) for s, side in primary_sites))]
        facts = self._disseminated(facts, masses)
        for f in facts:
            if f.attr("body_site") and f.attr("laterality") and f.assertion in asserted:
                self._note_side(p, f.attr("body_site"), f.attr("laterality"))
        sides = self._sides.get(p.index, {})
        out = []
        for f in facts:
            site = f.attr("body_site")
            concept = self.maps.get(f.concept) if f.concept else None
            is_tumour = f.attr("role") in ("primary", "metastasis") or bool(concept and concept.attr("neoplasm"))
            if f.kind == "condition" and is_tumour and site and not f.attr("laterality") and f.assertion in asserted:
                seen = sides.get(site, set())
                if len(seen) == 1:
                    f = Fact(f.kind, f.concept, f.text, f.span, f.patient, f.assertion, f.section,
                             f.attrs + (("laterality", next(iter(seen))),))
            out.append(f)
        return out

    # ------------------------------------------------------------------ kinds of facts
    def _deceased(self, doc: SourceDocument, sent: Sentence, p: _Patient, ctx: SentenceContext,
                  dates: list[tuple[int, int, str]]) -> None:
        r = self.rules
        if any(f.kind == "deceased" for f in p.facts):
            return
        for rx in r.deceased:
            m = rx.search(sent.text)
            if m and ctx.assertion(m.start(), m.end()) == (Assertion.PRESENT, False):
                date = _date_after(dates, m.start())
                p.facts.append(Fact("deceased", "", m.group(0), self._span(doc, sent, m.start(), m.end()), p.index,
                                    attrs=(("date", date),) if date else ()))
                return
        m = r.survived.search(sent.text)
        if m:
            date = _date_after(dates, m.end() - 1)
            if date:
                p.facts.append(Fact("deceased", "", sent.text[m.start():m.end()],
                                    self._span(doc, sent, m.start(), m.end()), p.index, attrs=(("date", date),)))

    def _disorder(self, doc: SourceDocument, sent: Sentence, p: _Patient, mt: Match, concept: Concept,
                  assertion: Assertion, span: Span, base: list[tuple[str, Any]], ctx: SentenceContext,
                  sites: list[Match]) -> None:
        text = sent.text
        attrs = list(base)
        neo = concept.attr("neoplasm")
        role = "metastasis" if neo == "secondary" else ("primary" if neo == "malignant" else "other")
        lat = self._laterality_before(text, mt.start)
        site = concept.attr("site")
        after = self._site_after(text, mt, sites)
        if after:
            # "renal calculus at the left vesicoureteric junction": the text's site is the more precise one
            lat = lat or after[1]
            if not site or self._within(after[0], site) or not concept.attr("neoplasm"):
                site = after[0]
        if site and not lat:
            # "thickening of the right lower lobe with obstructive pneumonia": the organ named with a side
            # in the same sentence gives the side of a disease of that organ
            sides = {self._site_laterality(text, st) for st in sites if self._same_organ(self._site(st)[0], site)}
            sides &= {"left", "right", "bilateral"}
            if len(sides) == 1:
                lat = sides.pop()
        if site and concept.attr("kind") and site != concept.attr("site"):
            # "fracture of the right 4th metatarsal bone": the disease of that kind at that site
            specific = self._specific(concept, site)
            if specific:
                concept = self.maps[specific]
        if site:
            attrs.append(("body_site", site))
            if not lat:
                # "carcinoma of the right kidney": the site named right after the disease
                for st in sites:
                    if -3 <= st.start - mt.end <= 12 and self._site(st)[0] == site:
                        lat = self._site_laterality(text, st)
                    elif st.start >= mt.start and st.end <= mt.end and self._site(st)[1]:
                        lat = self._site(st)[1]
        if lat:
            attrs.append(("laterality", lat))
        attrs.append(("role", role))
        before = text[max(0, mt.start - 25):mt.start].lower()
        if role == "primary" and not site and re.search(r"\bmetastatic\s+(?:\w+\s+)?$", before):
            attrs.append(("metastatic_histology", True))  # "showed metastatic adenocarcinoma"
        if self.rules.relapse.search(text[max(0, mt.start - 30):mt.end + 30]):
            attrs.append(("clinical_status", "relapse"))
        else:
            following = text[mt.end:mt.end + 30].lstrip()
            for status, rx in self.rules.status_words.items():
                if rx.match(following):  # "lymphoma in remission", "pneumonia resolved"
                    attrs.append(("clinical_status", status))
                    break
        # a list of alternatives under a provisional cue is a differential diagnosis
        if assertion == Assertion.POSSIBLE and re.search(r"\bor\b", text):
            assertion = Assertion.DIFFERENTIAL
        p.facts.append(Fact("condition", concept.key, text[mt.start:mt.end], span, p.index, assertion,
                            sent.section, tuple(attrs)))

    def _metastases(self, doc: SourceDocument, sent: Sentence, p: _Patient, ctx: SentenceContext,
                    sites: list[Match], dates: list[tuple[int, int, str]]) -> None:
        """'<site> metastasis', 'metastasis to the <site>', 'infiltration of both breasts' → metastasis facts."""
        r = self.rules
        text = sent.text
        disorders = [(mt.start, mt.end) for mt in self._matches_cache if self._cat(mt) == "disorder"]
        sites = [st for st in sites if not any(a <= st.start and st.end <= b for a, b in disorders)]

        def gap_text(a: int, b: int) -> str:
            g = text[a:b]
            for da, db in disorders:
                if a <= da and db <= b:
                    g = g[: da - a] + " " * (db - da) + g[db - a:]
            return g.lower()

        named = [(mt.start, mt.end) for mt in self._matches_cache if self._cat(mt) == "disorder"
                 and self.maps[self._key(mt, "disorder")].attr("site")]
        known_primary = any(f.kind == "condition" and f.attr("role") == "primary"
                            and f.assertion in (Assertion.PRESENT, Assertion.HISTORICAL) for f in p.facts)
        for m in r.metastasis.finditer(text):
            word = m.group(0).lower()
            if any(a <= m.start() < b for a, b in named):
                continue
            if word not in r.metastasis_strong and not (known_primary and word in r.metastasis_with_primary):
                continue
            targets: list[Match] = []
            # after the word: links, laterality and coordinated sites
            pos = m.end()
            for st in sites:
                if st.start < pos:
                    continue
                gap = gap_text(pos, st.start)
                toks = re.findall(r"[a-z]+", gap)
                unknown = [t for t in toks if not (t in r.site_links or t in r.laterality
                                                   or t in ("and", "or", "multiple", "distant"))]
                if len(unknown) <= (2 if not targets else 0) and len(toks) <= 6 and not re.search(r"[.;:]", gap):
                    targets.append(st)
                    pos = st.end
                else:
                    break
            # before the word: "<site> metastasis", "splenic metastasis", "breast and bone metastases"
            if not targets:
                pos = m.start()
                for st in reversed(sites):
                    if st.end > pos:
                        continue
                    gap = text[st.end:pos].lower()
                    toks = re.findall(r"[a-z]+", gap)
                    if len(toks) <= 2 and all(t in ("and", "or", "parenchymal", "solitary", "multiple", "isolated",
                                                    "intramuscular", "cutaneous", "skin")
                                              or t in r.laterality for t in toks) and not re.search(r"[.;:(]", gap):
                        targets.append(st)
                        pos = st.start
                    else:
                        break
            assertion, other = ctx.assertion(m.start(), m.end())
            if other:
                continue
            if not targets:
                self._lesion_metastases(doc, sent, p, m, assertion, dates, sites)
                continue
            for st in targets:
                site_key = self._site(st)[0]
                self._metastasis(doc, sent, p, site_key, self._site_laterality(text, st), self.maps[site_key],
                                 min(m.start(), st.start), max(m.end(), st.end), assertion, dates)

    def _metastasis(self, doc: SourceDocument, sent: Sentence, p: _Patient, site: str, lat: str | None,
                    organ: Concept | None, a: int, b: int, assertion: Assertion,
                    dates: list[tuple[int, int, str]], inferred: bool = False) -> None:
        """A metastasis at ``site``: coded with the organ's confirmed secondary-neoplasm concept when there is
        one, else left for the builder to code with the primary's code and this body site."""
        attrs: list[tuple[str, Any]] = [("role", "metastasis"), ("body_site", site)]
        if lat:
            attrs.append(("laterality", lat))
        if inferred:
            attrs.append(("inferred", True))     # from lesions the text described, not named as metastases
        date = _nearest_date(dates, a)
        if date:
            attrs.append(("date", date))
        secondary = (organ.attr("secondary") if organ else None) or (
            self.maps[site].attr("secondary") if site in self.maps.concepts else None)
        concept = secondary if secondary and secondary in self.maps.concepts else ""
        p.facts.append(Fact("condition", concept, sent.text[a:b], self._span(doc, sent, a, b), p.index, assertion,
                            sent.section, tuple(attrs)))

    def _lesion_metastases(self, doc: SourceDocument, sent: Sentence, p: _Patient, m: re.Match[str],
                           assertion: Assertion, dates: list[tuple[int, int, str]], sites: list[Match]) -> None:
        """'skin nodules on her arms and thighs. An excision biopsy showed metastatic carcinoma.' → the
        lesions just described are the metastases, at their sites."""
        neoplasm = next((mt for mt in self._matches_cache
                         if self._cat(mt) == "disorder" and 0 <= mt.start - m.end() <= 2
                         and self.maps[self._key(mt, "disorder")].attr("neoplasm") == "malignant"), None)
        if neoplasm is None:
            # "multiple lesions in the spine, pelvis and right femur, consistent with metastases":
            # the metastases of the same sentence are those lesions (as certain as the sentence says)
            if assertion not in (Assertion.PRESENT, Assertion.POSSIBLE):
                return
            words = list(self.rules.mass_words.finditer(sent.text, 0, m.start()))
            if not words:
                return
            places = self._sites_after(sent.text, Match(words[-1].start(), words[-1].end(), "", ()), sites)
            named = {self._site(st)[0]: st for st in sites if st.end <= words[-1].start()}
            if not places and len(named) == 1:
                # "MRI of the brain showed two lesions consistent with metastases": the one region examined
                (site, st), = named.items()
                places = [(site, self._site(st)[1] or self._site_laterality(sent.text, st))]
            organ, end = None, m.end()
            if not places:
                return
        else:
            if not p.lesions:
                return
            index, organ, places_seen = p.lesions[-1]
            places = list(places_seen)
            if assertion != Assertion.PRESENT or sent.index - index > 2:
                return
            end = neoplasm.end
        organ_concept = self.maps.get(organ) if organ else None
        for site, lat in places:
            self._metastasis(doc, sent, p, site, lat, organ_concept, m.start(), end, assertion, dates,
                             inferred=True)

    def _imaging(self, doc: SourceDocument, sent: Sentence, p: _Patient, mt: Match, concept: Concept,
                 assertion: Assertion, span: Span, base: list[tuple[str, Any]], sites: list[Match],
                 seen: set[str]) -> None:
        text = sent.text
        on_exam = re.search(r"\b(?:on|at|by)\s+(?:\S+\s+){0,2}$", text[max(0, mt.start - 30):mt.start])
        if assertion == Assertion.NEGATED and on_exam:
            assertion = Assertion.PRESENT  # "no metastases on PET-CT": the finding is negated, not the exam
        if assertion in (Assertion.NEGATED, Assertion.REFUTED):
            verdict = self.rules.exam_result.search(text, mt.end)
            if verdict and verdict.start() - mt.end <= 40 and not re.search(
                    r"\b(?:no|not|without)\b", text[max(0, mt.start - 12):mt.start], re.I):
                assertion = Assertion.PRESENT  # "CT ruled out pulmonary embolism": the exam did the ruling out
        if assertion not in (Assertion.PRESENT, Assertion.HISTORICAL):
            return
        if _GUIDED.search(text[mt.end:mt.end + 12]) or _GUIDANCE_BEFORE.search(text[max(0, mt.start - 20):mt.start]):
            return
        if concept.key in seen:
            return  # "magnetic resonance imaging (MRI)": one examination named twice
        vm = self.rules.exam_result.search(text, mt.end)
        if vm and vm.start() - mt.end > 120:
            vm = None
        acted = vm is not None or bool(self.rules.exam_act.search(text))
        if not acted and not on_exam:
            return  # the modality is talked about, no examination is reported
        if not acted and any(f.kind == "imaging" and f.attr("modality") == concept.code for f in p.facts):
            return  # "the diagnosis on CT was ...": refers back to the examination already reported
        seen.add(concept.key)
        # the same modality again in the very next sentence, not said to be a repeat: the same examination
        last = p.last_exam
        p.last_exam = (sent.index, concept.code)
        if last and last[1] == concept.code and sent.index - last[0] <= 1 \
                and not self.rules.exam_repeat.search(text):
            return
        # the examined region: "brain MRI", "CT of the chest and abdomen", "ultrasound of the neck"
        region = [self._site(st)[0] for st in sites if 0 <= mt.start - st.end <= 3
                  and not any(o.start <= st.start and st.end <= o.end for o in self._matches_cache
                              if self._cat(o) != "body_site")]
        for st in sites:
            gap = text[mt.end:st.start].lower()
            if st.start >= mt.end and _REGION_GAP.fullmatch(gap):
                if gap.strip().startswith(("of", "to", "(", "scan")) or region:
                    region.append(self._site(st)[0])
                    mt = Match(mt.start, st.end, mt.term, mt.keys)
        findings = re.sub(r"^(?:that|a|an)\s+(?=\S)", "", text[vm.end():].strip(" .:")) if vm else ""
        findings = findings[:1].upper() + findings[1:]
        attrs = base + [("modality", concept.code), ("body_sites", tuple(region))]
        if concept.attr("hybrid"):
            attrs.append(("hybrid", concept.attr("hybrid")))
        if findings:
            attrs.append(("findings", findings[:300]))
        p.facts.append(Fact("imaging", concept.key, text[mt.start:mt.end], span, p.index, Assertion.PRESENT,
                            sent.section, tuple(attrs)))

    def _labs(self, doc: SourceDocument, sent: Sentence, p: _Patient, labs: list[Match], ctx: SentenceContext,
              dates: list[tuple[int, int, str]]) -> None:
        text = sent.text
        # group tests joined only by connectors: "platelets and hemoglobin were 30,000/µL and 7.5 g/dL"
        groups: list[list[Match]] = []
        group_end = 0
        for mt in labs:
            if groups and _CONNECTOR.match(text[group_end:mt.start]):
                if mt.keys != groups[-1][-1].keys:  # "C-reactive protein (CRP)": one test named twice
                    groups[-1].append(mt)
            else:
                groups.append([mt])
            group_end = mt.end
        bounds = [g[0].start for g in groups] + [len(text)]
        for gi, group in enumerate(groups):
            stop = bounds[gi + 1]
            window_end = min(stop, group[-1].end + 80)
            qs = quantities(text, group[-1].end, window_end, self.units)
            # "from 18.1 to 132.6 units/ml": a unit written once serves the numbers joined to it
            for i in range(len(qs) - 2, -1, -1):
                if not qs[i].unit and qs[i + 1].unit and re.fullmatch(r"\s*(?:to|and|-|–|,)\s*",
                                                                      text[qs[i].end:qs[i + 1].start]):
                    qs[i] = type(qs[i])(qs[i].value, qs[i + 1].unit, qs[i].start, qs[i].end, qs[i].comparator)
            qs = [q for q in qs if q.unit] or qs[:1]
            if len(group) > 1 and len(qs) >= len(group):
                pairs = [(mt, [q]) for mt, q in zip(group, qs[: len(group)], strict=False)]
            else:
                pairs = [(mt, qs if mt is group[-1] else []) for mt in group]
            after = text[group[-1].end:min(len(text), group[-1].end + 40)]
            before = text[max(0, group[0].start - 40):group[0].start]
            shared = qualitative(after, self.rules.results) or _before_value(before, self.rules.results_before)
            # "all tests except HBsAg were negative": whatever HBsAg was, it was not negative
            excepted = bool(self.rules.results_of_all_except.search(before[-25:]))
            if excepted:
                shared = None
            for mt, values in pairs:
                assertion, other = ctx.assertion(mt.start, mt.end)
                if other or assertion == Assertion.HYPOTHETICAL:
                    continue
                if excepted:
                    assertion = Assertion.PRESENT
                self._lab_facts(doc, sent, p, mt, values, assertion, shared, dates)

    def _enlarged_sites(self, doc: SourceDocument, sent: Sentence, p: _Patient, ctx: SentenceContext,
                        sites: list[Match]) -> None:
        """'an enlarged left lower cervical lymph node' → cervical lymphadenopathy, on the left."""
        r = self.rules
        text = sent.text
        if not r.enlarged_kinds or not r.enlarged_words.search(text):
            return
        here = doc.to_original(sent.start, sent.end)
        taken = [f.span for f in p.facts if f.kind == "finding" and here.start <= f.span.start < here.end]
        for st in sites:
            site, own_side = self._site(st)
            kind = next((r.enlarged_kinds[a] for a in self._ancestors(site) if a in r.enlarged_kinds),
                        None)
            if kind is None or kind not in self.maps.concepts:
                continue
            word = None
            for m in r.enlarged_words.finditer(text, max(0, st.start - 60), st.start):
                word = m
            if word is None:
                continue
            gap = list(text[word.end():st.start].lower())
            for o in sites:       # "enlarged right cervical and left supraclavicular lymph nodes"
                if word.end() <= o.start and o.end <= st.start:
                    gap[o.start - word.end():o.end - word.end()] = " " * (o.end - o.start)
            toks = _gap_words("".join(gap))
            if not all(t in r.laterality or t in r.site_modifiers or t in ("and", "or", "a", "an", "the")
                       for t in toks):
                continue
            span = self._span(doc, sent, word.start(), st.end)
            own = self._span(doc, sent, st.start, st.end)
            if any(t.start < own.end and own.start < t.end for t in taken):
                continue      # already a finding ("enlarged lymph nodes")
            assertion, other = ctx.assertion(word.start(), st.end)
            if other:
                continue
            key = self._specific(self.maps[kind], site) or kind
            lat = own_side or self._site_laterality(text, st) or next(
                (r.laterality[t] for t in toks if t in r.laterality), None)
            attrs = ([("laterality", lat)] if lat else []) + [("body_site", site)]
            p.facts.append(Fact("finding", key, text[word.start():st.end], span, p.index, assertion, sent.section,
                                tuple(attrs)))
            taken.append(own)

    def _results_of_all(self, sent: Sentence, p: _Patient) -> None:
        """Give the result of "All tests were negative" to the tests listed in the sentence before."""
        waiting = [t for t in p.open_tests if t[0] == sent.index - 1]
        p.open_tests = []
        if not waiting:
            return
        m = self.rules.results_of_all.search(sent.text)
        if not m:
            return
        rest = m.group("rest")
        ex = self.rules.results_of_all_except.search(rest)
        excluded = rest[ex.end():].lower() if ex else ""
        for _, key, text, span, section, attrs in waiting:
            if excluded and text.lower() in excluded:
                continue
            p.facts.append(Fact("lab", key, text, span, p.index, Assertion.PRESENT, section,
                                (("value", "negative"),) + attrs))

    def _implied_labs(self, doc: SourceDocument, sent: Sentence, p: _Patient, matches: list[Match],
                      dates: list[tuple[int, int, str]]) -> None:
        """Values reported through a disease name ("anaemia (7.5 mmol/L)") or by their unit alone ("38.5 °C")."""
        r = self.rules
        text = sent.text
        before = len(p.facts)
        for mt in matches:
            analyte = r.measured_by.get(self._key(mt, self._cat(mt)))
            if not analyte:
                continue
            qs = quantities(text, mt.end, min(len(text), mt.end + 30), self.units)
            if qs and qs[0].unit and re.fullmatch(r"\s*\(\s*", text[mt.end:qs[0].start]):
                self._lab_facts(doc, sent, p, mt, qs[:1], Assertion.PRESENT, None, dates, analyte=analyte)
        here = doc.to_original(sent.start, sent.end)
        done = {f.attr("unit") for f in p.facts[before:]} | {
            f.attr("unit") for f in p.facts
            if f.kind == "lab" and here.start <= f.span.start and f.span.end <= here.end}
        for q in quantities(text, 0, len(text), self.units):
            analyte = r.unit_implies.get(q.unit)
            if analyte and q.unit not in done:
                mt = Match(q.start, q.end, "", ())
                self._lab_facts(doc, sent, p, mt, [q], Assertion.PRESENT, None, dates, analyte=analyte)
                done.add(q.unit)

    def _lab_facts(self, doc: SourceDocument, sent: Sentence, p: _Patient, mt: Match, values: list[Any],
                   assertion: Assertion, shared: str | None, dates: list[tuple[int, int, str]],
                   analyte: str | None = None) -> None:
        text = sent.text
        date = _nearest_date(dates, mt.start)
        span = self._span(doc, sent, mt.start, mt.end)
        dated: list[tuple[str, Any]] = [("date", date)] if date else []
        emitted = False
        panel = next((self.maps[k] for k in mt.keys if self.maps[k].attr("value") == "bp_panel"), None)
        if panel is not None:
            # "blood pressure of 110/70 mmHg": one panel, two components
            m = re.search(r"(\d{2,3})\s*/\s*(\d{2,3})\s*(?:mm\s*hg)?", text[mt.end:mt.end + 40], re.I)
            if m:
                p.facts.append(Fact("lab", panel.key, text[mt.start:mt.end + m.end()], span, p.index,
                                    Assertion.PRESENT, sent.section,
                                    tuple([("value", f"{m.group(1)}/{m.group(2)}"), ("unit", "mm[Hg]")] + dated)))
            return
        for q in values:
            key, unit = self._lab_key(mt.keys, q.unit, analyte=analyte)
            if key is None:
                continue
            key = self._in_specimen(text, mt.start, key)
            concept = self.maps[key]
            if concept.attr("value") == "bp_panel":
                continue
            else:
                attrs = [("value", q.value), ("unit", unit)] + ([("comparator", q.comparator)] if q.comparator else [])
            p.facts.append(Fact("lab", key, text[mt.start:q.end], span, p.index, Assertion.PRESENT,
                                sent.section, tuple(attrs + dated)))
            emitted = True
        if emitted or analyte is not None:
            return
        key, _ = self._lab_key(mt.keys, None, qualitative_only=True)
        value = shared
        grown = self.rules.organism.match(text, mt.end)
        if value is None and grown and key is not None and self.maps[key].attr("value") == "qualitative":
            p.facts.append(Fact("lab", key, text[mt.start:grown.end()], span, p.index, Assertion.PRESENT,
                                sent.section, tuple([("value", grown.group(1))] + dated)))
            return
        if value is None and assertion in (Assertion.NEGATED, Assertion.REFUTED):
            value = "negative"
        if value is None and key is not None and assertion in (Assertion.PRESENT, Assertion.POSSIBLE) \
                and self.maps[key].attr("value") == "qualitative":
            p.open_tests.append((sent.index, key, text[mt.start:mt.end], span, sent.section, tuple(dated)))
        if value is None or key is None:
            return
        if value not in ("positive", "negative") and self.maps[key].attr("value") == "qualitative":
            return
        if value in ("positive", "negative") and self.maps[key].attr("value") != "qualitative":
            qual, _ = self._lab_key(mt.keys, None, qualitative_only=True, strict=True)
            if qual is None:
                return
            key = qual
        p.facts.append(Fact("lab", key, text[mt.start:mt.end], span, p.index, Assertion.PRESENT,
                            sent.section, tuple([("value", value)] + dated)))

    def _in_specimen(self, text: str, pos: int, key: str) -> str:
        """The test of the sample named earlier in the sentence ("CSF ... glucose" → CSF glucose)."""
        analyte = self.maps[key].attr("analyte") or ""
        for words, analytes in self.rules.specimens:
            if analyte in analytes and analytes[analyte] in self.maps.concepts and words.search(text, 0, pos):
                return analytes[analyte]
        return key

    def _lab_key(self, keys: tuple[str, ...], unit: str | None, qualitative_only: bool = False,
                 strict: bool = False, analyte: str | None = None) -> tuple[str | None, str | None]:
        """The lab row for these keys and the written unit, and the UCUM unit to record."""
        if analyte is not None:
            concepts = [c for c in self.maps.category("lab") if c.attr("analyte") == analyte]
        else:
            concepts = [self.maps[k] for k in keys if k.startswith("lab.")]
        if qualitative_only:
            qual = [c for c in concepts if c.attr("value") == "qualitative"]
            if qual:
                return qual[0].key, None
            return (None if strict else (concepts[0].key if concepts else None)), None
        quant = [c for c in concepts if c.attr("value", "quantity") != "qualitative"]
        if not quant:
            return None, None
        if not unit:
            return quant[0].key, ""

        def allowed(c: Concept) -> list[str]:
            return [u.strip() for u in (c.attr("units") or c.attr("unit") or "").split(",") if u.strip()]

        for written in (unit, "/" + unit):  # "68,000 µL", "pulse 100 min": the per-unit was meant
            for c in quant:
                if written in allowed(c):
                    return c.key, written
        dim = self.units.dims.get(unit)
        for c in quant:
            if dim and any(self.units.dims.get(u) == dim for u in allowed(c)):
                return c.key, unit
        return None, None


def _before_value(before: str, rules: dict[str, list[str]]) -> str | None:
    w = before.lower()
    for value in ("negative", "positive", "increased", "decreased"):
        for rx in rules.get(value, []):
            if re.search(rx, w):
                return value
    return None


def _nearest_date(dates: list[tuple[int, int, str]], pos: int) -> str | None:
    before = [d for d in dates if d[0] <= pos]
    if before:
        return before[-1][2]
    return dates[0][2] if dates else None


def _date_after(dates: list[tuple[int, int, str]], pos: int) -> str | None:
    after = [d for d in dates if d[0] >= pos]
    return after[0][2] if after else None


def _section_spans(doc: SourceDocument, sections: list[Section]) -> tuple[tuple[str, Span], ...]:
    return tuple((s.kind, doc.to_original(s.start, s.end)) for s in sections)


def _dedupe(facts: list[Fact]) -> list[Fact]:
    """One fact per (kind, concept, assertion, site, laterality, value); the first mention wins."""
    seen: dict[tuple[Any, ...], int] = {}
    out: list[Fact] = []
    for f in facts:
        if f.kind == "imaging":
            out.append(f)
            continue
        if f.kind == "condition" and f.attr("role") == "metastasis":
            key: tuple[Any, ...] = (f.kind, f.concept, f.attr("body_site"), f.assertion)
        elif f.kind == "lab":
            key = (f.kind, f.concept, f.attr("value"), f.attr("unit"))
        else:
            group = "asserted" if f.assertion in (Assertion.PRESENT, Assertion.HISTORICAL) else f.assertion.value
            key = (f.kind, f.concept or f.text.lower(), group, f.attr("body_site"))
        if key in seen:
            i = seen[key]
            old = out[i]
            lat_old, lat_new = old.attr("laterality"), f.attr("laterality")
            if lat_new and lat_old != lat_new:
                lat = lat_new if not lat_old else "bilateral"
                out[i] = Fact(old.kind, old.concept, old.text, old.span, old.patient, old.assertion, old.section,
                              tuple((k, v) for k, v in old.attrs if k != "laterality") + (("laterality", lat),))
            continue
        seen[key] = len(out)
        out.append(f)
    return out
