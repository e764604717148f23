"""Body sites and laterality: which structure a phrase is 'of/in/at', with which side, and how
sites contain each other (parent links in ``mappings/body_sites.tsv``)."""

from __future__ import annotations

import re

from ..mappings import Concept, Mappings, Match
from ._concepts import ConceptFinder
from ._rules import Rules
from ._state import PatientState

_ORDINAL = re.compile(r"\b\d+(?:st|nd|rd|th)\b")
_MAX_DEPTH = 6


def gap_words(gap: str) -> list[str]:
    """The words between a term and a site, ordinals left out ("of the right 4th metatarsal")."""
    return re.findall(r"[a-z]+", _ORDINAL.sub(" ", gap.lower()))


class Sites:
    """Site and side rules over the mappings' body-site hierarchy; read-only, shared."""

    def __init__(self, mappings: Mappings, rules: Rules, concepts: ConceptFinder) -> None:
        self.maps, self.rules, self.concepts = mappings, rules, concepts
        # site-specific forms of generic findings: (category, kind, site) → concept ("mass" + breast →
        # breast mass); of several, the coded one with the shortest name: the most general ("Thyroid nodule")
        self._by_kind_site: dict[tuple[str, str, str], str] = {}
        ordered = sorted((c for c in mappings.concepts.values() if c.attr("kind")),
                         key=lambda c: (not c.coded, len(c.display), c.key))
        for c in ordered:
            if c.attr("kind") and c.attr("site"):
                self._by_kind_site.setdefault((c.category, c.attr("kind") or "", c.attr("site") or ""), c.key)
        for c in ordered:
            for more in (c.attr("sites") or "").split(",") if c.attr("kind") else ():
                if more.strip():
                    self._by_kind_site.setdefault((c.category, c.attr("kind") or "", more.strip()), c.key)

    # ------------------------------------------------------------------ the hierarchy
    def parent(self, site: str) -> str:
        return (self.maps[site].attr("parent") or "") if site in self.maps.concepts else ""

    def ancestors(self, site: str) -> list[str]:
        out: list[str] = []
        while site and len(out) < _MAX_DEPTH:
            out.append(site)
            site = self.parent(site)
        return out

    def within(self, site: str, container: str) -> bool:
        """Is ``site`` the ``container`` or part of it (following parent links)?"""
        return container in self.ancestors(site)

    def same_organ(self, a: str, b: str) -> bool:
        """Are two sites parts of one paired organ (the lower lobe and the bronchi of a lung)?"""
        common = set(self.ancestors(a)) & set(self.ancestors(b))
        return any(self.maps[c].attr("paired") for c in common if c in self.maps.concepts)

    def specific(self, concept: Concept, site: str) -> str | None:
        """The concept of the same kind at ``site`` or the nearest structure containing it."""
        for s in self.ancestors(site):
            found = self._by_kind_site.get((concept.category, concept.attr("kind") or "", s))
            if found:
                return found
        return None

    def note_side(self, p: PatientState, site: str, lat: str) -> None:
        """Remember that this patient's site (and the structures containing it) was named with a side."""
        for s in self.ancestors(site):
            p.sides.setdefault(s, set()).add(lat)

    # ------------------------------------------------------------------ in a sentence
    def site(self, site: Match) -> tuple[str, str | None]:
        """(general body-site key, laterality) of a site match: 'left breast' → (body_site.breast, left)."""
        concept = self.maps[self.concepts.key(site, "body_site")]
        parent = concept.attr("parent")
        if parent and parent in self.maps.concepts and concept.attr("laterality"):
            return parent, concept.attr("laterality")
        return concept.key, concept.attr("laterality")

    def laterality_before(self, text: str, pos: int, words: int = 3) -> str | None:
        window = text[max(0, pos - 40):pos]
        toks = re.findall(r"[A-Za-z-]+", window)[-words:]
        for t in reversed(toks):
            side = self.rules.laterality.get(t.lower())
            if side:
                return side
            if t.lower() in ("and", "or", "with", "plus", "but"):
                return None     # "a lump in the left breast and bone pain": the side is the breast's
        return None

    def site_laterality(self, text: str, site: Match) -> str | None:
        own = self.site(site)[1]
        if own:
            return own
        lat = self.laterality_before(text, site.start, 2)
        if lat:
            return lat
        concept = self.maps[self.concepts.key(site, "body_site")]
        matched = text[site.start:site.end].lower()
        if concept.attr("paired") and (matched.endswith("s") and not matched.endswith("ss")
                                       or matched.endswith("ae")):
            if matched not in {t.lower() for t in concept.terms}:
                return "bilateral"
        return None

    def site_after(self, text: str, mt: Match, sites: tuple[Match, ...],
                   term_spans: tuple[tuple[int, int], ...]) -> tuple[str, str | None] | None:
        """'lymphoma of the thyroid', 'thrombus in the right internal jugular vein' → (site, laterality)."""
        found = self.sites_after(text, mt, sites, term_spans)
        return found[0] if found else None

    def sites_after(self, text: str, mt: Match, sites: tuple[Match, ...],
                    term_spans: tuple[tuple[int, int], ...]) -> list[tuple[str, str | None]]:
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
            toks = gap_words(gap)
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
                           and (a, b) != (mt.start, mt.end) for a, b in term_spans):
                break           # "a lump in the left breast and bone pain": 'bone' belongs to 'bone pain'
            base, own = self.site(st)
            side = own or self.site_laterality(text, st) or next(
                (r.laterality[t] for t in toks if t in r.laterality), None)
            if side is None and out and carried and self.maps[base].attr("paired"):
                side = carried      # "in both breasts and axillae", "the left breast and axilla"
            carried = side if not out else carried
            out.append((base, side))
            pos = st.end
        return out
