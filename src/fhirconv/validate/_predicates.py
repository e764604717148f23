"""Plain-Python versions of the R4 invariants that apply to what fhirconv emits.

fhirpathpy costs far too much (it was three quarters of validation time), so each invariant
of Patient, Condition, Observation, ImagingStudy, DiagnosticReport, Procedure,
MedicationStatement, DocumentReference, Provenance, Bundle and of the datatypes they use
has a predicate here, used for fhirconv's output and foreign input alike.
``tests/test_validate_predicates.py`` checks each one against fhirpathpy (the oracle) on
conforming and violating input, and on every node of the published examples.

A predicate gets the node the invariant sits on, ``%resource`` and ``%rootResource``, and
returns False exactly when the FHIRPath expression evaluates to ``false``; an empty result
counts as passing (as everywhere in this package). The expressions are followed literally,
including R4's known quirks (con-3 compares a CodeableConcept to a string, so any category
without clinicalStatus trips it).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from . import _data
from . import _predicates_more as _more
from ._walk import has_choice, is_set

Predicate = Callable[[Any, dict[str, Any], dict[str, Any]], bool]
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _has(obj: Any, name: str) -> bool:
    return isinstance(obj, dict) and is_set(obj.get(name))


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in _list(_get(concept, "coding")) if isinstance(c, dict)]


def _has_coding(concept: Any, system: str, codes: tuple[str, ...]) -> bool:
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(concept))


# ----------------------------------------------------------------- DomainResource

def dom_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not any(_has(c, "contained") for c in _list(_get(node, "contained")))


def _typed_strings(value: Any, path: str, out: set[str], refs_to_self: list[bool]) -> None:
    """Strings of reference/canonical/uri/url elements below ``value`` (typed by the R4 definitions)."""
    types = _data.element_types()
    profiles: dict[str, str] = _data.elements()["profiles"]
    if not isinstance(value, dict):
        return
    for k, v in value.items():
        if k.startswith("_"):   # a primitive's id and extensions (a valueCanonical "#cs" among them)
            for item in _list(v):
                _typed_strings(item, "Element", out, refs_to_self)
            continue
        p = path + "." + k
        t = types.get(p)
        if t is None:           # an element R4 does not define: FHIRPath still finds its .reference
            _untyped_references(v, out)
            continue
        for item in _list(v):
            if t in ("canonical", "uri", "url") or (k == "reference" and t == "string"):
                if isinstance(item, str):
                    out.add(item)
                    if item == "#" and (k == "reference" or t == "canonical"):
                        refs_to_self.append(True)
            elif t == "Resource" and isinstance(item, dict) and isinstance(item.get("resourceType"), str):
                _typed_strings(item, item["resourceType"], out, refs_to_self)
            elif t == "@":
                _typed_strings(item, p, out, refs_to_self)
            elif t[0] == "#":
                _typed_strings(item, t[1:], out, refs_to_self)
            elif t[0].isupper():
                _typed_strings(item, profiles.get(t, t), out, refs_to_self)


def _untyped_references(value: Any, out: set[str]) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            ref = v.get("reference")
            if isinstance(ref, str):
                out.add(ref)
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))


def dom_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    contained = [c for c in _list(_get(node, "contained")) if isinstance(c, dict)]
    if not contained:
        return True
    strings: set[str] = set()
    _typed_strings(resource, str(resource.get("resourceType")), strings, [])
    for c in contained:
        cid = c.get("id")
        if isinstance(cid, str) and "#" + cid in strings:
            continue
        to_self: list[bool] = []
        _typed_strings(c, str(c.get("resourceType")), set(), to_self)
        if to_self:
            continue
        return False
    return True


def dom_4(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    metas = [_get(c, "meta") for c in _list(_get(node, "contained"))]
    return not any(_has(m, "versionId") for m in metas) and not any(_has(m, "lastUpdated") for m in metas)


def dom_5(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not any(_has(_get(c, "meta"), "security") for c in _list(_get(node, "contained")))


def dom_6(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(_get(node, "text"), "div")


# ----------------------------------------------------------------- resources

def pat_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return any(_has(node, k) for k in ("name", "telecom", "address", "organization"))


def con_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(node, "summary") or _has(node, "assessment")


def con_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(node, "code") or _has(node, "detail")


def con_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return (_has(node, "clinicalStatus")
            or _has_coding(_get(node, "verificationStatus"), VER_STATUS, ("entered-in-error",))
            or not _list(_get(node, "category")))


def con_4(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return (not has_choice(node, "abatement")
            or _has_coding(_get(node, "clinicalStatus"), CLINICAL, ("resolved", "remission", "inactive")))


def con_5(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return (not _has_coding(_get(node, "verificationStatus"), VER_STATUS, ("entered-in-error",))
            or not _has(node, "clinicalStatus"))


def obs_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(node, "low") or _has(node, "high") or _has(node, "text")


def obs_6(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "dataAbsentReason") or not has_choice(node, "value")


def obs_7(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if not has_choice(node, "value"):
        return True
    own = _codings(_get(resource, "code"))
    for comp in _list(_get(node, "component")):
        if any(c in own for c in _codings(_get(comp, "code"))):
            return False
    return True


def _bundle_type(node: Any) -> str | None:
    t = _get(node, "type")
    return t if isinstance(t, str) else None


def bdl_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "total") or _bundle_type(node) in ("searchset", "history")


def bdl_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not any(_has(e, "search") for e in _list(_get(node, "entry"))) or _bundle_type(node) == "searchset"


def bdl_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    want = _bundle_type(resource) in ("batch", "transaction", "history")
    return all(_has(e, "request") == want for e in _list(_get(node, "entry")))


def bdl_4(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    want = _bundle_type(resource) in ("batch-response", "transaction-response", "history")
    return all(_has(e, "response") == want for e in _list(_get(node, "entry")))


def bdl_5(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(node, "resource") or _has(node, "request") or _has(node, "response")


def bdl_7(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if _bundle_type(node) == "history":
        return True
    seen: set[str] = set()
    for e in _list(_get(node, "entry")):
        url = _get(e, "fullUrl")
        if not isinstance(url, str) or not url:
            continue
        version = _get(_get(_get(e, "resource"), "meta"), "versionId")
        key = url + (version if isinstance(version, str) else "")
        if key in seen:
            return False
        seen.add(key)
    return True


def bdl_8(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    url = _get(node, "fullUrl")
    return not isinstance(url, str) or "/_history/" not in url


def _implies_document(node: Any, kind: str, holds: bool) -> bool:
    t = _bundle_type(node)
    if t is None:           # {} implies X: true when X is true, else empty (passes)
        return True
    return t != kind or holds


def bdl_9(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    ident = _get(node, "identifier")
    return _implies_document(node, "document", _has(ident, "system") and _has(ident, "value"))


def _first_is(node: Any, rtype: str) -> bool | None:
    entries = _list(_get(node, "entry"))
    if not entries:
        return None
    res = _get(entries[0], "resource")
    if not isinstance(res, dict):
        return None
    return res.get("resourceType") == rtype


def bdl_11(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    first = _first_is(node, "Composition")
    return True if first is None else _implies_document(node, "document", first)


def bdl_12(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    first = _first_is(node, "MessageHeader")
    return True if first is None else _implies_document(node, "message", first)


# ----------------------------------------------------------------- datatypes

def ext_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return _has(node, "extension") != (has_choice(node, "value") or _has_primitive_choice(node, "value"))


def _has_primitive_choice(obj: Any, name: str) -> bool:
    """``_valueString`` alone (a primitive carrying only extensions) also exists in FHIRPath."""
    if not isinstance(obj, dict):
        return False
    n = len(name) + 1
    return any(len(k) > n and k.startswith("_" + name) and k[n].isupper() and is_set(v)
               for k, v in obj.items())


def ref_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    ref = _get(node, "reference")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return True
    ids = {c.get("id") for c in _list(root.get("contained")) if isinstance(c, dict)}
    return ref[1:] in ids


def qty_3(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "code") or _has(node, "system")


def sqty_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "comparator")


def mqty_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return ((_has(node, "code") or not _has(node, "value"))
            and (not _has(node, "system") or _get(node, "system") == "urn:iso:std:iso:4217"))


def att_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "data") or _has(node, "contentType")


def cpt_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "value") or _has(node, "system")


def rat_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    num, den = _has(node, "numerator"), _has(node, "denominator")
    return ((not num) != den) and (num or _has(node, "extension"))


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def rng_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    """low <= high. fhirpathpy cannot compare Quantities, so this one has no oracle: two
    quantities compare only with the same system and code (no unit conversion); otherwise
    the comparison is empty and passes."""
    low, high = _get(node, "low"), _get(node, "high")
    if not isinstance(low, dict) or not isinstance(high, dict):
        return True
    lv, hv = _decimal(low.get("value")), _decimal(high.get("value"))
    if lv is None or hv is None:
        return True
    if (low.get("system"), low.get("code")) != (high.get("system"), high.get("code")):
        return True
    return lv <= hv


def drt_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if not _has(node, "code"):
        return True
    if not _has(node, "system"):    # ({} and X) is empty (passes) unless X is false
        return _has(node, "value")
    return _get(node, "system") == UCUM and _has(node, "value")


def dis_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return ((_has(node, "code") or not _has(node, "value"))
            and (not _has(node, "system") or _get(node, "system") == UCUM))


def _nonneg(value: Any) -> bool:
    d = _decimal(value)
    return d is None or d >= 0


def tim_1(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "duration") or _has(node, "durationUnit")


def tim_2(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "period") or _has(node, "periodUnit")


def tim_4(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "duration") or _nonneg(_get(node, "duration"))


def tim_5(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "period") or _nonneg(_get(node, "period"))


def tim_6(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "periodMax") or _has(node, "period")


def tim_7(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "durationMax") or _has(node, "duration")


def tim_8(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "countMax") or _has(node, "count")


def tim_9(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    if not _has(node, "offset"):
        return True
    when = _list(_get(node, "when"))
    return bool(when) and not any(w in ("C", "CM", "CD", "CV") for w in when)


def tim_10(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> bool:
    return not _has(node, "timeOfDay") or not _has(node, "when")


PREDICATES: dict[str, Predicate] = {
    "dom-2": dom_2, "dom-3": dom_3, "dom-4": dom_4, "dom-5": dom_5, "dom-6": dom_6,
    "pat-1": pat_1,
    "con-1": con_1, "con-2": con_2, "con-3": con_3, "con-4": con_4, "con-5": con_5,
    "obs-3": obs_3, "obs-6": obs_6, "obs-7": obs_7,
    "bdl-1": bdl_1, "bdl-2": bdl_2, "bdl-3": bdl_3, "bdl-4": bdl_4, "bdl-5": bdl_5,
    "bdl-7": bdl_7, "bdl-8": bdl_8, "bdl-9": bdl_9, "bdl-11": bdl_11, "bdl-12": bdl_12,
    "ext-1": ext_1, "ref-1": ref_1, "qty-3": qty_3, "sqty-1": sqty_1, "mqty-1": mqty_1,
    "att-1": att_1, "cpt-2": cpt_2, "rat-1": rat_1, "rng-2": rng_2, "drt-1": drt_1, "dis-1": dis_1,
    "tim-1": tim_1, "tim-2": tim_2, "tim-4": tim_4, "tim-5": tim_5, "tim-6": tim_6,
    "tim-7": tim_7, "tim-8": tim_8, "tim-9": tim_9, "tim-10": tim_10,
}

PREDICATES.update(_more.PREDICATES)

# fhirpathpy cannot evaluate these (rng-2 compares Quantities; the others use hasValue() or
# htmlChecks()): the predicate is used even for foreign input.
PYTHON_ONLY = frozenset({"rng-2", *_more.PREDICATES})
