"""Python versions of the R4 invariants fhirpathpy cannot evaluate (``hasValue()``, ``htmlChecks()``).

per-1, age-1, cnt-3 and bdl-10 follow their FHIRPath expressions literally, with FHIRPath's rules
for comparing dates of different precision: a comparison that cannot be decided is empty, and a
constraint holds only when true, so it fails (the HL7 validator's verdict on "2023-06-21" to
"2023-06-21T06:20:00Z"). txt-1 and txt-2 are ``htmlChecks()``: the narrative may hold only the basic HTML formatting
elements (R4 narrative.html: no script, form, object, frame, style or head elements, no event
attributes, no ``javascript:`` links), and must have some non-whitespace content or an image.
Each is tested against hand-written conforming and violating input (tests/test_validate_errata.py).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any

UCUM = "http://unitsofmeasure.org"

# HTML 4.0 chapters 7-11 and 15 (text, lists, tables, links, images, style attributes) as the R4
# narrative rules read them; every other element (script, form, input, iframe, object, style ...)
# is refused
ALLOWED_ELEMENTS = frozenset("""
a abbr acronym address b bdo big blockquote br caption cite code col colgroup dd del dfn div dl dt em
h1 h2 h3 h4 h5 h6 hr i img ins kbd li map area ol p pre q s samp small span strike strong sub sup
table tbody td tfoot th thead tr tt u ul var
""".split())
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _has_value(obj: Any, name: str) -> bool:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value is not None and value != ""


def _when(text: str) -> tuple[tuple[int, ...], dt.datetime | None] | None:
    """A FHIR date/dateTime as (date parts to its precision, aware datetime when it has a time)."""
    m = _DATE.match(text)
    if m:
        return tuple(int(g) for g in m.groups() if g is not None), None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.year, moment.month, moment.day), moment


def _not_after(start: str, end: str) -> bool | None:
    """FHIRPath ``start <= end``: None when the precisions leave it undecided."""
    a, b = _when(start), _when(end)
    if a is None or b is None:
        return None             # not a date: the schema reports it
    (da, ta), (db, tb) = a, b
    if ta is not None and tb is not None:
        if (ta.tzinfo is None) != (tb.tzinfo is None):
            return None
        return ta <= tb
    n = min(len(da), len(db))
    if da[:n] != db[:n]:
        return da[:n] < db[:n]
    if len(da) == len(db) and ta is None and tb is None:
        return True
    return None                 # equal as far as both go, one more precise: undecided


def per_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    start, end = (node.get(k) if isinstance(node, dict) else None for k in ("start", "end"))
    if not (isinstance(start, str) and start and isinstance(end, str) and end):
        return True
    return _not_after(start, end) is True    # undecided (other precisions) is not true: fails, as HL7's does


def _ucum_quantity(node: dict[str, Any]) -> bool:
    """What age-1 and cnt-3 share: a code when there is a value, and UCUM as the system if any."""
    return not ("code" not in node and node.get("value") is not None) and node.get("system", UCUM) == UCUM


def age_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if not isinstance(node, dict):
        return True
    value = node.get("value")
    return _ucum_quantity(node) and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                         and value <= 0)


def cnt_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if not isinstance(node, dict):
        return True
    return _ucum_quantity(node) and node.get("code", "1") == "1" \
        and not isinstance(node.get("value"), float)        # written with a decimal point


def bdl_10(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not isinstance(node, dict) or node.get("type") != "document" or _has_value(node, "timestamp")


_TAG = re.compile(r"<\s*([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(r"([^\s=/]+)\s*(?:=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")
_MARKUP = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
_CHARREF = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")


@lru_cache(maxsize=4096)
def _narrative(div: str) -> tuple[tuple[str, ...], bool]:
    """(what txt-1 refuses in the narrative, whether it has content for txt-2). A scan of the start
    tags, not a full HTML parse: the narrative's well-formedness is the schema's and model's concern."""
    bad: list[str] = []
    content = False
    for m in _TAG.finditer(div):
        name = m.group(1).split(":")[-1].lower()
        if name not in ALLOWED_ELEMENTS:
            bad.append(f"<{name}>")
        if name == "img":
            content = True
        for a in _ATTR.finditer(m.group(2)):
            attr, value = a.group(1).lower(), (a.group(2) or "").strip("\"'").strip().lower()
            if attr.startswith("on"):
                bad.append(f"the event attribute {attr}")
            elif attr in ("href", "src") and value.startswith(("javascript:", "vbscript:")):
                bad.append(f"a script URL in {attr}")
    if not content:
        text = _MARKUP.sub(" ", div)
        content = bool(_CHARREF.sub("x", text).strip())
    return tuple(bad), content


def txt_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not isinstance(node, str) or not _narrative(node)[0]


def txt_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not isinstance(node, str) or _narrative(node)[1]


PREDICATES = {"per-1": per_1, "age-1": age_1, "cnt-3": cnt_3, "bdl-10": bdl_10, "txt-1": txt_1, "txt-2": txt_2}
