"""Numbers with units, qualitative results, ages and dates, read from sentence text."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..mappings import Concept

MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MON = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
        r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE_PATTERNS = [
    ("ymd", re.compile(r"\b((?:19|20)\d{2})-(\d{2})-(\d{2})\b")),
    ("mdy", re.compile(rf"\b{_MON}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+((?:19|20)\d{{2}})\b", re.I)),
    ("dmy", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON},?\s+((?:19|20)\d{{2}})\b", re.I)),
    ("slash", re.compile(r"\b(\d{1,2})/(\d{1,2})/((?:19|20)\d{2})\b")),
    ("my", re.compile(rf"\b{_MON},?\s+((?:19|20)\d{{2}})\b", re.I)),
    ("md", re.compile(rf"\b{_MON}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*,?\s*(?:19|20)\d{{2}})", re.I)),
    ("dm", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b(?!,?\s+(?:19|20)\d{{2}})", re.I)),
    ("m", re.compile(rf"\b(?:in|since|from|until|till|to|of|during|by|on)\s+(?:early\s+|late\s+|mid\s+)?"
                     rf"{_MON}\b(?!\s*,?\s*(?:\d))", re.I)),
    ("y", re.compile(r"\b(?:in|since|from|until|till|to|of|during|by)\s+((?:19|20)\d{2})\b(?![-/]\d)")),
]
# a decimal point may be written as a middle dot ("13·7 µmol/L", as some journals print it)
_NUMBER = re.compile(r"(?<![\w.,·])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+|\d+(?:[.·]\d+)?)(?![\d,]*[.·]\d)")
_RANGE_PAREN = re.compile(r"\(\s*(?:normal|ref|reference|range|n\b|<|>|≤|≥|\d[\d.,]*\s*[-–]\s*\d)[^)]*\)", re.I)
# a comparison written right before a value: "< 0.01", ">100", "≥ 3", "less than 5"
_COMPARATOR = re.compile(r"(<=|>=|≤|≥|<|>|\bless than|\bgreater than|\bmore than|\bover|\bbelow|\babove)\s*$",
                         re.I)
_COMPARATORS = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">=", "less than": "<",
                "greater than": ">", "more than": ">", "over": ">", "below": "<", "above": ">"}
# superscripts read as the digits they stand for: "10⁹/L" and "109/L" (a superscript lost in PDF
# extraction) are one spelling
_OPEN_PAREN = re.compile(r"\s*[(\[]\s*")
# a table's reference-range column: "0–47" followed by the row's values ("0–47 28 108")
_RANGE_COLUMN = re.compile(r"\s*[–-]\s*(\d+(?:[.,]\d+)?)(?=\s+\d)")
# a single capital letter standing before a number is a name's: "free T 4", "vitamin B 12"
_NAME_DIGIT = re.compile(r"(?<![\w.])[A-Z]\s$")
# a citation: whole numbers alone in brackets, listed or ranged ("(11)", "[ 3 , 4 ]", "(5–7)")
_CITATION_OPEN = re.compile(r"[(\[]\s*(?:\d{1,3}\s*[,–-]\s*)*$")
_CITATION = re.compile(r"\s*(?:[,–-]\s*\d{1,3}\s*)*[)\]]")
_UNIT_TRANS = str.maketrans({"µ": "u", "μ": "u", "⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5",
                             "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9", "⁻": "-", "×": "x", "º": "°"})


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: str          # UCUM code, "" when none was written
    start: int         # offsets in the sentence
    end: int
    comparator: str = ""   # FHIR Quantity.comparator: "<", "<=", ">=", ">" ("TSH < 0.01 mIU/L")
    low: float | None = None    # the reference range written after it ("(135-145)", "(normal < 35)")
    high: float | None = None


# "(135-145)", "(normal 135–145 mmol/L)", "(reference range: 0.1-0.3)", "(N: 2.1 to 2.6)"
_RANGE = re.compile(r"\(\s*(?:(?:normal|reference|ref\.?|range|n)\b[\w\s.]*?[:=]?\s*)?"
                    r"(\d+(?:[.·]\d+)?)\s*(?:-|–|to)\s*(\d+(?:[.·]\d+)?)\b[^)]{0,20}\)", re.I)
_RANGE_ONE = re.compile(r"\(\s*(?:(?:normal|reference|ref\.?|range|n)\b[\w\s.]*?[:=]?\s*)?"
                        r"(<|>|≤|≥|<=|>=|up to|below|above)\s*(\d+(?:[.·]\d+)?)\b[^)]{0,20}\)", re.I)


class UnitReader:
    """Finds a written unit right after a number and returns its UCUM code."""

    def __init__(self, units: list[Concept]) -> None:
        forms: dict[str, str] = {}
        for c in units:
            for t in (*c.terms, c.code):
                forms.setdefault(t.translate(_UNIT_TRANS).lower(), c.code)
        self._forms = forms
        alts = sorted(forms, key=len, reverse=True)
        body = "|".join(re.escape(a) for a in alts) or "(?!)"
        # a unit ends at a word boundary and is not the start of a hyphenated word ("18F-FDG")
        self._re = re.compile(rf"\s?({body})(?![\w/-])")
        self.dims = {c.code: (c.attr("dim") or "") for c in units}

    def at(self, text: str, pos: int) -> tuple[str, int] | None:
        """(UCUM code, end offset) of a unit starting at ``pos`` (after optional space)."""
        m = self._re.match(_unit_text(text), pos)
        if not m:
            return None
        return self._forms[m.group(1)], m.end()


@lru_cache(maxsize=64)
def _unit_text(text: str) -> str:
    """The sentence as units are matched in it, made once per sentence (not once per number)."""
    return text.translate(_UNIT_TRANS).lower()


def parse_number(raw: str) -> float:
    return float(raw.replace(",", "").replace("·", "."))


def quantities(sentence: str, start: int, end: int, units: UnitReader) -> list[Quantity]:
    """Numbers (with their units) in sentence[start:end], skipping reference ranges in parentheses."""
    blocked = [(m.start(), m.end()) for m in _RANGE_PAREN.finditer(sentence, start, end)]
    out: list[Quantity] = []
    column: tuple[float, float] | None = None     # a table's range column, for the values after it
    column_end = 0
    for m in _NUMBER.finditer(sentence, start, end):
        if any(s <= m.start() < e for s, e in blocked) or (out and m.start() < out[-1].end):
            continue  # inside a reference range, or part of the unit just read ("x10^3/µL")
        if column is not None and m.start() < column_end:
            continue
        rng = _RANGE_COLUMN.match(sentence, m.end())
        if rng:
            # a table row: "AST (U/L) 0–47 28 108" — the range column, then the values
            column, column_end = (parse_number(m.group(1)), parse_number(rng.group(1))), rng.end(1)
            continue
        nxt = sentence[m.end():m.end() + 1]
        if nxt in ("-", "–") and sentence[m.end() + 1:m.end() + 2].isalpha():
            continue  # "3-month history", "18F-FDG"
        unit = units.at(sentence, m.end())
        if not unit and "." not in m.group(1) and (
                _NAME_DIGIT.search(sentence, max(0, m.start() - 3), m.start())
                or _CITATION.match(sentence, m.end())
                and _CITATION_OPEN.search(sentence, max(0, m.start() - 40), m.start())):
            continue  # a digit of a name ("free T 4", "vitamin B 12") or a reference ("blockers (11)", "[ 3 , 4 ]")
        code, stop = (unit if unit else ("", m.end()))
        cm = _COMPARATOR.search(sentence, max(0, m.start() - 14), m.start())
        comparator = _COMPARATORS.get(re.sub(r"\s+", " ", cm.group(1).lower()), "") if cm else ""
        low, high = reference_range(sentence, stop)
        if low is None and high is None and column is not None:
            low, high = column
        q = Quantity(parse_number(m.group(1)), code, m.start(), stop, comparator, low, high)
        if out and _is_conversion(sentence, out[-1], q, units):
            continue    # "38.8 °C (101.9 °F)": the same value in another unit
        out.append(q)
    return out


def _is_conversion(sentence: str, prev: Quantity, q: Quantity, units: UnitReader) -> bool:
    dim = units.dims.get(q.unit)
    return bool(prev.unit and q.unit and q.unit != prev.unit and dim and dim == units.dims.get(prev.unit)
                and _OPEN_PAREN.fullmatch(sentence, prev.end, q.start))


def reference_range(sentence: str, pos: int) -> tuple[float | None, float | None]:
    """(low, high) of a reference range in parentheses right after a value, else (None, None)."""
    rest = sentence[pos:pos + 60]
    lead = len(rest) - len(rest.lstrip())
    m = _RANGE.match(rest, lead)
    if m:
        low, high = parse_number(m.group(1)), parse_number(m.group(2))
        return (low, high) if low <= high else (None, None)
    m = _RANGE_ONE.match(rest, lead)
    if m:
        bound = parse_number(m.group(2))
        return (None, bound) if m.group(1).lower() in ("<", "≤", "<=", "up to", "below") else (bound, None)
    return None, None


def find_dates(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, raw-groups-joined) for every date expression, in text order."""
    found: list[tuple[int, int, str, tuple[str, ...]]] = []
    taken: list[tuple[int, int]] = []
    for kind, rx in _DATE_PATTERNS:
        for m in rx.finditer(text):
            s, e = m.span()
            if any(a < e and s < b for a, b in taken):
                continue
            taken.append((s, e))
            found.append((s, e, kind, m.groups()))
    found.sort()
    return [(s, e, k, "|".join(g or "" for g in groups)) for s, e, k, groups in found]


def resolve_date(kind: str, raw: str, anchor_year: int | None) -> tuple[str | None, int | None]:
    """ISO (partial) date for a found expression, and the year it establishes (if absolute).

    A date the calendar does not have ("31 April", "10/89/1930", year 0) is no date.
    """
    iso, year = _resolve_date(kind, raw, anchor_year)
    if iso is None or _real_date(iso):
        return iso, year
    return None, None


def _real_date(iso: str) -> bool:
    parts = [int(p) for p in iso.split("-")]
    try:
        datetime.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return False
    return True


def _resolve_date(kind: str, raw: str, anchor_year: int | None) -> tuple[str | None, int | None]:
    g = raw.split("|")

    def mon(s: str) -> int:
        return MONTHS[s[:3].lower()]

    try:
        if kind == "ymd":
            return f"{int(g[0]):04d}-{int(g[1]):02d}-{int(g[2]):02d}", int(g[0])
        if kind == "mdy":
            return f"{int(g[2]):04d}-{mon(g[0]):02d}-{int(g[1]):02d}", int(g[2])
        if kind == "dmy":
            return f"{int(g[2]):04d}-{mon(g[1]):02d}-{int(g[0]):02d}", int(g[2])
        if kind == "slash":
            a, b, y = int(g[0]), int(g[1]), int(g[2])
            month, day = (a, b) if a <= 12 else (b, a)  # month/day/year unless the first cannot be a month
            if month > 12 or day > 31:
                return None, None
            return f"{y:04d}-{month:02d}-{day:02d}", y
        if kind == "my":
            return f"{int(g[1]):04d}-{mon(g[0]):02d}", int(g[1])
        if kind == "y":
            return f"{int(g[0]):04d}", int(g[0])
        if anchor_year is None:
            return None, None
        if kind == "md":
            return f"{anchor_year:04d}-{mon(g[0]):02d}-{int(g[1]):02d}", None
        if kind == "dm":
            return f"{anchor_year:04d}-{mon(g[1]):02d}-{int(g[0]):02d}", None
        if kind == "m":
            return f"{anchor_year:04d}-{mon(g[0]):02d}", None
    except (ValueError, KeyError):
        return None, None
    return None, None


def word_number(raw: str, words: dict[str, int]) -> float:
    """'16' → 16, 'sixteen' → 16, 'twenty-five' → 25."""
    try:
        return float(raw)
    except ValueError:
        return float(sum(words.get(w, 0) for w in re.split(r"[\s-]+", raw.lower())))


def find_age(text: str, patterns: list[re.Pattern[str]], units: dict[str, str],
             words: dict[str, int] | None = None) -> tuple[float, str, int, int] | None:
    for rx in patterns:
        m = rx.search(text)
        if m:
            value = word_number(m.group(1), words or {})
            if not value:
                continue
            unit_word = (m.group(2) or "year").lower() if m.lastindex and m.lastindex >= 2 else "year"
            return value, units.get(unit_word.rstrip("s"), "a"), m.start(), m.end()
    return None


RESULT_ORDER = ("negative", "positive", "increased", "decreased", "normal")


def qualitative(window: str, rules: dict[str, Any]) -> str | None:
    """'positive', 'negative', 'increased', ... when the words right after a test name say so."""
    w = window.lower()
    for value in RESULT_ORDER:
        for rx in rules.get(value, []):
            if re.search(rx, w):
                return value
    return None
