"""Layer 6, terminology: offline checks of the codes themselves (syntax; for foreign input a shipped reference).

* SNOMED CT (``http://snomed.info/sct``): a concept id is 6–18 digits, no leading zero,
  partition identifier ``00`` or ``10`` (the two digits before the check digit) and a
  Verhoeff check digit.
* LOINC (``http://loinc.org``): ``digits-checkdigit`` with the LOINC mod-10 check digit;
  answer/part/group codes (``LA``/``LP``/``LG``/``LL`` prefixes) are checked for form only.
* DICOM (``http://dicom.nema.org/resources/ontology/DCM``): alphabetic codes are modality
  codes and must be in DICOM PS3.16 CID 29/33 (``data/dicom_modalities.json``); the numeric
  DCM concept codes are not checked. In ImagingStudy.modality / series.modality every
  code must be a modality. An unknown alphabetic code elsewhere is only a warning for
  foreign input.
* UCUM (``http://unitsofmeasure.org``) codes of Quantity-like values and Codings must parse
  (``_ucum``).

For foreign input (``foreign=True``) a well-formed SNOMED CT or LOINC code is also looked up in
the reference shipped in ``data/terminology/`` (built by ``scripts/build_terminology_reference.py``
from the SNOMED CT Global Patient Set, the IPS free set, DICOM PS3.16 and LOINC codes used by HL7
guides; see its ``NOTICE.md``), read once per process on first use:

* a code not in it is a warning: the reference is a subset, the code may be valid in the full
  edition;
* a ``Coding.display`` that matches none of the code's known terms (FSN, preferred term, DICOM
  code meaning, LOINC display) is a warning naming the known terms. Case, accents, punctuation
  and a trailing semantic tag are ignored (``normalise_term``).

With ``mappings``, a SNOMED CT, LOINC or DICOM code absent from them is an error for
fhirconv's own output (``foreign=False``) and information for foreign input. The fast path
(``foreign=False``) does not read the shipped reference.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..model import Issue, Severity
from . import _data, _ucum
from ._walk import Context

if TYPE_CHECKING:
    from ..mappings import Mappings

LAYER = "terminology"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
QUANTITY_TYPES = frozenset({"Quantity", "SimpleQuantity", "Age", "Duration", "Distance", "Count"})
MODALITY_PATHS = frozenset({"ImagingStudy.modality", "ImagingStudy.series.modality"})

_D = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
      (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
      (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
      (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_P = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
      (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
      (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_OTHER = re.compile(r"^L[APGL]\d{1,8}-\d$")
_TAG = re.compile(r"^(.*) \(([a-z /-]+)\)$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# system -> the file in data/terminology/ and what the reference holds, for the messages
REFERENCES = {
    SNOMED: ("snomed", "the shipped reference (GPS/IPS free set): may be valid in the full edition; check it"),
    LOINC: ("loinc", "the shipped reference (LOINC codes of HL7 US Core, mCODE, IPS and DICOM): "
                     "may be valid in the full LOINC table; check it"),
}
SHOWN_TERMS = 3


def verhoeff_ok(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def sctid_problem(code: str) -> str | None:
    """Why ``code`` is not a valid SNOMED CT concept id, or None."""
    if not code.isascii() or not code.isdigit():
        return "a SNOMED CT concept id is digits only"
    if not 6 <= len(code) <= 18:
        return f"a SNOMED CT concept id has 6-18 digits, not {len(code)}"
    if code[0] == "0":
        return "a SNOMED CT id has no leading zero"
    if code[-3:-1] not in ("00", "10"):
        return f"partition identifier {code[-3:-1]!r} is not a concept's (00 or 10)"
    if not verhoeff_ok(code):
        return "the Verhoeff check digit is wrong"
    return None


_SCT_TERM = re.compile(r"\|[^|]*\|")
_SCT_EXPRESSION = re.compile(r"^[\d\s:=+{},()<>#.\-]+$")
_SCT_ID = re.compile(r"\d+")


def sct_expression_ids(code: str) -> list[str] | None:
    """The concept ids of a SNOMED CT compositional-grammar expression (``71341001:272741003=7771000``,
    terms in pipes allowed), which R4 allows as a Coding.code; None when ``code`` is not one."""
    bare = _SCT_TERM.sub(" ", code)
    if not (":" in bare or "+" in bare) or not _SCT_EXPRESSION.match(bare):
        return None
    ids = _SCT_ID.findall(bare)
    return ids or None


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit of the part before the hyphen."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def loinc_problem(code: str) -> str | None:
    if _LOINC_OTHER.match(code):
        return None
    m = _LOINC.match(code)
    if not m:
        return "a LOINC code looks like 12345-6 (or LA/LP/LG/LL12345-6)"
    if loinc_check_digit(m.group(1)) != int(m.group(2)):
        return f"the mod-10 check digit is wrong (expected {m.group(1)}-{loinc_check_digit(m.group(1))})"
    return None


def dicom_problem(code: str, modality_element: bool) -> str | None:
    codes: dict[str, Any] = _data.dicom_modalities()["codes"]
    if code in codes:
        return None
    if modality_element or (code.isascii() and code.isalpha()):
        return "not a DICOM modality code (PS3.16 CID 29/33)"
    return None


def normalise_term(term: str) -> str:
    """``term`` as the display check compares it: a trailing semantic tag such as ``(disorder)``,
    case, accents and punctuation ignored (as ``verify_codes.py`` does, plus accents)."""
    term = term.strip()
    m = _TAG.match(term)
    if m:
        term = m.group(1)
    term = term.lower()
    if not term.isascii():
        term = "".join(c for c in unicodedata.normalize("NFKD", term) if not unicodedata.combining(c))
    return _NON_ALNUM.sub(" ", term).strip()


def in_reference(system: str, code: str) -> bool:
    """Whether the shipped reference holds ``code`` (SNOMED CT or LOINC)."""
    return code in _data.terminology_reference(REFERENCES[system][0])


@lru_cache(maxsize=8192)
def known_terms(system: str, code: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The code's known terms in the shipped reference (preferred first) and their normalised forms."""
    terms = _data.terminology_reference(REFERENCES[system][0]).get(code, "")
    shown = tuple(terms.split("\t")) if terms else ()
    return shown, frozenset(normalise_term(t) for t in shown)


def reference_issues(loc: str, system: str, code: str, display: Any) -> list[Issue]:
    """A well-formed SNOMED CT or LOINC code of a Coding at ``loc`` against the shipped reference."""
    if not in_reference(system, code):
        return [Issue(Severity.WARNING, loc + ".code", f"{system}|{code} is not in {REFERENCES[system][1]}",
                      LAYER, "code-invalid")]
    if not isinstance(display, str) or not display.strip():
        return []
    shown, normalised = known_terms(system, code)
    if not shown or normalise_term(display) in normalised:
        return []
    expected = " or ".join(repr(t) for t in shown[:SHOWN_TERMS])
    if len(shown) > SHOWN_TERMS:
        expected += f" (or {len(shown) - SHOWN_TERMS} more)"
    return [Issue(Severity.WARNING, loc + ".display",
                  f"display {display!r} is not a known term of {system}|{code}: expected {expected}",
                  LAYER, "invalid")]


def check(ctx: Context, *, mappings: Mappings | None, foreign: bool) -> list[Issue]:
    issues: list[Issue] = []
    unknown_severity = Severity.INFORMATION if foreign else Severity.ERROR
    for node in ctx.nodes:
        typ, value = node.type, node.value
        if not isinstance(value, dict):
            continue
        if typ == "Coding":
            system, code = value.get("system"), value.get("code")
            if not isinstance(system, str) or not isinstance(code, str):
                continue
            loc = node.loc + ".code"
            problem = None
            if system == SNOMED and (ids := sct_expression_ids(code)) is not None:
                bad = [(i, p) for i in ids if (p := sctid_problem(i))]
                if bad:
                    issues += [Issue(Severity.ERROR, loc, f"{i!r} in the SNOMED CT expression {code!r}: {p}",
                                     LAYER, "code-invalid") for i, p in bad]
                else:
                    issues.append(Issue(Severity.INFORMATION, loc, f"SNOMED CT expression {code!r}: its concept "
                                        "ids pass their check digits; its grammar and meaning are not checked "
                                        "offline", LAYER, "informational"))
                continue
            if system == SNOMED:
                problem = sctid_problem(code)
            elif system == LOINC:
                problem = loinc_problem(code)
            elif system == DICOM:
                problem = dicom_problem(code, node.path in MODALITY_PATHS)
            elif system == UCUM:
                problem = _ucum.check(code)
            else:
                continue
            if problem:
                # an alphabetic DCM code outside a modality element may be some other DICOM
                # concept in foreign input: a warning there
                soft = system == DICOM and foreign and node.path not in MODALITY_PATHS
                issues.append(Issue(Severity.WARNING if soft else Severity.ERROR, loc,
                                    f"{code!r} ({system}): {problem}", LAYER, "code-invalid"))
                continue
            if foreign and system in REFERENCES:
                issues += reference_issues(node.loc, system, code, value.get("display"))
            if mappings is not None and system in (SNOMED, LOINC, DICOM) \
                    and not mappings.known_code(system, code):
                issues.append(Issue(unknown_severity, loc, f"{system}|{code} is not in the fhirconv "
                                    "mappings", LAYER, "code-invalid"))
        elif typ in QUANTITY_TYPES:
            code = value.get("code")
            if value.get("system") == UCUM and isinstance(code, str):
                problem = _ucum.check(code)
                if problem:
                    issues.append(Issue(Severity.ERROR, node.loc + ".code",
                                        f"{code!r} is not a valid UCUM unit: {problem}", LAYER,
                                        "code-invalid"))
    return issues

