"""Layer 6, terminology: offline syntax checks of the codes themselves.

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

With ``mappings``, a SNOMED CT, LOINC or DICOM code absent from them is an error for
fhirconv's own output (``foreign=False``) and information for foreign input.
"""

from __future__ import annotations

import re
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
            elif mappings is not None and system in (SNOMED, LOINC, DICOM) \
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

