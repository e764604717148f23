"""The fast path's Python invariant predicates agree with fhirpathpy (the oracle).

For every predicate there is at least one conforming and one violating input; each case is
fed to both, the oracle must give the expected verdict (so the case really exercises the
invariant) and the predicate must agree with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhirconv.validate import _data, _invariants
from fhirconv.validate._predicates import PREDICATES, PYTHON_ONLY, rng_2

UCUM = "http://unitsofmeasure.org"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
EMITTED = ("Patient", "Condition", "Observation", "ImagingStudy", "DiagnosticReport", "Procedure",
           "MedicationStatement", "DocumentReference", "Provenance", "Bundle")


def _constraint(key: str) -> dict[str, str]:
    for items in _data.invariants().values():
        for c in items:
            if c["key"] == key:
                return c
    raise KeyError(key)


def _obs(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **kw}


def _cond(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, **kw}


def _bundle(type_: str, entries: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": type_, "entry": entries, **kw}


PAT = {"resourceType": "Patient", "id": "a"}
CC = {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}
ACTIVE = {"coding": [{"system": CLIN, "code": "active"}]}
RESOLVED = {"coding": [{"system": CLIN, "code": "resolved"}]}
EIE = {"coding": [{"system": VER, "code": "entered-in-error"}]}
SEARCH = {"mode": "match"}
POST = {"method": "POST", "url": "Patient"}
V1, V2 = {"versionId": "1"}, {"versionId": "2"}
SUB = {"url": "y", "valueCode": "z"}
CATEGORY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                         "code": "problem-list-item"}]}]

# key -> list of (base, node, %resource or None for the node itself, expected verdict)
CASES: dict[str, list[tuple[str, Any, Any, bool]]] = {
    "dom-2": [("Observation", _obs(contained=[PAT], subject={"reference": "#a"}), None, True),
              ("Observation", _obs(contained=[{**PAT, "contained": [{"resourceType": "Patient", "id": "b"}]}],
                                   subject={"reference": "#a"}), None, False)],
    "dom-3": [("Observation", _obs(contained=[PAT], subject={"reference": "#a"}), None, True),
              ("Observation", _obs(contained=[PAT], subject={"reference": "#b"}), None, False),
              ("Observation", _obs(contained=[PAT], note=[{"text": "#a"}]), None, False),
              ("Observation", _obs(contained=[PAT], extension=[{"url": "http://x", "valueUri": "#a"}]),
               None, True),
              ("Observation",
               _obs(contained=[{**PAT, "link": [{"other": {"reference": "#"}, "type": "seealso"}]}]),
               None, True),
              ("CarePlan", {"resourceType": "CarePlan", "status": "active", "intent": "plan",
                            "subject": {"reference": "Patient/1"}, "instantiatesCanonical": ["#pd"],
                            "contained": [{"resourceType": "PlanDefinition", "id": "pd", "status": "draft"}]},
               None, True),
              ("Observation", _obs(), None, True)],
    "dom-4": [("Observation", _obs(contained=[PAT], subject={"reference": "#a"}), None, True),
              ("Observation",
               _obs(contained=[{**PAT, "meta": V1}], subject={"reference": "#a"}), None, False),
              ("Observation", _obs(contained=[{**PAT, "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}],
                                   subject={"reference": "#a"}), None, False)],
    "dom-5": [("Observation", _obs(contained=[{**PAT, "meta": {"source": "x"}}], subject={"reference": "#a"}),
               None, True),
              ("Observation", _obs(contained=[{**PAT, "meta": {"security": [{"code": "R"}]}}],
                                   subject={"reference": "#a"}), None, False)],
    "dom-6": [("Observation", _obs(text={"status": "generated", "div": "<div>x</div>"}), None, True),
              ("Observation", _obs(), None, False)],
    "pat-1": [("Patient.contact", {"name": {"text": "x"}}, PAT, True),
              ("Patient.contact", {"organization": {"reference": "Organization/1"}}, PAT, True),
              ("Patient.contact", {"gender": "male"}, PAT, False)],
    "con-1": [("Condition.stage", {"summary": {"text": "IIA"}}, _cond(), True),
              ("Condition.stage", {"assessment": [{"reference": "Observation/1"}]}, _cond(), True),
              ("Condition.stage", {"type": {"text": "TNM"}}, _cond(), False)],
    "con-2": [("Condition.evidence", {"code": [{"text": "x"}]}, _cond(), True),
              ("Condition.evidence", {"id": "e1"}, _cond(), False)],
    "con-3": [("Condition", _cond(), None, True),
              ("Condition", _cond(category=CATEGORY, clinicalStatus=ACTIVE), None, True),
              ("Condition", _cond(category=CATEGORY, verificationStatus=EIE), None, True),
              ("Condition", _cond(category=CATEGORY), None, False),
              ("Condition", _cond(category=[{"text": "encounter-diagnosis"}]), None, False)],
    "con-4": [("Condition", _cond(), None, True),
              ("Condition", _cond(abatementDateTime="2020", clinicalStatus=RESOLVED), None, True),
              ("Condition", _cond(abatementString="later", clinicalStatus=ACTIVE), None, False),
              ("Condition", _cond(abatementAge={"value": 3, "system": UCUM, "code": "a"}), None, False)],
    "con-5": [("Condition", _cond(clinicalStatus=ACTIVE), None, True),
              ("Condition", _cond(verificationStatus=EIE), None, True),
              ("Condition", _cond(verificationStatus=EIE, clinicalStatus=ACTIVE), None, False)],
    "obs-3": [("Observation.referenceRange", {"low": {"value": 1}}, _obs(), True),
              ("Observation.referenceRange", {"text": "normal"}, _obs(), True),
              ("Observation.referenceRange", {"appliesTo": [{"text": "x"}]}, _obs(), False)],
    "obs-6": [("Observation", _obs(valueString="a"), None, True),
              ("Observation", _obs(dataAbsentReason={"text": "x"}), None, True),
              ("Observation", _obs(valueQuantity={"value": 1}, dataAbsentReason={"text": "x"}), None, False)],
    "obs-7": [("Observation", _obs(code=CC, valueString="a", component=[{"code": {"text": "y"}}]), None,
               True),
              ("Observation", _obs(code=CC, component=[{"code": CC}]), None, True),
              ("Observation", _obs(code=CC, valueString="a", component=[{"code": CC}]), None, False)],
    "bdl-1": [("Bundle", _bundle("searchset", [], total=1), None, True),
              ("Bundle", _bundle("collection", []), None, True),
              ("Bundle", _bundle("collection", [], total=1), None, False)],
    "bdl-2": [("Bundle", _bundle("searchset", [{"resource": PAT, "search": SEARCH}]), None, True),
              ("Bundle", _bundle("collection", [{"resource": PAT, "search": SEARCH}]), None, False)],
    "bdl-3": [("Bundle", _bundle("transaction", [{"resource": PAT, "request": POST}]), None, True),
              ("Bundle", _bundle("collection", [{"resource": PAT}]), None, True),
              ("Bundle", _bundle("transaction", [{"resource": PAT}]), None, False),
              ("Bundle", _bundle("collection", [{"resource": PAT, "request": POST}]), None, False)],
    "bdl-4": [("Bundle", _bundle("transaction-response", [{"response": {"status": "201"}}]), None, True),
              ("Bundle", _bundle("collection", [{"resource": PAT, "response": {"status": "201"}}]), None,
               False)],
    "bdl-5": [("Bundle.entry", {"resource": PAT}, _bundle("collection", []), True),
              ("Bundle.entry", {"fullUrl": "urn:uuid:1"}, _bundle("collection", []), False)],
    "bdl-7": [("Bundle", _bundle("collection", [{"fullUrl": "urn:uuid:1", "resource": PAT},
                                                {"fullUrl": "urn:uuid:2", "resource": PAT}]), None, True),
              ("Bundle", _bundle("collection", [{"fullUrl": "urn:uuid:1", "resource": {**PAT, "meta": V1}},
                                                {"fullUrl": "urn:uuid:1", "resource": {**PAT, "meta": V2}}]),
               None, True),
              ("Bundle", _bundle("history", [{"fullUrl": "urn:uuid:1", "resource": PAT},
                                             {"fullUrl": "urn:uuid:1", "resource": PAT}]), None, True),
              ("Bundle", _bundle("collection", [{"fullUrl": "urn:uuid:1", "resource": PAT},
                                                {"fullUrl": "urn:uuid:1", "resource": PAT}]), None, False)],
    "bdl-8": [("Bundle.entry", {"fullUrl": "http://x/fhir/Patient/1", "resource": PAT},
               _bundle("collection", []), True),
              ("Bundle.entry", {"fullUrl": "http://x/fhir/Patient/1/_history/2", "resource": PAT},
               _bundle("collection", []), False)],
    "bdl-9": [("Bundle", _bundle("document", [], identifier={"system": "urn:ietf:rfc:3986", "value": "x"}),
               None, True),
              ("Bundle", _bundle("collection", []), None, True),
              ("Bundle", _bundle("document", [], identifier={"value": "urn:uuid:1"}), None, False)],
    "bdl-11": [("Bundle", _bundle("document", [{"resource": {"resourceType": "Composition"}}]), None, True),
               ("Bundle", _bundle("collection", [{"resource": PAT}]), None, True),
               ("Bundle", _bundle("document", [{"resource": PAT}]), None, False)],
    "bdl-12": [("Bundle", _bundle("message", [{"resource": {"resourceType": "MessageHeader"}}]), None, True),
               ("Bundle", _bundle("message", [{"resource": PAT}]), None, False)],
    "ext-1": [("Extension", {"url": "http://x", "valueString": "a"}, _obs(), True),
              ("Extension", {"url": "http://x", "extension": [{"url": "y", "valueCode": "z"}]}, _obs(), True),
              ("Extension", {"url": "http://x", "_valueString": {"extension": [SUB]}}, _obs(), True),
              ("Extension", {"url": "http://x"}, _obs(), False),
              ("Extension", {"url": "http://x", "valueString": "a", "extension": [SUB]}, _obs(), False)],
    "ref-1": [("Reference", {"reference": "#a"}, _obs(contained=[PAT]), True),
              ("Reference", {"reference": "Patient/1"}, _obs(), True),
              ("Reference", {"display": "someone"}, _obs(), True),
              ("Reference", {"reference": "#b"}, _obs(contained=[PAT]), False)],
    "qty-3": [("Quantity", {"value": 1, "system": UCUM, "code": "mg"}, _obs(), True),
              ("Quantity", {"value": 1, "unit": "mg"}, _obs(), True),
              ("Quantity", {"value": 1, "code": "mg"}, _obs(), False)],
    "sqty-1": [("Quantity", {"value": 1}, _obs(), True),
               ("Quantity", {"value": 1, "comparator": "<"}, _obs(), False)],
    "mqty-1": [("Quantity", {"value": 1, "system": "urn:iso:std:iso:4217", "code": "USD"}, _obs(), True),
               ("Quantity", {"value": 1, "system": "urn:iso:std:iso:4217"}, _obs(), False),
               ("Quantity", {"code": "USD", "system": UCUM}, _obs(), False)],
    "att-1": [("Attachment", {"contentType": "text/plain", "data": "eA=="}, _obs(), True),
              ("Attachment", {"url": "http://x/doc"}, _obs(), True),
              ("Attachment", {"data": "eA=="}, _obs(), False)],
    "cpt-2": [("ContactPoint", {"system": "phone", "value": "123"}, PAT, True),
              ("ContactPoint", {"value": "123"}, PAT, False)],
    "rat-1": [("Ratio", {"numerator": {"value": 1}, "denominator": {"value": 2}}, _obs(), True),
              ("Ratio", {"extension": [{"url": "http://x", "valueString": "a"}]}, _obs(), True),
              ("Ratio", {"numerator": {"value": 1}}, _obs(), False),
              ("Ratio", {"denominator": {"value": 1}}, _obs(), False)],
    "drt-1": [("Duration", {"value": 2, "system": UCUM, "code": "h"}, _obs(), True),
              ("Duration", {"value": 2}, _obs(), True),
              ("Duration", {"value": 2, "code": "h"}, _obs(), True),   # system = %ucum is empty
              ("Duration", {"code": "h"}, _obs(), False),
              ("Duration", {"value": 2, "system": "http://x", "code": "h"}, _obs(), False),
              ("Duration", {"system": UCUM, "code": "h"}, _obs(), False)],
    "dis-1": [("Distance", {"value": 2, "system": UCUM, "code": "m"}, _obs(), True),
              ("Distance", {"value": 2}, _obs(), False),
              ("Distance", {"value": 2, "system": "http://x", "code": "m"}, _obs(), False)],
    "tim-1": [("Timing.repeat", {"duration": 1, "durationUnit": "h"}, _obs(), True),
              ("Timing.repeat", {"duration": 1}, _obs(), False)],
    "tim-2": [("Timing.repeat", {"period": 1, "periodUnit": "d"}, _obs(), True),
              ("Timing.repeat", {"period": 1}, _obs(), False)],
    "tim-4": [("Timing.repeat", {"duration": 0, "durationUnit": "h"}, _obs(), True),
              ("Timing.repeat", {"duration": -1, "durationUnit": "h"}, _obs(), False)],
    "tim-5": [("Timing.repeat", {"period": 2.5, "periodUnit": "d"}, _obs(), True),
              ("Timing.repeat", {"period": -2, "periodUnit": "d"}, _obs(), False)],
    "tim-6": [("Timing.repeat", {"period": 1, "periodMax": 2, "periodUnit": "d"}, _obs(), True),
              ("Timing.repeat", {"periodMax": 2, "periodUnit": "d"}, _obs(), False)],
    "tim-7": [("Timing.repeat", {"duration": 1, "durationMax": 2, "durationUnit": "h"}, _obs(), True),
              ("Timing.repeat", {"durationMax": 2, "durationUnit": "h"}, _obs(), False)],
    "tim-8": [("Timing.repeat", {"count": 1, "countMax": 2}, _obs(), True),
              ("Timing.repeat", {"countMax": 2}, _obs(), False)],
    "tim-9": [("Timing.repeat", {"offset": 10, "when": ["ACM"]}, _obs(), True),
              ("Timing.repeat", {"when": ["C"]}, _obs(), True),
              ("Timing.repeat", {"offset": 10, "when": ["C"]}, _obs(), False),
              ("Timing.repeat", {"offset": 10}, _obs(), False)],
    "tim-10": [("Timing.repeat", {"timeOfDay": ["08:00:00"]}, _obs(), True),
               ("Timing.repeat", {"timeOfDay": ["08:00:00"], "when": ["MORN"]}, _obs(), False)],
}

PARAMS = [pytest.param(key, base, node, resource, expected,
                       id=f"{key}-{i}-{'ok' if expected else 'violated'}")
          for key, cases in CASES.items() for i, (base, node, resource, expected) in enumerate(cases)]


@pytest.mark.parametrize(("key", "base", "node", "resource", "expected"), PARAMS)
def test_predicate_agrees_with_fhirpathpy(key: str, base: str, node: Any, resource: Any,
                                          expected: bool) -> None:
    resource = node if resource is None else resource
    oracle = _invariants.evaluate_fhirpath(_constraint(key), node, base, resource, resource)
    assert (oracle != [False]) is expected, f"fhirpathpy says {oracle}: the case does not test {key}"
    assert PREDICATES[key](node, resource, resource) is expected


def test_every_predicate_has_a_conforming_and_a_violating_case() -> None:
    for key in PREDICATES:
        if key in PYTHON_ONLY:
            continue
        verdicts = {expected for _b, _n, _r, expected in CASES.get(key, [])}
        assert verdicts == {True, False}, f"{key} needs a conforming and a violating case"


def _reachable_types() -> set[str]:
    types = _data.element_types()
    profiles: dict[str, str] = _data.elements()["profiles"]
    seen: set[str] = set()
    todo = list(EMITTED)
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        base = profiles.get(t, t)
        for path, typ in types.items():
            # Extension.value[x] may hold any datatype; fhirconv's extensions do not
            if path.startswith(base + ".") and not path.startswith("Extension.value"):
                if typ not in ("@", "Resource") and typ[0].isupper():
                    todo.append(typ)
    return seen


def test_every_invariant_of_the_emitted_types_has_a_predicate() -> None:
    invs = _data.invariants()
    reachable = _reachable_types()
    assert {"Observation", "Quantity", "SimpleQuantity", "Timing", "Reference", "Extension"} <= reachable
    keys = set()
    for t in reachable:
        for name in _data.type_chain(t):
            keys |= {c["key"] for c in invs.get(name, []) if "skip" not in c}
    for path, items in invs.items():
        if "." in path and path.split(".", 1)[0] in reachable:
            keys |= {c["key"] for c in items if "skip" not in c}
    assert {"obs-6", "con-3", "con-4", "con-5", "dom-3", "bdl-7", "ref-1"} <= keys
    assert sorted(keys - set(PREDICATES)) == []


def test_rng_2_compares_quantities_of_the_same_unit_only() -> None:
    mg = {"system": UCUM, "code": "mg"}
    assert rng_2({"low": {"value": 5, **mg}, "high": {"value": 3, **mg}}, {}, {}) is False
    assert rng_2({"low": {"value": 3, **mg}, "high": {"value": 5, **mg}}, {}, {}) is True
    grams = {"system": UCUM, "code": "g"}
    assert rng_2({"low": {"value": 5, **mg}, "high": {"value": 3, **grams}}, {}, {}) is True
    assert rng_2({"low": {"value": 5, **mg}}, {}, {}) is True


def test_every_predicate_agrees_with_fhirpathpy_on_every_node_of_the_published_examples(shared):
    """Foreign input is judged by the predicates too (they cost a fraction of fhirpathpy): on the
    829 published R4 files, each predicate must give fhirpathpy's verdict wherever it applies."""
    from conftest import published_constraints

    checked, differ = 0, []
    for name, node, c in published_constraints(shared):
        if c["key"] not in PREDICATES or c["key"] in PYTHON_ONLY:
            continue
        value, res = node.value, node.res
        oracle = _invariants.evaluate_fhirpath(c, value, _invariants._base(node), res.data, res.root)
        checked += 1
        if PREDICATES[c["key"]](value, res.data, res.root) != (oracle != [False]):
            differ.append(f"{name} {node.loc} {c['key']}: fhirpathpy {oracle}")
    assert checked > 50_000 and not differ, differ[:10]


def test_dom_3_finds_a_reference_under_an_element_r4_does_not_define_as_fhirpath_does():
    res = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"},
           "contained": [{"resourceType": "Organization", "id": "org1", "name": "Lab"}],
           "legacyPerformer": [{"reference": "#org1"}]}
    oracle = _invariants.evaluate_fhirpath(_constraint("dom-3"), res, "DiagnosticReport", res, res)
    assert oracle != [False] and PREDICATES["dom-3"](res, res, res)
    res["legacyPerformer"] = [{"reference": "#other"}]
    assert not PREDICATES["dom-3"](res, res, res)
    assert _invariants.evaluate_fhirpath(_constraint("dom-3"), res, "DiagnosticReport", res, res) == [False]
