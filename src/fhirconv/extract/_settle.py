"""Patient-level rules, applied once all sentences are read: what the text says as a whole."""

from __future__ import annotations

import re
from typing import Any

from ..mappings import Mappings
from ..model import Assertion, Fact
from ._relations import ASSERTED, Relations
from ._rules import Rules
from ._sites import Sites
from ._state import PatientState

_OPEN = (Assertion.POSSIBLE, Assertion.DIFFERENTIAL)


def with_attrs(f: Fact, *extra: tuple[str, Any], assertion: Assertion | None = None) -> Fact:
    """A copy of a fact with attributes added (and optionally another assertion)."""
    return Fact(f.kind, f.concept, f.text, f.span, f.patient, assertion or f.assertion, f.section, f.attrs + extra)


class Settler:
    """Patient-level rules; read-only, shared."""

    def __init__(self, mappings: Mappings, rules: Rules, sites: Sites, relations: Relations) -> None:
        self.maps, self.rules, self.sites, self.relations = mappings, rules, sites, relations

    def settle(self, p: PatientState) -> list[Fact]:
        """The patient's facts once the whole text is read.

        * a generic 'metastasis' gives way to site-specific ones;
        * one disease named twice, once less specifically ('carcinoma', 'prostate cancer' beside
          'prostate adenocarcinoma'), is kept once, at its most specific;
        * a suspected diagnosis later confirmed or ruled out is kept once, as it ended;
        * a solid primary tumour named without a site lies where the presenting mass is;
        * masses away from the primary of a disseminated malignancy are its metastases;
        * a lateral organ named with one side only lends that side to the tumours of that organ.
        """
        facts = self._drop_redundant(p.facts)
        facts = self._revised(facts)
        facts = self._refuted_forms(facts)
        facts = self._resolved_diagnoses(facts)
        masses = [f for f in facts if f.kind == "finding" and f.assertion in ASSERTED and f.attr("body_site")
                  and self.rules.mass_words.search(f.text)]
        facts = self._site_of_siteless(facts, masses)
        # a lesion found to be "metastatic" in the primary tumour's own organ is the primary
        primary_sites = {(f.attr("body_site"), f.attr("laterality")) for f in facts if f.kind == "condition"
                         and f.attr("role") == "primary" and f.attr("body_site") and f.assertion in ASSERTED}
        facts = [f for f in facts if not (f.attr("inferred") and any(
            (self.sites.same_organ(f.attr("body_site"), s) or self.sites.within(f.attr("body_site"), s))
            and (not side or not f.attr("laterality") or side == f.attr("laterality")) for s, side in primary_sites))]
        facts = self._disseminated(facts, masses)
        return self._sides(p, facts)

    def _drop_redundant(self, facts: list[Fact]) -> list[Fact]:
        site_mets = any(o.kind == "condition" and o.attr("role") == "metastasis" and o.attr("body_site")
                        for o in facts)
        primaries = [o for o in facts if o.kind == "condition" and o.attr("role") == "primary"
                     and o.assertion in ASSERTED]
        return [f for f in facts if not self._redundant(f, site_mets, primaries)]

    def _redundant(self, f: Fact, site_mets: bool, primaries: list[Fact]) -> bool:
        concept = self.maps.get(f.concept) if f.concept else None
        if concept is None or f.kind != "condition":
            return False
        if site_mets and concept.attr("neoplasm") == "secondary" and not concept.attr("site"):
            return True
        if f.attr("role") != "primary" or f.assertion not in ASSERTED:
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

    @staticmethod
    def _revised(facts: list[Fact]) -> list[Fact]:
        """A first diagnosis the text later revises to another is ruled out ("initially diagnosed as
        dengue ... the final diagnosis was leptospirosis"); without a revision it stands."""
        revised = [f for f in facts if f.kind == "condition" and f.attr("revised") and f.assertion in ASSERTED]
        if not revised:
            return facts
        out = []
        for f in facts:
            if f.kind == "condition" and f.attr("initial") and f.assertion in ASSERTED and any(
                    r.span.start > f.span.start and r.concept != f.concept for r in revised):
                f = with_attrs(f, assertion=Assertion.REFUTED)
            out.append(f)
        return out

    @staticmethod
    def _refuted_forms(facts: list[Fact]) -> list[Fact]:
        """A form of a disease that tests ruled out is ruled out too ("dengue" negative → "dengue
        haemorrhagic fever" was not the diagnosis)."""
        refuted = [f.text.lower() for f in facts if f.kind == "condition" and f.assertion == Assertion.REFUTED]
        out = []
        for f in facts:
            if f.kind == "condition" and f.assertion in ASSERTED and any(
                    re.search(rf"\b{re.escape(t)}\b", f.text.lower()) for t in refuted if t != f.text.lower()):
                f = with_attrs(f, assertion=Assertion.REFUTED)
            out.append(f)
        return out

    @staticmethod
    def _resolved_diagnoses(facts: list[Fact]) -> list[Fact]:
        """A suspected or differential diagnosis that the text later confirms or rules out is
        recorded once, as it ended ("suspected tuberculosis ... biopsy confirmed tuberculosis",
        "provisional diagnosis of dengue infection ... dengue tests were negative")."""
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
            if f.kind == "condition" and f.assertion in _OPEN:
                later = [o for o in settled if o.span.start > f.span.start and same(f, o)]
                if later:
                    last = later[-1]
                    if last.assertion == Assertion.REFUTED and not (last.concept and last.concept == f.concept):
                        # the form named earlier is ruled out with the disease: keep its own (more
                        # specific) name, refuted
                        out.append(with_attrs(f, assertion=Assertion.REFUTED))
                    continue
            out.append(f)
        return out

    def _haematological(self, f: Fact) -> bool:
        c = self.maps.get(f.concept)
        return c is not None and c.attr("class") == "haematological"

    def _site_of_siteless(self, facts: list[Fact], masses: list[Fact]) -> list[Fact]:
        """A solid primary tumour named without a site lies where the presenting mass is."""
        siteless = [f for f in facts if f.kind == "condition" and f.attr("role") == "primary"
                    and f.assertion in ASSERTED and not f.attr("body_site") and not self._haematological(f)
                    and not f.attr("metastatic_histology")]
        if not masses or len(siteless) != 1:
            return facts
        mass, tumour = masses[0], siteless[0]
        extra = (("body_site", mass.attr("body_site")),) + (
            (("laterality", mass.attr("laterality")),) if mass.attr("laterality") else ())
        out = list(facts)
        out[out.index(tumour)] = with_attrs(tumour, *extra)
        return out

    def _disseminated(self, facts: list[Fact], masses: list[Fact]) -> list[Fact]:
        """A malignancy the text calls disseminated (widespread, metastatic, "-matosis"), with one
        primary site: the masses found elsewhere are its metastases, each at its site."""
        tumours = [f for f in facts if f.kind == "condition" and f.assertion in ASSERTED and f.concept
                   and self.maps[f.concept].attr("neoplasm") == "malignant"]
        # said of the malignancy itself ("disseminated leiomyosarcomatosis"), not of another disease
        # ("disseminated intravascular coagulation")
        spread = any(self.rules.disseminated.search(f.text) for f in facts
                     if f.kind == "condition" and f.assertion in ASSERTED
                     and (f in tumours or f.attr("role") == "metastasis"))
        if not masses or not tumours or not spread:
            return facts
        primary_sites = {f.attr("body_site") for f in tumours if f.attr("role") == "primary" and f.attr("body_site")}
        if len(primary_sites) != 1:
            return facts
        (primary_site,) = primary_sites
        known = {(f.attr("body_site"), f.attr("laterality")) for f in facts
                 if f.kind == "condition" and f.attr("role") == "metastasis" and f.assertion in ASSERTED}
        out = list(facts)
        for m in masses:
            site = m.attr("body_site")
            if self.sites.same_organ(site, primary_site) or self.sites.within(site, primary_site) \
                    or (site, m.attr("laterality")) in known:
                continue
            known.add((site, m.attr("laterality")))
            organ_key = self.maps[m.concept].attr("site") if m.concept in self.maps.concepts else None
            organ = self.maps.get(organ_key) if organ_key else None
            attrs: list[tuple[str, Any]] = [("role", "metastasis"), ("body_site", site)]
            if m.attr("laterality"):
                attrs.append(("laterality", m.attr("laterality")))
            out.append(Fact("condition", self.relations.secondary_of(organ, site), m.text, m.span, m.patient,
                            Assertion.PRESENT, m.section, tuple(attrs)))
        return out

    def _sides(self, p: PatientState, facts: list[Fact]) -> list[Fact]:
        """A lateral organ named with one side only lends that side to the tumours of that organ."""
        for f in facts:
            if f.attr("body_site") and f.attr("laterality") and f.assertion in ASSERTED:
                self.sites.note_side(p, f.attr("body_site"), f.attr("laterality"))
        out = []
        for f in facts:
            site = f.attr("body_site")
            concept = self.maps.get(f.concept) if f.concept else None
            is_tumour = f.attr("role") in ("primary", "metastasis") or bool(concept and concept.attr("neoplasm"))
            if f.kind == "condition" and is_tumour and site and not f.attr("laterality") and f.assertion in ASSERTED:
                seen = p.sides.get(site, set())
                if len(seen) == 1:
                    f = with_attrs(f, ("laterality", next(iter(seen))))
            out.append(f)
        return out


def dedupe(facts: list[Fact]) -> list[Fact]:
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
            key = (f.kind, f.concept, f.attr("value"), f.attr("unit"), f.attr("date"), f.attr("repeat"))
        else:
            group = "asserted" if f.assertion in ASSERTED else f.assertion.value
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
