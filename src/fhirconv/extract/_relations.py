"""Relations between findings, neoplasms and sites: metastases at their sites, lesions a biopsy
shows to be metastatic, enlargement words that name a finding at a site."""

from __future__ import annotations

import re
from typing import Any

from ..mappings import Concept, Mappings, Match
from ..model import Assertion, Fact, SourceDocument, Span
from ._concepts import ConceptFinder
from ._rules import Rules
from ._sites import Sites, gap_words
from ._state import PatientState, SentenceView

ASSERTED = (Assertion.PRESENT, Assertion.HISTORICAL)
_BEFORE_METASTASIS = ("and", "or", "parenchymal", "solitary", "multiple", "isolated", "intramuscular", "cutaneous",
                      "skin")


def span_of(doc: SourceDocument, sv: SentenceView, start: int, end: int) -> Span:
    """The original-text span of [start, end) of a sentence."""
    return doc.to_original(sv.sent.start + start, sv.sent.start + end)


def nearest_date(dates: tuple[tuple[int, int, str], ...], pos: int) -> str | None:
    """The date written last before ``pos`` in the sentence (else its first date)."""
    before = [d for d in dates if d[0] <= pos]
    if before:
        return before[-1][2]
    return dates[0][2] if dates else None


class Relations:
    """Metastasis and enlargement rules; read-only, shared."""

    def __init__(self, mappings: Mappings, rules: Rules, concepts: ConceptFinder, sites: Sites) -> None:
        self.maps, self.rules, self.concepts, self.sites = mappings, rules, concepts, sites

    def _disorders(self, sv: SentenceView) -> list[Match]:
        return [mt for mt in sv.matches if self.concepts.category(mt) == "disorder"]

    def metastases(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        """'<site> metastasis', 'metastasis to the <site>', 'infiltration of both breasts' → metastasis facts."""
        r = self.rules
        text = sv.text
        disorders = [(mt.start, mt.end) for mt in self._disorders(sv)]
        sites = [st for st in sv.sites if not any(a <= st.start and st.end <= b for a, b in disorders)]

        def gap_text(a: int, b: int) -> str:
            g = text[a:b]
            for da, db in disorders:
                if a <= da and db <= b:
                    g = g[: da - a] + " " * (db - da) + g[db - a:]
            return g.lower()

        named = [(mt.start, mt.end) for mt in self._disorders(sv)
                 if self.maps[self.concepts.key(mt, "disorder")].attr("site")]
        known_primary = p.has_primary()
        for m in r.metastasis.finditer(text):
            word = m.group(0).lower()
            if any(a <= m.start() < b for a, b in named):
                continue
            if r.metastasis_pseudo.match(text, m.start()) or self._modifies_other_disease(sv, m.end()):
                continue    # "secondary to" a cause; "disseminated tuberculosis", "invasive aspergillosis"
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
                    if len(toks) <= 2 and all(t in _BEFORE_METASTASIS or t in r.laterality for t in toks) \
                            and not re.search(r"[.;:(]", gap):
                        targets.append(st)
                        pos = st.start
                    else:
                        break
            assertion, other = sv.ctx.assertion(m.start(), m.end())
            if other:
                continue
            if not targets:
                self._lesion_metastases(doc, sv, p, m, assertion, sites)
                continue
            for st in targets:
                site_key = self.sites.site(st)[0]
                self.metastasis(doc, sv, p, site_key, self.sites.site_laterality(text, st), self.maps[site_key],
                                min(m.start(), st.start), max(m.end(), st.end), assertion)

    def _modifies_other_disease(self, sv: SentenceView, end: int) -> bool:
        """Is the word that ends at ``end`` an adjective of a disease that is no neoplasm (within two words)?"""
        for mt in self._disorders(sv):
            if mt.start >= end and len(re.findall(r"\w+", sv.text[end:mt.start])) <= 2 \
                    and not re.search(r"[.;:,()]", sv.text[end:mt.start]):
                return not self.maps[self.concepts.key(mt, "disorder")].attr("neoplasm")
        return False

    def metastasis(self, doc: SourceDocument, sv: SentenceView, p: PatientState, site: str, lat: str | None,
                   organ: Concept | None, a: int, b: int, assertion: Assertion, inferred: bool = False) -> None:
        """A metastasis at ``site``: coded with the organ's confirmed secondary-neoplasm concept when there is
        one, else left for the builder to code with the primary's code and this body site."""
        attrs: list[tuple[str, Any]] = [("role", "metastasis"), ("body_site", site)]
        if lat:
            attrs.append(("laterality", lat))
        if inferred:
            attrs.append(("inferred", True))     # from lesions the text described, not named as metastases
        date = nearest_date(sv.dates, a)
        if date:
            attrs.append(("date", date))
        p.facts.append(Fact("condition", self.secondary_of(organ, site), sv.text[a:b], span_of(doc, sv, a, b),
                            p.index, assertion, sv.sent.section, tuple(attrs)))

    def secondary_of(self, organ: Concept | None, site: str) -> str:
        """The confirmed secondary-neoplasm concept of an organ or site, or '' (none confirmed)."""
        secondary = (organ.attr("secondary") if organ else None) or (
            self.maps[site].attr("secondary") if site in self.maps.concepts else None)
        return secondary if secondary and secondary in self.maps.concepts else ""

    def _lesion_metastases(self, doc: SourceDocument, sv: SentenceView, p: PatientState, m: re.Match[str],
                           assertion: Assertion, sites: list[Match]) -> None:
        """'skin nodules on her arms and thighs. An excision biopsy showed metastatic carcinoma.' → the
        lesions just described are the metastases, at their sites."""
        neoplasm = next((mt for mt in self._disorders(sv) if 0 <= mt.start - m.end() <= 2
                         and self.maps[self.concepts.key(mt, "disorder")].attr("neoplasm") == "malignant"), None)
        if neoplasm is None:
            # "multiple lesions in the spine, pelvis and right femur, consistent with metastases":
            # the metastases of the same sentence are those lesions (as certain as the sentence says)
            if assertion not in (Assertion.PRESENT, Assertion.POSSIBLE):
                return
            words = list(self.rules.mass_words.finditer(sv.text, 0, m.start()))
            if not words:
                return
            places = self.sites.sites_after(sv.text, Match(words[-1].start(), words[-1].end(), "", ()), tuple(sites),
                                            sv.term_spans)
            named = {self.sites.site(st)[0]: st for st in sites if st.end <= words[-1].start()}
            if not places and len(named) == 1:
                # "MRI of the brain showed two lesions consistent with metastases": the one region examined
                (site, st), = named.items()
                places = [(site, self.sites.site(st)[1] or self.sites.site_laterality(sv.text, st))]
            organ, end = None, m.end()
            if not places:
                return
        else:
            if not p.lesions:
                return
            last = p.lesions[-1]
            organ, places = last.organ, list(last.places)
            if assertion != Assertion.PRESENT or sv.sent.index - last.sentence > 2:
                return
            end = neoplasm.end
        organ_concept = self.maps.get(organ) if organ else None
        for site, lat in places:
            self.metastasis(doc, sv, p, site, lat, organ_concept, m.start(), end, assertion, inferred=True)

    def enlarged_sites(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        """'an enlarged left lower cervical lymph node' → cervical lymphadenopathy, on the left."""
        r = self.rules
        text = sv.text
        if not r.enlarged_kinds or not r.enlarged_words.search(text):
            return
        taken = [f.span for f in p.sentence_facts() if f.kind == "finding"]
        for st in sv.sites:
            site, own_side = self.sites.site(st)
            kind = next((r.enlarged_kinds[a] for a in self.sites.ancestors(site) if a in r.enlarged_kinds), None)
            if kind is None or kind not in self.maps.concepts:
                continue
            word = None
            for m in r.enlarged_words.finditer(text, max(0, st.start - 60), st.start):
                word = m
            if word is None:
                continue
            gap = list(text[word.end():st.start].lower())
            for o in sv.sites:       # "enlarged right cervical and left supraclavicular lymph nodes"
                if word.end() <= o.start and o.end <= st.start:
                    gap[o.start - word.end():o.end - word.end()] = " " * (o.end - o.start)
            toks = gap_words("".join(gap))
            if not all(t in r.laterality or t in r.site_modifiers or t in ("and", "or", "a", "an", "the")
                       for t in toks):
                continue
            span = span_of(doc, sv, word.start(), st.end)
            own = span_of(doc, sv, st.start, st.end)
            if any(t.start < own.end and own.start < t.end for t in taken):
                continue      # already a finding ("enlarged lymph nodes")
            assertion, other = sv.ctx.assertion(word.start(), st.end)
            if other:
                continue
            key = self.sites.specific(self.maps[kind], site) or kind
            lat = own_side or self.sites.site_laterality(text, st) or next(
                (r.laterality[t] for t in toks if t in r.laterality), None)
            attrs = ([("laterality", lat)] if lat else []) + [("body_site", site)]
            p.facts.append(Fact("finding", key, text[word.start():st.end], span, p.index, assertion,
                                sv.sent.section, tuple(attrs)))
            taken.append(own)
