"""The compiled FHIRPath subset (validate/_fhirpath.py) gives fhirpathpy's verdicts (the oracle)."""

from __future__ import annotations

import pytest

from conftest import published_constraints
from fhirconv.validate import _invariants
from fhirconv.validate._fhirpath import Fallback, compile_expression
from fhirconv.validate._predicates import PREDICATES

NODE = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org",
        "code": "1-8"}, {"system": "http://snomed.info/sct", "code": "12345"}]},
        "valueQuantity": {"value": 5, "system": "http://unitsofmeasure.org", "code": "mg"},
        "component": [{"code": {"text": "a"}}, {"code": {"text": "b"}}, {"code": {"text": "a"}}],
        "note": [{"text": "#ref one"}], "max": "*", "min": 1}

CASES = [
    "status.exists()", "subject.exists()", "subject.empty()", "status = 'final'", "status != 'final'",
    "status = 'final' and subject.exists()", "status = 'final' or subject.exists()",
    "subject.exists() implies status = 'x'", "status = 'final' implies subject.exists()",
    "(subject.exists() or status = 'final') and code.coding.count() = 2",
    "code.coding.where(system = 'http://loinc.org').exists()", "code.coding.exists(code = '12345')",
    "code.coding.all(system.exists())", "code.coding.all(code.startsWith('1'))",
    "code.coding.select(code).isDistinct()",
    "component.code.text.isDistinct()", "component.first().code.text = 'a'", "component.tail().count() = 2",
    "note.text.startsWith('#')", "note.text.contains('ref')", "note.text.matches('^#[a-z]+')", "value.exists()",
    "value.code = 'mg'", "value.system = %ucum", "(value.value > 3)", "min <= 2", "(max = '*') or (min >= 0)",
    "status in ('final' | 'amended')", "%resource.status = 'final'", "code.coding.code.trace('c').count() = 2",
    "subject.startsWith('x')", "status.not()", "component.code.where($this.text = 'b').count() = 1",
    "value.ofType(Quantity).system = %ucum", "value.ofType(CodeableConcept).coding.system.empty()",
    "value.ofType(Quantity).system.empty() or value.ofType(Quantity).system = 'http://unitsofmeasure.org'",
    "value.ofType(Quantity).exists() xor status = 'final'", "status.exists() xor subject.exists()",
    "(status.exists() xor value.exists()).not()",
]


@pytest.mark.parametrize("expression", CASES)
def test_compiled_expressions_agree_with_fhirpathpy(expression):
    compiled = compile_expression(expression)
    assert compiled is not None, expression
    try:
        ours = compiled(NODE, NODE, NODE)
    except Fallback:
        return          # handed to fhirpathpy at run time: agrees by construction
    constraint = {"key": "test", "expression": expression}
    try:
        oracle = _invariants.evaluate_fhirpath(constraint, NODE, "Observation", NODE, NODE)
    except Exception:       # fhirpathpy cannot evaluate it: the compiled verdict stands alone
        return
    assert (ours != [False]) == (oracle != [False]), (expression, ours, oracle)


def test_of_type_reads_the_choice_member_the_json_names():
    compiled = compile_expression("value.ofType(Quantity).code = 'mg'")
    assert compiled(NODE, NODE, NODE) == [True]
    assert compile_expression("value.ofType(string).exists()")(NODE, NODE, NODE) == [False]
    with pytest.raises(Fallback):                          # not a choice element: fhirpathpy's typing rules
        compile_expression("status.ofType(code).exists()")({"status": "final"}, {}, {})


def test_what_the_compiled_subset_cannot_judge_goes_to_fhirpathpy():
    assert compile_expression("descendants().reference.exists()") is None         # outside the subset
    assert compile_expression("subject.resolve().exists()") is None
    with pytest.raises(Fallback):                          # a primitive carrying extensions
        compile_expression("birthDate.exists()")({"_birthDate": {"extension": []}}, {}, {})
    with pytest.raises(Fallback):                          # date comparison: precision rules
        compile_expression("start <= end")({"start": "2020-01", "end": "2020-01-05"}, {}, {})


def test_every_compiled_invariant_agrees_with_fhirpathpy_on_the_published_examples(shared):
    checked, differ = 0, []
    for name, node, c in published_constraints(shared):
        compiled = None if c["key"] in PREDICATES else compile_expression(_invariants._expression(c))
        if compiled is None:
            continue
        value, res = node.value, node.res
        try:
            ours = compiled(value, res.data, res.root)
        except Fallback:
            continue
        oracle = _invariants.evaluate_fhirpath(c, value, _invariants._base(node), res.data, res.root)
        checked += 1
        if (ours != [False]) != (oracle != [False]):
            differ.append(f"{name} {node.loc} {c['key']}: compiled {ours}, fhirpathpy {oracle}")
    assert checked > 20_000 and not differ, differ[:10]
