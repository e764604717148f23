"""Laboratory results: test names paired with the values, units and qualitative results after them."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..mappings import Concept, Mappings, Match
from ..model import Assertion, Fact, SourceDocument
from ._concepts import ConceptFinder
from ._relations import nearest_date, span_of
from ._rules import Rules
from ._state import OpenTest, PatientState, SentenceView
from ._values import Quantity, qualitative, quantities

_CONNECTOR = re.compile(r"^[\s,()]*(?:and|or|,|/|&)?[\s,()]*(?:the\s+|serum\s+)?$", re.I)
# a change of a value over time, right before the next value: "rose to", "fell to 98 on day 3"
_TREND = re.compile(r"\b(?:rose|rising|increased|increasing|fell|falling|decreased|decreasing|dropped|declined|"
                    r"improved|normali[sz]ed|returned|peaked|climbed|reached|recovered)\b(?:\s+\w+){0,3}?"
                    r"\s+(?:to|at|of)\s*$", re.I)
_UNIT_HEADER = re.compile(r"\s*\(\s*")
_SHARED_UNIT = re.compile(r"\s*(?:to|and|-|–|,)\s*")
_HEADING_LIKE = re.compile(r"\W*(?:\w+[\s,/&-]+){0,6}\w+\W*(?<![.!?])")
# a line of results ("Protein: 0.8 g/L", "WCC 5 x 10^6/L"), not a sentence of prose
_RESULT_LINE = re.compile(r"^\W*[A-Za-z][\w ()/-]{0,40}:\s*\S|^[^.!?]*\d[^.!?]*$")
_OWN_VALUE = re.compile(r"\W{0,3}(?:(?:was|is|of|at|=)\s*)?[<>≤≥]?\s*\d")
_SURE_SAMPLE_DISTANCE = 60     # characters between a sample named and a test that surely is of it
_SAMPLE_AFTER = re.compile(r"\s*(?:in|of|from)\s+(?:the\s+)?", re.I)
_BP = re.compile(r"(\d{2,3})\s*/\s*(\d{2,3})\s*(?:mm\s*hg)?", re.I)


def _sample(c: Concept) -> str:
    return c.attr("sample") or "blood"


def _preference(c: Concept) -> tuple[bool, bool, str]:
    """Coded rows before text-only ones, curated before generated, then by key."""
    return (not c.coded, c.attr("generated") is not None, c.key)


def _before_value(before: str, rules: dict[str, list[str]]) -> str | None:
    w = before.lower()
    for value in ("negative", "positive", "increased", "decreased"):
        for rx in rules.get(value, []):
            if re.search(rx, w):
                return value
    return None


class LabReader:
    """Lab-test rules; read-only, shared."""

    def __init__(self, mappings: Mappings, rules: Rules, concepts: ConceptFinder) -> None:
        self.maps, self.rules, self.concepts = mappings, rules, concepts
        self.units = rules.units
        # every row of a test on a sample, the curated and coded ones first: a test named in a
        # sentence about the CSF is the CSF test of the same analyte
        self._by_sample: dict[tuple[str, str], list[Concept]] = {}
        for c in sorted(mappings.category("lab"), key=_preference):
            if c.attr("analyte"):
                self._by_sample.setdefault((c.attr("analyte") or "", _sample(c)), []).append(c)

    def read(self, doc: SourceDocument, sv: SentenceView, p: PatientState, labs: list[Match]) -> None:
        """Facts for the test names of a sentence, grouped where one list of values serves several."""
        text = sv.text
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
            # a table row's unit, in parentheses after the name: "AST (U/L) 0–47 28 108"
            header = _UNIT_HEADER.match(text, group[-1].end)
            unit_at = self.units.at(text, header.end()) if header else None
            if unit_at and re.match(r"\s*\)", text[unit_at[1]:]):
                qs = [q if q.unit else replace(q, unit=unit_at[0]) for q in qs]
            # "from 18.1 to 132.6 units/ml": a unit written once serves the numbers joined to it
            for i in range(len(qs) - 2, -1, -1):
                if not qs[i].unit and qs[i + 1].unit and _SHARED_UNIT.fullmatch(text[qs[i].end:qs[i + 1].start]):
                    qs[i] = replace(qs[i], unit=qs[i + 1].unit)
            # "118 mmol/L on admission and rose to 125": a later value of the same test keeps its unit
            for i in range(1, len(qs)):
                if not qs[i].unit and qs[i - 1].unit and _TREND.search(text, qs[i - 1].end, qs[i].start):
                    qs[i] = replace(qs[i], unit=qs[i - 1].unit)
            after = text[group[-1].end:min(len(text), group[-1].end + 40)]
            before = text[max(0, group[0].start - 40):group[0].start]
            shared = qualitative(after, self.rules.results) or _before_value(before, self.rules.results_before) \
                or self._score(group[-1], after)
            qs = [q for q in qs if q.unit] or qs[:1]
            if shared in ("positive", "negative") and qs and not qs[0].unit:
                qs = []     # "ER positive at 250": the result is the word; the bare number is a score
            if len(group) > 1 and len(qs) >= len(group):
                pairs = [(mt, [q]) for mt, q in zip(group, qs[: len(group)], strict=False)]
            else:
                pairs = [(mt, qs if mt is group[-1] else []) for mt in group]
            # "all tests except HBsAg were negative": whatever HBsAg was, it was not negative
            excepted = bool(self.rules.results_of_all_except.search(before[-25:]))
            if excepted:
                shared = None
            for mt, values in pairs:
                assertion, other = sv.ctx.assertion(mt.start, mt.end)
                if other or assertion == Assertion.HYPOTHETICAL:
                    continue
                if excepted:
                    assertion = Assertion.PRESENT
                self.facts(doc, sv, p, mt, values, assertion, shared)

    def _score(self, mt: Match, after: str) -> str | None:
        """The result a score after the test name means for that test ("HER2 1+": negative)."""
        m = self.rules.score_pattern.match(after)
        if not m:
            return None
        for k in mt.keys:
            meaning = self.rules.score_results.get(self.maps[k].attr("analyte") or "", {})
            if m.group("score") in meaning:
                return meaning[m.group("score")]
        return None

    def results_of_all(self, sv: SentenceView, p: PatientState) -> None:
        """Give the result of "All tests were negative" to the tests listed in the sentence before."""
        waiting = [t for t in p.open_tests if t.sentence == sv.sent.index - 1]
        p.open_tests = []
        if not waiting:
            return
        m = self.rules.results_of_all.search(sv.text)
        if not m:
            return
        rest = m.group("rest")
        ex = self.rules.results_of_all_except.search(rest)
        excluded = rest[ex.end():].lower() if ex else ""
        for t in waiting:
            if excluded and t.text.lower() in excluded:
                continue
            p.facts.append(Fact("lab", t.key, t.text, t.span, p.index, Assertion.PRESENT, t.section,
                                (("value", "negative"),) + t.attrs))

    def implied(self, doc: SourceDocument, sv: SentenceView, p: PatientState) -> None:
        """Values reported through a disease name ("anaemia (7.5 mmol/L)") or by their unit alone ("38.5 °C")."""
        r = self.rules
        text = sv.text
        for mt in sv.matches:
            analyte = r.measured_by.get(self.concepts.key(mt, self.concepts.category(mt)))
            if not analyte:
                continue
            qs = quantities(text, mt.end, min(len(text), mt.end + 30), self.units)
            if qs and qs[0].unit and re.fullmatch(r"\s*\(\s*", text[mt.end:qs[0].start]):
                self.facts(doc, sv, p, mt, qs[:1], Assertion.PRESENT, None, analyte=analyte)
        done = {f.attr("unit") for f in p.sentence_facts() if f.kind == "lab"}
        for q in quantities(text, 0, len(text), self.units):
            analyte = r.unit_implies.get(q.unit)
            if analyte and q.unit not in done:
                self.facts(doc, sv, p, Match(q.start, q.end, "", ()), [q], Assertion.PRESENT, None, analyte=analyte)
                done.add(q.unit)

    def facts(self, doc: SourceDocument, sv: SentenceView, p: PatientState, mt: Match, values: list[Quantity],
              assertion: Assertion, shared: str | None, analyte: str | None = None) -> None:
        """The lab facts of one test name: one per value, else its qualitative result."""
        text = sv.text
        section = sv.sent.section
        date = nearest_date(sv.dates, mt.start)
        span = span_of(doc, sv, mt.start, mt.end)
        dated: list[tuple[str, Any]] = [("date", date)] if date else []
        emitted = False
        panel = next((self.maps[k] for k in mt.keys if self.maps[k].attr("value") == "bp_panel"), None)
        if panel is not None:
            # "blood pressure of 110/70 mmHg": one panel, two components
            m = _BP.search(text[mt.end:mt.end + 40])
            if m:
                p.facts.append(Fact("lab", panel.key, text[mt.start:mt.end + m.end()], span, p.index,
                                    Assertion.PRESENT, section,
                                    tuple([("value", f"{m.group(1)}/{m.group(2)}"), ("unit", "mm[Hg]")] + dated)))
            return
        sample = self._sample_named(text, mt, sv.sample, sv.matches)
        for q in values:
            key, unit = self.lab_key(mt.keys, q.unit, analyte=analyte, sample=sample)
            if key is None:
                continue
            if self.maps[key].attr("value") == "bp_panel":
                continue
            if not unit:
                unit = implied_unit(self.maps[key].attr("implied_unit"), q.value)
            attrs = [("value", q.value), ("unit", unit)] + ([("comparator", q.comparator)] if q.comparator else [])
            if q.low is not None:
                attrs.append(("low", q.low))
            if q.high is not None:
                attrs.append(("high", q.high))
            # a value with a date of its own ("98 on 3 May") is dated so; a repeated measurement is
            # a value of its own even when it equals an earlier one ("repeat troponin I was 54 ng/mL")
            when = nearest_date(sv.dates, q.start) if any(mt.end <= d[0] <= q.end for d in sv.dates) else date
            if self.rules.exam_repeat.search(text, max(0, mt.start - 30), q.end):
                attrs.append(("repeat", sv.sent.index))
            p.facts.append(Fact("lab", key, text[mt.start:q.end], span, p.index, Assertion.PRESENT,
                                section, tuple(attrs + ([("date", when)] if when else []))))
            emitted = True
        if emitted or analyte is not None:
            return
        key, _ = self.lab_key(mt.keys, None, qualitative_only=True, sample=sample)
        value = shared
        grown = self.rules.organism.match(text, mt.end)
        if value is None and grown and key is not None and self.maps[key].attr("value") == "qualitative":
            p.facts.append(Fact("lab", key, text[mt.start:grown.end()], span, p.index, Assertion.PRESENT,
                                section, tuple([("value", grown.group(1))] + dated)))
            return
        if value is None and assertion in (Assertion.NEGATED, Assertion.REFUTED):
            value = "negative"
        if value is None and key is not None and assertion in (Assertion.PRESENT, Assertion.POSSIBLE) \
                and self.maps[key].attr("value") == "qualitative":
            p.open_tests.append(OpenTest(sv.sent.index, key, text[mt.start:mt.end], span, section, tuple(dated)))
        if value is None or key is None:
            return
        if value not in ("positive", "negative") and self.maps[key].attr("value") == "qualitative":
            return
        if value in ("positive", "negative") and self.maps[key].attr("value") != "qualitative":
            qual, _ = self.lab_key(mt.keys, None, qualitative_only=True, strict=True, sample=sample)
            if qual is None:
                return
            key = qual
        p.facts.append(Fact("lab", key, text[mt.start:mt.end], span, p.index, Assertion.PRESENT,
                            section, tuple([("value", value)] + dated)))

    def _sample_named(self, text: str, mt: Match, sv_sample: str | None = None,
                      others: tuple[Match, ...] | list[Match] = ()) -> tuple[str | None, bool]:
        """The sample the text names for this test, and whether it surely is this test's: one right
        after it ("protein in the CSF"), else the last one written before it in the sentence ("CSF
        analysis showed protein ..."; sure when close), else the one of the heading above. A sample
        that is part of another test's name ("urine sodium 60 mmol/L; C3 ...") is that test's only."""
        # another test named with its sample and given its own value right after ("urine sodium 60 mmol/L")
        bound = [(o.start, o.end) for o in others if o is not mt and o.start != mt.start
                 and self.concepts.category(o) == "lab" and _OWN_VALUE.match(text, o.end)]
        before: tuple[int, str] | None = None
        for name, rx in self.rules.samples:
            after = rx.search(text, mt.end, mt.end + 24)
            if after and _SAMPLE_AFTER.fullmatch(text, mt.end, after.start()):
                return name, True
            for m in rx.finditer(text, 0, mt.start):
                if any(s <= m.start() < e or 0 <= s - m.end() <= 1 for s, e in bound):
                    continue
                if before is None or m.start() > before[0]:
                    before = (m.start(), name)
        if before:
            return before[1], mt.start - before[0] <= _SURE_SAMPLE_DISTANCE
        return sv_sample, sv_sample is not None

    def carried_sample(self, text: str, carried: str | None) -> str | None:
        """The sample of the result lines under a heading that names one ("CSF microscopy and culture",
        "Pleural fluid analysis"): a new heading line replaces it, a prose sentence ends it."""
        if _HEADING_LIKE.fullmatch(text):
            return next((name for name, rx in self.rules.samples if rx.search(text)), None)
        return carried if _RESULT_LINE.match(text) else None

    def _candidates(self, keys: tuple[str, ...], analyte: str | None,
                    sample: tuple[str | None, bool]) -> list[Concept]:
        """The lab rows a test name may mean, on the sample the text names (or the row's own). A test
        surely run on a sample that has no row of it is none of the rows (a CSF cell count is not coded
        as the blood count)."""
        own = [self.maps[k] for k in keys if k.startswith("lab.")]
        analytes = [analyte] if analyte else list(dict.fromkeys(c.attr("analyte") for c in own if c.attr("analyte")))
        # a term that names its sample ("CSF protein") keeps it
        samples = {_sample(c) for c in own}
        named, sure = sample
        own_sample = len(samples) == 1 and samples != {"blood"}
        want = next(iter(samples)) if own_sample else (named or "blood")
        specific = sorted({c.key: c for a in analytes for c in self._by_sample.get((a or "", want), [])}.values(),
                          key=_preference)
        if specific:
            return specific
        if sure and want != "blood" and not own_sample:
            return []
        if analyte:
            return [c for s_ in ("blood",) for c in self._by_sample.get((analyte, s_), [])]
        return sorted(own, key=_preference)

    def lab_key(self, keys: tuple[str, ...], unit: str | None, qualitative_only: bool = False,
                strict: bool = False, analyte: str | None = None,
                sample: tuple[str | None, bool] = (None, False)) -> tuple[str | None, str | None]:
        """The lab row for these keys (or this analyte), the sample and the written unit, and the
        UCUM unit to record."""
        concepts = self._candidates(keys, analyte, sample)
        if qualitative_only:
            qual = [c for c in concepts if c.attr("value") == "qualitative"]
            if qual:
                return qual[0].key, None
            return (None if strict else (concepts[0].key if concepts else None)), None
        quant = [c for c in concepts if c.attr("value", "quantity") != "qualitative"]
        if not unit:
            # a generated row is chosen by its unit only: a bare number ("HER2 1+") is not its value
            quant = [c for c in quant if c.attr("generated") is None]
            return (quant[0].key, "") if quant else (None, None)
        if not quant:
            return None, None

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


def implied_unit(spec: str | None, value: float) -> str:
    """The unit a vital sign written without one has, by the range its value falls in ("pulse 105",
    "temperature 103.4"): ``spec`` is "unit@low-high|unit@low-high" (the row's implied_unit)."""
    for part in (spec or "").split("|"):
        unit, _, rng = part.partition("@")
        low, _, high = rng.partition("-")
        try:
            if unit and float(low) <= value <= float(high):
                return unit
        except ValueError:
            continue
    return ""

