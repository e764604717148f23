"""Extraction, stage by stage: document → sentences → concepts → context → facts → settle.

``Extractor`` holds only what is compiled from the mappings (rules, matchers, hierarchies) and
is shared by every document and thread; everything learnt while reading one document lives in
the ``DocState`` / ``PatientState`` objects of that ``run()``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .._budget import UNLIMITED, Budget
from ..errors import MappingsError
from ..mappings import Concept, Mappings, Match, paused_gc
from ..model import Assertion, Extraction, Fact, PatientFacts, SourceDocument, Span
from ._concepts import ConceptFinder
from ._document import discussion_lead, drop_background, eligible, owner, triage
from ._labs import LabReader
from ._relations import ASSERTED, Relations, nearest_date, span_of
from ._rules import Rules
from ._settle import Settler, dedupe
from ._sites import Sites
from ._staging import Staging
from ._state import DocState, Lesion, PatientState, SentenceView
from ._text import Section, split_sections, split_sentences
from ._values import find_age, find_dates, resolve_date

_GUIDED = re.compile(r"^[\s-]*(?:guided|guidance)\b|^\s*[-]?guided", re.I)
_GUIDANCE_BEFORE = re.compile(r"\bunder\s+(?:\w+\s+)?$", re.I)
# between a modality and the region examined: "CT (scan) of the chest, abdomen and pelvis"
_REGION_GAP = re.compile(r"\s*(?:\(\w+\)\s*)?(?:scan\s+)?(?:of|to)\s+(?:the\s+|her\s+|his\s+)?"
                         r"|\s*,\s*|\s*(?:,\s*)?and\s+(?:the\s+)?")
_ON_EXAM = re.compile(r"\b(?:on|at|by)\s+(?:\S+\s+){0,2}$", re.I)
_SITE_BEFORE = re.compile(r"\s+(?:primary\s+)?", re.I)
_RESULT_LABEL = re.compile(r"(?:[ \t]+(?:of[ \t]+(?:the[ \t]+)?)?(?!(?:was|were|is|are|be|been|being)\b)[A-Za-z]+){0,3}"
                           r"[ \t]*(?::|[ \t][-–—][ \t])", re.I)
_NEGATION_BEFORE = re.compile(r"\b(?:no|not|without)\b", re.I)
_METASTATIC_BEFORE = re.compile(r"\bmetastatic\s+(?:\w+\s+)?$")
_ABSENT_FLIP = {Assertion.PRESENT: Assertion.NEGATED, Assertion.NEGATED: Assertion.PRESENT}
_LOCK = threading.Lock()


class Extractor:
    """Compiled rules for one Mappings; reusable across documents and threads."""

    @classmethod
    def for_mappings(cls, mappings: Mappings) -> Extractor:
        """The extractor compiled for these mappings, built on first use and kept with them."""
        found = mappings.derived.get("extractor")
        if not isinstance(found, cls):
            with _LOCK, paused_gc():
                found = mappings.derived.get("extractor")
                if not isinstance(found, cls):
                    found = mappings.derived["extractor"] = cls._compiled(mappings)
        return found

    @classmethod
    def _compiled(cls, mappings: Mappings) -> Extractor:
        """Compile the rules; one that does not compile can only come from an overlay (the shipped
        rules are tested), so it is the overlay's error, not a crash."""
        where = ", ".join(mappings.folders[1:]) or "the shipped mappings"
        try:
            return cls(mappings)
        except re.error as exc:
            raise MappingsError(f"a pattern in {where} does not compile ({exc.msg} at position {exc.pos} of "
                                f"{exc.pattern!r}); fix it, and check the folder with fhirconv mappings check"
                                ) from None
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
            raise MappingsError(f"the rules in {where} do not compile ({type(exc).__name__}: {exc}); a value "
                                "has another form than the shipped file's: compare it with the shipped file"
                                ) from None

    def __init__(self, mappings: Mappings) -> None:
        self.maps = mappings
        self.rules = Rules.compile(mappings)
        self.concepts = ConceptFinder(mappings)
        self.sites = Sites(mappings, self.rules, self.concepts)
        self.relations = Relations(mappings, self.rules, self.concepts, self.sites)
        self.labs = LabReader(mappings, self.rules, self.concepts)
        self.settler = Settler(mappings, self.rules, self.sites, self.relations)
        self.staging = Staging(mappings, self.concepts)

    # ------------------------------------------------------------------ document level
    def run(self, doc: SourceDocument, budget: Budget = UNLIMITED) -> Extraction:
        text = doc.text
        state = DocState(doc)
        sections = split_sections(text, self.rules.sections)
        sentences = split_sentences(text, sections)
        has_case = any(s.kind == "case" for s in sections)
        ok = [eligible(self.rules, s) for s in sentences]
        drop_background(self.rules, text, sentences, ok)
        discussion_lead(self.rules, sentences, ok)
        found = triage(self.rules, text, sentences, ok)
        budget.check("the reading of sections and sentences")
        if not found.patients:
            return Extraction(doc, found.kind, (), found.warnings, _section_spans(doc, sections))
        anchor: int | None = None
        sample: str | None = None        # named by the heading line the result lines stand under
        section = None
        for sent, good in zip(sentences, ok, strict=True):
            if sent.section != section:
                sample, section = None, sent.section
            sample = self.labs.carried_sample(sent.text, sample)
            dates = []
            for s, e, dkind, raw in find_dates(sent.text):
                iso, year = resolve_date(dkind, raw, anchor)
                if year:
                    anchor = year
                if iso:
                    dates.append((s, e, iso))
            if not good:
                continue
            budget.check("extraction")
            p = owner(found.patients, sent)
            if p is None:
                continue
            matches = tuple(self.concepts.find(sent.text, state.abbrev))
            sv = SentenceView(
                sent, self.rules.context.analyse(sent.text, [(mt.start, mt.end) for mt in matches]), matches,
                tuple(mt for mt in matches if self.concepts.category(mt) == "body_site"),
                tuple((mt.start, mt.end) for mt in matches if self.concepts.category(mt) != "body_site"),
                tuple(dates), sample)
            self._sentence(doc, sv, p, has_case)
        out = []
        for p in found.patients:
            budget.check("settling the facts")
            facts = dedupe(self._demographics(p) + self.settler.settle(p))
            out.append(PatientFacts(p.index, p.label, tuple(facts)))
        return Extraction(doc, found.kind, tuple(out), found.warnings, _section_spans(doc, sections))

    # ------------------------------------------------------------------ patient-level facts
    @staticmethod
    def _demographics(p: PatientState) -> list[Fact]:
        out: list[Fact] = []
        if p.sex:
            out.append(Fact("sex", "", p.sex[0], p.sex[1], p.index))
        if p.age:
            out.append(Fact("age", "", f"{p.age[0]:g} {p.age[1]}", p.age[2], p.index,
                            attrs=(("value", p.age[0]), ("unit", p.age[1]))))
        return out

    def _subject(self, doc: SourceDocument, sv: SentenceView, p: PatientState, summary_only: bool) -> None:
        """Age and sex, from the patient's introduction first."""
        r = self.rules
        # "a male infant born to a 34-year-old woman": the mother's age and sex are not the patient's
        text = r.other_person.sub(lambda o: " " * len(o.group(0)), sv.text)
        m = r.intro.search(text)
        if m and p.age is None:
            found = find_age(m.group(0), r.age, r.age_units, r.number_words)
            if found:
                p.age = (found[0], found[1], span_of(doc, sv, m.start(), m.end()))
            noun = m.group("noun").lower()
            if noun in r.sex_words and p.sex is None:
                p.sex = (r.sex_words[noun], span_of(doc, sv, m.start("noun"), m.end("noun")))
        if p.age is None and not summary_only:
            found = find_age(text, r.age, r.age_units, r.number_words)
            if found:
                p.age = (found[0], found[1], span_of(doc, sv, found[2], found[3]))
        # a header block opens the case, or the whole text when a teaching case starts with it
        header = r.patient_header.search(text) if sv.sent.section in ("case", "title") else None
        if header and p.age is None:            # "Patient: 57 years, female", "Age: 63"
            g = "age" if header.groupdict().get("age") else "age2"
            if header.groupdict().get(g):
                unit = r.age_units.get((header.groupdict().get("unit") or "year").lower(), "a")
                p.age = (float(header.group(g)), unit, span_of(doc, sv, header.start(g), header.end(g)))
        if header and p.sex is None:
            g = "sex" if header.group("sex") else "sex2"
            word = (header.group(g) or "").lower()
            sex = r.sex_words.get(word) or r.sex_letters.get(word)
            if sex:
                p.sex = (sex, span_of(doc, sv, header.start(g), header.end(g)))
        if p.sex is None:
            sm = r.sex_re.search(text)
            if sm:
                p.sex = (r.sex_words[sm.group(0).lower()], span_of(doc, sv, sm.start(), sm.end()))

    def _sentence(self, doc: SourceDocument, sv: SentenceView, p: PatientState, has_case: bool) -> None:
        text = sv.text
        p.sentence_start = len(p.facts)
        summary_only = sv.sent.section == "title" or (sv.sent.section == "abstract" and has_case)
        self._subject(doc, sv, p, summary_only)
        if not summary_only:
            self._deceased(doc, sv, p)
        if not summary_only or sv.sent.section == "abstract":
            self.staging.read(doc, sv, p)
        for st in sv.sites:
            lat = self.sites.site_laterality(text, st)
            if lat in ("left", "right"):
                self.sites.note_side(p, self.sites.site(st)[0], lat)
        labs: list[Match] = []
        modal_seen: dict[str, int] = {}      # modality concept -> where its last mention ends
        for mt in sv.matches:
            cat = self.concepts.category(mt)
            if cat == "body_site":
                continue
            assertion, other = sv.ctx.assertion(mt.start, mt.end)
            if other:
                continue
            date = nearest_date(sv.dates, mt.start)
            key = self.concepts.key(mt, cat)
            concept = self.maps[key]
            span = span_of(doc, sv, mt.start, mt.end)
            base: list[tuple[str, Any]] = [("date", date)] if date else []
            if cat == "disorder":
                self._disorder(sv, p, mt, concept, assertion, span, base)
            elif cat == "finding":
                self._finding(sv, p, mt, concept, assertion, span, base)
            elif summary_only:
                continue
            elif cat == "lab":
                labs.append(mt)
            elif cat == "modality":
                self._imaging(sv, p, mt, concept, assertion, span, base, modal_seen)
            elif cat == "medication" and concept.attr("lexicon") and not self._as_treatment(text, mt):
                continue        # a substance the sentence does not give as treatment ("glucose was low")
            elif cat in ("procedure", "medication") and assertion in ASSERTED:
                attrs = list(base)
                if cat == "procedure":
                    lat = self.sites.laterality_before(text, mt.start)
                    site = concept.attr("site")
                    attrs += ([("laterality", lat)] if lat else []) + ([("body_site", site)] if site else [])
                elif self.rules.discontinued.search(text[max(0, mt.start - 40):mt.start]):
                    attrs.append(("status", "stopped"))
                p.facts.append(Fact(cat, key, text[mt.start:mt.end], span, p.index, assertion, sv.sent.section,
                                    tuple(attrs)))
        if not summary_only or sv.sent.section == "abstract":
            self.relations.enlarged_sites(doc, sv, p)
        self.labs.results_of_all(sv, p)
        if labs:
            self.labs.read(doc, sv, p, labs)
        if not summary_only:
            self.labs.implied(doc, sv, p)
        if not summary_only or sv.sent.section == "abstract":
            self.relations.metastases(doc, sv, p)

    def _as_treatment(self, text: str, mt: Match) -> bool:
        """Does the sentence give this substance as a treatment (a treatment word before it, a dose after)?"""
        return bool(self.rules.treatment_context.search(text, max(0, mt.start - 60), mt.start)
                    or self.rules.treatment_dose.match(text, mt.end))

    # ------------------------------------------------------------------ kinds of facts
    def _deceased(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        r = self.rules
        if p.of_kind("deceased"):
            return
        for rx in r.deceased:
            m = rx.search(sv.text)
            if m and sv.ctx.assertion(m.start(), m.end()) == (Assertion.PRESENT, False):
                date = _date_after(sv.dates, m.start())
                p.facts.append(Fact("deceased", "", m.group(0), span_of(doc, sv, m.start(), m.end()), p.index,
                                    attrs=(("date", date),) if date else ()))
                return
        m = r.survived.search(sv.text)
        if m:
            date = _date_after(sv.dates, m.end() - 1)
            if date:
                p.facts.append(Fact("deceased", "", sv.text[m.start():m.end()],
                                    span_of(doc, sv, m.start(), m.end()), p.index, attrs=(("date", date),)))

    def _finding(self, sv: SentenceView, p: PatientState, mt: Match, concept: Concept, assertion: Assertion,
                 span: Span, base: list[tuple[str, Any]]) -> None:
        text = sv.text
        key = concept.key
        if concept.attr("absent") in self.maps.concepts:
            # "afebrile": fever, absent ("not afebrile": present)
            key = concept.attr("absent") or key
            concept = self.maps[key]
            assertion = _ABSENT_FLIP.get(assertion, assertion)
        before_lat = self.sites.laterality_before(text, mt.start)
        every = self.sites.sites_after(text, mt, sv.sites, sv.term_spans)
        if self.rules.mass_words.search(text[mt.start:mt.end]):
            # where a lesion is: used when a biopsy of it shows a metastasis; a site named
            # inside the term itself ("scalp nodule") counts too
            where = every or [self.sites.site(st) for st in sv.sites if mt.start <= st.start and st.end <= mt.end]
            if where:
                p.lesions.append(Lesion(sv.sent.index, concept.attr("site"), tuple(where)))
        # "masses in the abdominal wall, back and thigh": one finding at each site named
        places: list[tuple[str, str | None] | None] = list(every) or [None]
        for after in places:
            lat, site, fkey = before_lat, concept.attr("site"), key
            if after and (not site or self.sites.within(after[0], site)):
                site, lat = after[0], lat or after[1]
            if site and concept.attr("kind") and site != concept.attr("site"):
                fkey = self.sites.specific(concept, site) or key
            attrs = base + ([("laterality", lat)] if lat else []) + ([("body_site", site)] if site else [])
            p.facts.append(Fact("finding", fkey, text[mt.start:mt.end], span, p.index, assertion,
                                sv.sent.section, tuple(attrs)))

    def _disorder(self, sv: SentenceView, p: PatientState, mt: Match, concept: Concept, assertion: Assertion,
                  span: Span, base: list[tuple[str, Any]]) -> None:
        text = sv.text
        attrs = list(base)
        neo = concept.attr("neoplasm")
        role = "metastasis" if neo == "secondary" else ("primary" if neo == "malignant" else "other")
        lat = self.sites.laterality_before(text, mt.start)
        site = concept.attr("site")
        # "primary mediastinal seminoma", "pulmonary tuberculosis": the site written right before the
        # disease is where it is (the concept's usual organ is only a default)
        before = next((st for st in sv.sites if st.end <= mt.start and _SITE_BEFORE.fullmatch(text, st.end, mt.start)
                       and not any(a <= st.start and st.end <= b for a, b in sv.term_spans)), None)
        if before is not None and (not site or concept.attr("neoplasm")):
            site, own_lat = self.sites.site(before)
            lat = lat or own_lat
        after = self.sites.site_after(text, mt, sv.sites, sv.term_spans)
        if after:
            # "renal calculus at the left vesicoureteric junction": the text's site is the more precise one
            lat = lat or after[1]
            if not site or self.sites.within(after[0], site) or not concept.attr("neoplasm"):
                site = after[0]
        if site and not lat:
            # "thickening of the right lower lobe with obstructive pneumonia": the organ named with a side
            # in the same sentence gives the side of a disease of that organ
            sides = {self.sites.site_laterality(text, st) for st in sv.sites
                     if self.sites.same_organ(self.sites.site(st)[0], site)}
            sides &= {"left", "right", "bilateral"}
            if len(sides) == 1:
                lat = sides.pop()
        if site and concept.attr("kind") and site != concept.attr("site"):
            # "fracture of the right 4th metatarsal bone": the disease of that kind at that site
            specific = self.sites.specific(concept, site)
            if specific:
                concept = self.maps[specific]
        if site:
            attrs.append(("body_site", site))
            if not lat:
                # "carcinoma of the right kidney": the site named right after the disease
                for st in sv.sites:
                    if -3 <= st.start - mt.end <= 12 and self.sites.site(st)[0] == site:
                        lat = self.sites.site_laterality(text, st)
                    elif st.start >= mt.start and st.end <= mt.end and self.sites.site(st)[1]:
                        lat = self.sites.site(st)[1]
        if lat:
            attrs.append(("laterality", lat))
        attrs.append(("role", role))
        if role == "primary" and not site and _METASTATIC_BEFORE.search(text[max(0, mt.start - 25):mt.start].lower()):
            attrs.append(("metastatic_histology", True))  # "showed metastatic adenocarcinoma"
        if self.rules.relapse.search(text[max(0, mt.start - 30):mt.end + 30]):
            attrs.append(("clinical_status", "relapse"))
        else:
            following = text[mt.end:mt.end + 30].lstrip()
            for status, rx in self.rules.status_words.items():
                if rx.match(following):  # "lymphoma in remission", "pneumonia resolved"
                    attrs.append(("clinical_status", status))
                    break
        before_words = text[max(0, mt.start - 60):mt.start]
        if self.rules.initial_diagnosis.search(before_words):
            attrs.append(("initial", True))     # "initially diagnosed as dengue"
        elif self.rules.revised_diagnosis.search(before_words):
            attrs.append(("revised", True))     # "the diagnosis was revised to leptospirosis"
        # a list of alternatives under a provisional cue is a differential diagnosis
        if assertion == Assertion.POSSIBLE and re.search(r"\bor\b", text):
            assertion = Assertion.DIFFERENTIAL
        p.facts.append(Fact("condition", concept.key, text[mt.start:mt.end], span, p.index, assertion,
                            sv.sent.section, tuple(attrs)))

    def _imaging(self, sv: SentenceView, p: PatientState, mt: Match, concept: Concept, assertion: Assertion,
                 span: Span, base: list[tuple[str, Any]], seen: dict[str, int]) -> None:
        text = sv.text
        r = self.rules
        on_exam = _ON_EXAM.search(text[max(0, mt.start - 30):mt.start])
        if assertion == Assertion.NEGATED and on_exam:
            assertion = Assertion.PRESENT  # "no metastases on PET-CT": the finding is negated, not the exam
        if assertion in (Assertion.NEGATED, Assertion.REFUTED):
            verdict = r.exam_result.search(text, mt.end)
            if verdict and verdict.start() - mt.end <= 40 and not _NEGATION_BEFORE.search(
                    text[max(0, mt.start - 12):mt.start]):
                assertion = Assertion.PRESENT  # "CT ruled out pulmonary embolism": the exam did the ruling out
        if assertion not in ASSERTED:
            return
        if _GUIDED.search(text[mt.end:mt.end + 12]) or _GUIDANCE_BEFORE.search(text[max(0, mt.start - 20):mt.start]):
            return
        if concept.key in seen and not r.exam_repeat.search(text, seen[concept.key], mt.start):
            return  # "magnetic resonance imaging (MRI)": one examination named twice (not "... ; follow-up MRI")
        if concept.attr("refers") and (any(self.maps[k].code == concept.code for k in seen) or any(
                f.attr("modality") == concept.code for f in p.of_kind("imaging"))):
            return  # "On T2-weighted images ...": a sequence or view of the examination already reported
        vm = r.exam_result.search(text, mt.end)
        if vm and vm.start() - mt.end > 120:
            vm = None
        # "MRI brain: multiple lesions", "Chest radiograph - consolidation": a result line
        acted = vm is not None or bool(r.exam_act.search(text)) or bool(_RESULT_LABEL.match(text, mt.end))
        if not acted and not on_exam:
            return  # the modality is talked about, no examination is reported
        if not acted and any(f.attr("modality") == concept.code for f in p.of_kind("imaging")):
            return  # "the diagnosis on CT was ...": refers back to the examination already reported
        seen[concept.key] = mt.end
        # the examined region: "brain MRI", "CT of the chest and abdomen", "ultrasound of the neck"
        region = [self.sites.site(st)[0] for st in sv.sites if 0 <= mt.start - st.end <= 3
                  and not any(o.start <= st.start and st.end <= o.end for o in sv.matches
                              if self.concepts.category(o) != "body_site")]
        for st in sv.sites:
            gap = text[mt.end:st.start].lower()
            if st.start >= mt.end and _REGION_GAP.fullmatch(gap):
                if gap.strip().startswith(("of", "to", "(", "scan")) or region:
                    region.append(self.sites.site(st)[0])
                    mt = Match(mt.start, st.end, mt.term, mt.keys)
        # the same modality (and region) again, not said to be a repeat or later, in the next sentence or
        # in another section ("Imaging findings" ... "Discussion"): the same examination named again
        last, p.last_exam = p.last_exam, (sv.sent.index, concept.code)
        adjacent = last is not None and last[1] == concept.code and sv.sent.index - last[0] <= 1
        if not r.exam_repeat.search(text) and (adjacent or not sv.dates and any(
                f.attr("modality") == concept.code and f.section != sv.sent.section
                and (not region or not f.attr("body_sites") or set(region) & set(f.attr("body_sites")))
                for f in p.of_kind("imaging"))):
            return
        findings = re.sub(r"^(?:that|a|an)\s+(?=\S)", "", text[vm.end():].strip(" .:")) if vm else ""
        findings = findings[:1].upper() + findings[1:]
        attrs = base + [("modality", concept.code), ("body_sites", tuple(region))]
        if concept.attr("hybrid"):
            attrs.append(("hybrid", concept.attr("hybrid")))
        if findings:
            attrs.append(("findings", findings[:300]))
        p.facts.append(Fact("imaging", concept.key, text[mt.start:mt.end], span, p.index, Assertion.PRESENT,
                            sv.sent.section, tuple(attrs)))


def _date_after(dates: tuple[tuple[int, int, str], ...], pos: int) -> str | None:
    after = [d for d in dates if d[0] >= pos]
    return after[0][2] if after else None


def _section_spans(doc: SourceDocument, sections: list[Section]) -> tuple[tuple[str, Span], ...]:
    return tuple((s.kind, doc.to_original(s.start, s.end)) for s in sections)
