"""fhirconv.validate: each layer catches its own violations; a valid bundle passes clean."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhirconv.mappings import Concept, Mappings
from fhirconv.model import Issue, Severity
from fhirconv.validate import has_errors, validate_resource

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
UCUM = "http://unitsofmeasure.org"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
DIV = '<div xmlns="http://www.w3.org/1999/xhtml">generated</div>'
PAT = "urn:uuid:7f1c4c2e-0000-4000-8000-000000000001"
SUBJECT = {"reference": PAT}
MODES = pytest.mark.parametrize("foreign", [False, True], ids=["fast", "foreign"])


def _uuid(n: int) -> str:
    return f"urn:uuid:7f1c4c2e-0000-4000-8000-{n:012d}"


def _text() -> dict[str, str]:
    return {"status": "generated", "div": DIV}


def _resources() -> list[dict[str, Any]]:
    """One resource of every type fhirconv emits, all valid R4."""
    ucum_q = {"value": 9.1, "unit": "g/dL", "system": UCUM, "code": "g/dL"}
    return [
        {"resourceType": "Patient", "text": _text(), "gender": "female", "birthDate": "1961",
         "name": [{"text": "Case 1"}], "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"}],
         "deceasedBoolean": False},
        {"resourceType": "Condition", "text": _text(), "subject": {"reference": PAT},
         "clinicalStatus": {"coding": [{"system": CLIN, "code": "active"}]},
         "verificationStatus": {"coding": [{"system": VER, "code": "confirmed"}]},
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                   "code": "encounter-diagnosis"}]}],
         "code": {"coding": [{"system": SCT, "code": "254837009", "display": "Malignant neoplasm of breast"}],
                  "text": "breast cancer"},
         "bodySite": [{"text": "left breast"}],
         "onsetAge": {"value": 56, "unit": "a", "system": UCUM, "code": "a"},
         "stage": [{"summary": {"text": "IIA"}}]},
        {"resourceType": "Condition", "text": _text(), "subject": {"reference": PAT},
         "clinicalStatus": {"coding": [{"system": CLIN, "code": "resolved"}]},
         "code": {"coding": [{"system": SCT, "code": "38341003"}]}, "abatementString": "after treatment"},
        {"resourceType": "Observation", "text": _text(), "status": "final", "subject": {"reference": PAT},
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                   "code": "laboratory"}]}],
         "code": {"coding": [{"system": LOINC, "code": "718-7", "display": "Hemoglobin [Mass/volume] in Blood"}]},
         "valueQuantity": ucum_q, "interpretation": [{"text": "low"}],
         "referenceRange": [{"low": {"value": 12, "unit": "g/dL", "system": UCUM, "code": "g/dL"},
                             "high": {"value": 16, "unit": "g/dL", "system": UCUM, "code": "g/dL"}}]},
        {"resourceType": "Observation", "text": _text(), "status": "final", "subject": {"reference": PAT},
         "code": {"coding": [{"system": LOINC, "code": "85354-9"}], "text": "Blood pressure"},
         "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                        "valueQuantity": {"value": 150, "system": UCUM, "code": "mm[Hg]", "unit": "mmHg"}},
                       {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                        "dataAbsentReason": {"text": "not reported"}}]},
        {"resourceType": "ImagingStudy", "text": _text(), "status": "available", "subject": SUBJECT,
         "modality": [{"system": DCM, "code": "CT"}],
         "series": [{"uid": "2.25.1234", "modality": {"system": DCM, "code": "CT"},
                     "bodySite": {"system": SCT, "code": "51185008", "display": "Thoracic structure"}}]},
        {"resourceType": "DiagnosticReport", "text": _text(), "status": "final", "subject": SUBJECT,
         "code": {"text": "Histopathology"}, "result": [{"reference": _uuid(4)}], "conclusion": "carcinoma"},
        {"resourceType": "Procedure", "text": _text(), "status": "completed", "subject": {"reference": PAT},
         "code": {"coding": [{"system": SCT, "code": "387713003"}]}, "performedString": "2019",
         "reasonReference": [{"reference": _uuid(2)}]},
        {"resourceType": "MedicationStatement", "text": _text(), "status": "active", "subject": SUBJECT,
         "medicationCodeableConcept": {"text": "tamoxifen"},
         "dosage": [{"text": "20 mg daily",
                     "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                     "doseAndRate": [{"doseQuantity": {"value": 20, "unit": "mg", "system": UCUM,
                                                       "code": "mg"}}]}]},
        {"resourceType": "DocumentReference", "text": _text(), "status": "current", "subject": SUBJECT,
         "content": [{"attachment": {"contentType": "text/plain", "data": "Y2FzZSByZXBvcnQ=",
                                     "title": "case"}}]},
        {"resourceType": "Provenance", "text": _text(), "recorded": "2024-01-01T00:00:00Z",
         "target": [{"reference": PAT}, {"reference": _uuid(2)}],
         "agent": [{"who": {"display": "fhirconv"}}],
         "entity": [{"role": "source", "what": {"reference": _uuid(10)}}]},
    ]


def bundle(resources: list[dict[str, Any]] | None = None, type_: str = "transaction") -> dict[str, Any]:
    resources = _resources() if resources is None else resources
    entries = []
    for i, r in enumerate(resources):
        e: dict[str, Any] = {"fullUrl": PAT if i == 0 else _uuid(i + 1), "resource": r}
        if type_ in ("transaction", "batch"):
            e["request"] = {"method": "POST", "url": r["resourceType"]}
        entries.append(e)
    return {"resourceType": "Bundle", "type": type_, "entry": entries}


def with_entry(resource: dict[str, Any], type_: str = "transaction") -> dict[str, Any]:
    """The valid bundle plus one more resource, as entry 11."""
    return bundle([*_resources(), resource], type_)


def errors(issues: list[Issue], layer: str | None = None) -> list[Issue]:
    return [i for i in issues
            if i.severity in (Severity.ERROR, Severity.FATAL) and (layer is None or i.layer == layer)]


def at(issues: list[Issue], location: str) -> list[Issue]:
    return [i for i in issues if i.location == location]


E11 = "Bundle.entry[11].resource"


def _obs(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "text": _text(), "status": "final", "code": {"text": "finding"},
            "subject": {"reference": PAT}, **kw}


def _cond(**kw: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "text": _text(), "code": {"text": "x"}, "subject": SUBJECT, **kw}


# ------------------------------------------------------------------ a valid bundle

@MODES
def test_valid_bundle_has_no_issue_at_all(foreign: bool) -> None:
    assert validate_resource(bundle(), foreign=foreign) == []


@MODES
def test_valid_collection_and_single_resources_pass(foreign: bool) -> None:
    collection = bundle(type_="collection")
    assert validate_resource(collection, foreign=foreign) == []
    patient = _resources()[0]
    assert validate_resource(patient, foreign=foreign) == []


def test_validation_does_not_change_the_input() -> None:
    data = bundle()
    before = copy.deepcopy(data)
    validate_resource(data, foreign=True)
    validate_resource(data, foreign=False)
    assert data == before


# ------------------------------------------------------------------ model

@MODES
def test_unknown_resource_type_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry({"resourceType": "Foo", "id": "1"}), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("model", E11 + ".resourceType")]


@MODES
def test_missing_required_element_is_an_error(foreign: bool) -> None:
    obs = _obs()
    del obs["status"]
    issues = validate_resource(with_entry(obs), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("model", E11 + ".status")]


@MODES
def test_empty_uri_is_an_error(foreign: bool) -> None:
    # the schema's uri pattern allows "", FHIR does not
    obs = _obs(code={"coding": [{"system": "", "code": "x"}]})
    issues = validate_resource(with_entry(obs), foreign=foreign)
    assert any(i.layer == "model" for i in errors(at(issues, E11 + ".code.coding[0].system")))


def test_non_resource_input_is_an_error() -> None:
    issues = validate_resource({"hello": "world"})
    assert [i.layer for i in errors(issues)] == ["model"]


@MODES
def test_two_values_of_one_choice_element_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(valueString="a", valueBoolean=True)), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("model", E11)]
    assert "valueBoolean, valueString" in errors(issues)[0].message


@MODES
def test_impossible_calendar_date_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(effectiveDateTime="2019-02-30")), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("model", E11 + ".effectiveDateTime")]


def test_foreign_mode_runs_the_r4b_models() -> None:
    # MedicinalProduct is R4 but was dropped from R4B: only the foreign mode's pydantic pass notices
    product = {"resourceType": "MedicinalProduct", "text": _text(), "name": [{"productName": "tamoxifen"}]}
    foreign = validate_resource(product, foreign=True)
    assert [(i.severity, i.layer) for i in foreign] == [(Severity.INFORMATION, "model")]
    assert validate_resource(product, foreign=False) == []


# ------------------------------------------------------------------ schema

@MODES
def test_status_final_is_fine_but_bogus_is_a_schema_error(foreign: bool) -> None:
    assert errors(validate_resource(with_entry(_obs(status="final")), foreign=foreign)) == []
    issues = validate_resource(with_entry(_obs(status="bogus")), foreign=foreign)
    # one error: the binding layer does not repeat what the schema enum said
    assert [(i.layer, i.location) for i in errors(issues)] == [("schema", E11 + ".status")]
    assert "bogus" in issues[0].message


@MODES
def test_empty_string_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(code={"text": ""})), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("schema", E11 + ".code.text")]


@MODES
def test_r4b_only_value_codeable_reference_extension_is_an_error(foreign: bool) -> None:
    ext = {"url": "http://example.org/ext", "valueCodeableReference": {"concept": {"text": "x"}}}
    obs = _obs(extension=[ext])
    issues = validate_resource(with_entry(obs), foreign=foreign)
    schema = errors(issues, "schema")
    assert [i.location for i in schema] == [E11 + ".extension[0]"]
    assert "valueCodeableReference" in schema[0].message


@MODES
def test_unknown_element_and_wrong_type_are_schema_errors(foreign: bool) -> None:
    obs = _obs(valueQuantity={"value": "9.1"}, colour="red")
    issues = validate_resource(with_entry(obs), foreign=foreign)
    locs = {i.location for i in errors(issues, "schema")}
    assert {E11, E11 + ".valueQuantity.value"} <= locs


# ------------------------------------------------------------------ invariants

@MODES
def test_obs_6_data_absent_reason_with_a_value(foreign: bool) -> None:
    obs = _obs(valueString="positive", dataAbsentReason={"text": "unknown"})
    issues = validate_resource(with_entry(obs), foreign=foreign)
    assert [(i.layer, i.location, i.message[:5]) for i in errors(issues)] == [("invariant", E11, "obs-6")]


@MODES
def test_con_5_clinical_status_with_entered_in_error(foreign: bool) -> None:
    cond = _cond(clinicalStatus={"coding": [{"system": CLIN, "code": "active"}]},
                 verificationStatus={"coding": [{"system": VER, "code": "entered-in-error"}]})
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [i.message[:5] for i in errors(issues, "invariant")] == ["con-5"]


@MODES
def test_con_4_abatement_needs_an_inactive_clinical_status(foreign: bool) -> None:
    cond = _cond(clinicalStatus={"coding": [{"system": CLIN, "code": "active"}]}, abatementString="2019")
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [i.message[:5] for i in errors(issues, "invariant")] == ["con-4"]


@MODES
def test_con_3_is_a_warning(foreign: bool) -> None:
    cond = _cond(category=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                        "code": "problem-list-item"}]}])
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert errors(issues) == []
    assert [(i.severity, i.message[:5]) for i in issues] == [(Severity.WARNING, "con-3")]


@MODES
def test_obs_3_on_a_component_reference_range(foreign: bool) -> None:
    obs = _obs(component=[{"code": {"text": "c"}, "valueString": "x",
                           "referenceRange": [{"appliesTo": [{"text": "a"}]}]}])
    issues = validate_resource(with_entry(obs), foreign=foreign)
    assert [(i.location, i.message[:5]) for i in errors(issues)] == [
        (E11 + ".component[0].referenceRange[0]", "obs-3")]


@MODES
def test_datatype_invariants_quantity_and_extension(foreign: bool) -> None:
    obs = _obs(valueQuantity={"value": 1, "code": "mg"}, extension=[{"url": "http://example.org/e"}])
    issues = validate_resource(with_entry(obs), foreign=foreign)
    got = {(i.location, i.message[:5]) for i in errors(issues, "invariant")}
    assert got == {(E11 + ".valueQuantity", "qty-3"), (E11 + ".extension[0]", "ext-1")}


@MODES
def test_contained_resources_dom_3_and_ref_1(foreign: bool) -> None:
    ok = _obs(contained=[{"resourceType": "Specimen", "id": "s1"}], specimen={"reference": "#s1"})
    assert errors(validate_resource(with_entry(ok), foreign=foreign)) == []
    bad = _obs(contained=[{"resourceType": "Specimen", "id": "s1"}], specimen={"reference": "#s2"})
    issues = validate_resource(with_entry(bad), foreign=foreign)
    got = {(i.location, i.message[:5]) for i in errors(issues)}
    assert got == {(E11, "dom-3"), (E11 + ".specimen", "ref-1")}


@MODES
def test_bundle_invariants(foreign: bool) -> None:
    data = bundle()
    data["entry"][1]["fullUrl"] = data["entry"][2]["fullUrl"]           # bdl-7
    del data["entry"][3]["request"]                                      # bdl-3
    data["total"] = 3                                                    # bdl-1
    issues = validate_resource(data, foreign=foreign)
    keys = sorted(i.message[:5] for i in errors(issues, "invariant") if i.location == "Bundle")
    assert keys == ["bdl-1", "bdl-3", "bdl-7"]


@MODES
def test_document_bundle_must_start_with_a_composition(foreign: bool) -> None:
    data = bundle(type_="document")
    data["identifier"] = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:5"}
    data["timestamp"] = "2024-01-01T00:00:00Z"
    issues = validate_resource(data, foreign=foreign)
    assert [i.message[:6] for i in errors(issues)] == ["bdl-11"]


# ------------------------------------------------------------------ bindings

@MODES
def test_condition_clinical_status_done_is_a_binding_error(foreign: bool) -> None:
    cond = _cond(clinicalStatus={"coding": [{"system": CLIN, "code": "done"}]})
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("binding", E11 + ".clinicalStatus")]
    assert "condition-clinical" in issues[0].message


@MODES
def test_clinical_status_code_from_the_wrong_system_is_a_binding_error(foreign: bool) -> None:
    cond = _cond(clinicalStatus={"coding": [{"system": SCT, "code": "55561003"}]})
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("binding", E11 + ".clinicalStatus")]


@MODES
def test_text_only_verification_status_is_a_binding_error(foreign: bool) -> None:
    cond = _cond(verificationStatus={"text": "confirmed"})
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("binding", E11 + ".verificationStatus")]


@MODES
def test_all_condition_clinical_codes_are_accepted(foreign: bool) -> None:
    for code in ("active", "recurrence", "relapse", "inactive", "remission", "resolved"):
        cond = _cond(clinicalStatus={"coding": [{"system": CLIN, "code": code}]})
        assert errors(validate_resource(with_entry(cond), foreign=foreign), "binding") == [], code


@MODES
def test_attachment_content_type_is_checked_by_syntax(foreign: bool) -> None:
    doc = {"resourceType": "DocumentReference", "text": _text(), "status": "current", "subject": SUBJECT,
           "content": [{"attachment": {"contentType": "text plain", "data": "eA=="}}]}
    issues = validate_resource(with_entry(doc), foreign=foreign)
    loc = E11 + ".content[0].attachment.contentType"
    assert [(i.layer, i.location) for i in errors(issues)] == [("binding", loc)]
    doc["content"][0]["attachment"]["contentType"] = "text/plain; charset=utf-8"
    assert validate_resource(with_entry(doc), foreign=foreign) == []


# ------------------------------------------------------------------ references

@MODES
def test_unresolved_urn_uuid_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(subject={"reference": _uuid(999)})), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("reference", E11 + ".subject.reference")]


@MODES
def test_observation_subject_practitioner_is_an_r4_error(foreign: bool) -> None:
    data = bundle([*_resources(), _obs(subject={"reference": _uuid(13)}), {"resourceType": "Practitioner"}])
    issues = validate_resource(data, foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("reference", E11 + ".subject.reference")]
    assert "Practitioner" in errors(issues)[0].message


@MODES
def test_relative_references(foreign: bool) -> None:
    # an unmatched Type/id may point outside the bundle (the spec allows it): information in a
    # collection, a warning in a transaction (it must exist on the server); in fhirconv's own
    # output (the fast path) every reference must resolve
    data = bundle([*_resources(), _obs(subject={"reference": "Patient/p1"})], type_="collection")
    issues = [i for i in validate_resource(data, foreign=foreign) if i.layer == "reference"]
    assert [i.severity for i in issues] == [Severity.INFORMATION if foreign else Severity.ERROR]
    data["entry"][0]["resource"]["id"] = "p1"
    assert [i for i in validate_resource(data, foreign=foreign) if i.layer == "reference"] == []
    tx = bundle([*_resources(), _obs(subject={"reference": "Patient/p1"})])
    issues = [i for i in validate_resource(tx, foreign=foreign) if i.layer == "reference"]
    assert [i.severity for i in issues] == [Severity.WARNING if foreign else Severity.ERROR]


@MODES
def test_absolute_url_reference_is_only_a_warning(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(subject={"reference": "http://example.org/fhir/Patient/1"})),
                               foreign=foreign)
    assert errors(issues) == []
    assert [(i.severity, i.layer) for i in issues] == [(Severity.WARNING, "reference")]


@MODES
def test_reference_to_an_unknown_type_is_an_error(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(subject={"reference": "Patientx/1"})), foreign=foreign)
    assert [i.layer for i in errors(issues)] == ["reference"]


# ------------------------------------------------------------------ terminology

@MODES
def test_snomed_code_with_bad_check_digit(foreign: bool) -> None:
    cond = _cond(code={"coding": [{"system": SCT, "code": "129766003"}]})
    issues = validate_resource(with_entry(cond), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("terminology", E11 + ".code.coding[0].code")]
    assert "Verhoeff" in issues[0].message


@MODES
def test_loinc_code_with_bad_check_digit(foreign: bool) -> None:
    issues = validate_resource(with_entry(_obs(code={"coding": [{"system": LOINC, "code": "718-8"}]})),
                               foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("terminology", E11 + ".code.coding[0].code")]


@MODES
@pytest.mark.parametrize("unit", ["gm/dL", "mg/dLx", "g dL", "mg/"])
def test_invalid_ucum_unit(foreign: bool, unit: str) -> None:
    obs = _obs(valueQuantity={"value": 1, "unit": unit, "system": UCUM, "code": unit})
    issues = validate_resource(with_entry(obs), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("terminology", E11 + ".valueQuantity.code")]


@MODES
@pytest.mark.parametrize("unit", ["g/dL", "g/dl", "mm[Hg]", "10*9/L", "/min", "%", "Cel", "[pH]", "kat",
                                  "mL/min/{1.73_m2}", "[IU]/L", "10*12/L", "ug/(kg.h)"])
def test_valid_ucum_units(foreign: bool, unit: str) -> None:
    obs = _obs(valueQuantity={"value": 1, "unit": unit, "system": UCUM, "code": unit})
    assert validate_resource(with_entry(obs), foreign=foreign) == []


@MODES
def test_unknown_dicom_modality(foreign: bool) -> None:
    study = {"resourceType": "ImagingStudy", "text": _text(), "status": "available", "subject": SUBJECT,
             "modality": [{"system": DCM, "code": "XR"}]}
    issues = validate_resource(with_entry(study), foreign=foreign)
    assert [(i.layer, i.location) for i in errors(issues)] == [("terminology", E11 + ".modality[0].code")]


def test_unknown_dicom_code_outside_a_modality_element() -> None:
    report = {"resourceType": "DiagnosticReport", "text": _text(), "status": "final", "subject": SUBJECT,
              "code": {"coding": [{"system": DCM, "code": "XYZ"}]}}
    fast = validate_resource(with_entry(report), foreign=False)
    assert [(i.severity, i.location) for i in fast] == [(Severity.ERROR, E11 + ".code.coding[0].code")]
    foreign = validate_resource(with_entry(report), foreign=True)
    assert [(i.severity, i.location) for i in foreign] == [(Severity.WARNING, E11 + ".code.coding[0].code")]
    report["code"]["coding"][0]["code"] = "113014"   # a numeric DCM concept: not a modality, not checked
    assert validate_resource(with_entry(report), foreign=True) == []


def _mappings() -> Mappings:
    rows = [("disorder.breast_cancer", SCT, "254837009"), ("disorder.hypertension", SCT, "38341003"),
            ("procedure.surgery", SCT, "387713003"), ("body.thorax", SCT, "51185008"),
            ("lab.hemoglobin", LOINC, "718-7"), ("lab.bp", LOINC, "85354-9"), ("lab.sbp", LOINC, "8480-6"),
            ("lab.dbp", LOINC, "8462-4"), ("imaging.ct", DCM, "CT")]
    concepts = {key: Concept(key, system, code, key, (), (), "test", "test.tsv", n)
                for n, (key, system, code) in enumerate(rows, start=2)}
    return Mappings(concepts=concepts)


def test_codes_outside_the_mappings() -> None:
    m = _mappings()
    assert validate_resource(bundle(), mappings=m, foreign=False) == []
    cond = _cond(code={"coding": [{"system": SCT, "code": "73211009"}]})
    fast = validate_resource(with_entry(cond), mappings=m, foreign=False)
    assert [(i.severity, i.layer, i.location) for i in fast] == [
        (Severity.ERROR, "terminology", E11 + ".code.coding[0].code")]
    foreign = validate_resource(with_entry(cond), mappings=m, foreign=True)
    assert [(i.severity, i.layer) for i in foreign] == [(Severity.INFORMATION, "terminology")]
    assert not has_errors(foreign)


# ------------------------------------------------------------------ output shape

def test_issues_are_sorted_by_location_with_numeric_indices() -> None:
    data = bundle([*_resources(), *[_obs(status="bogus") for _ in range(3)]])
    issues = validate_resource(data, foreign=False)
    locs = [i.location for i in issues]
    assert locs == ["Bundle.entry[11].resource.status", "Bundle.entry[12].resource.status",
                    "Bundle.entry[13].resource.status"]
    mixed = with_entry(_obs(status="bogus", valueQuantity={"value": 1, "code": "mg"}, code={"text": ""}))
    first, second = validate_resource(mixed, foreign=True), validate_resource(mixed, foreign=True)
    assert first == second
    assert [(i.location, i.message) for i in first] == sorted((i.location, i.message) for i in first)


def test_issue_layers_and_to_dict() -> None:
    issues = validate_resource(with_entry(_obs(status="bogus")), foreign=True)
    d = issues[0].to_dict()
    assert d["severity"] == "error" and d["layer"] == "schema" and d["location"] == E11 + ".status"


ODD_INPUTS: list[Any] = [
    [], "x", None, 5, {"resourceType": 5},
    {"resourceType": "Bundle", "type": "collection", "entry": "x"},
    {"resourceType": "Bundle", "type": "collection",
     "entry": [None, 1, {"resource": "x"}, {"resource": {"id": "x"}},
               {"resource": {"resourceType": "Observation", "code": [], "subject": "Patient/1",
                             "valueQuantity": [1], "referenceRange": {"low": 5}}}]},
    {"resourceType": "Observation", "status": "final", "code": {"coding": "x"}, "contained": [{"id": "a"}, 5],
     "extension": {"url": 5}, "_status": [None], "component": [None, {"code": None}]},
    {"resourceType": "Bundle", "type": "collection",
     "entry": [{"fullUrl": 5, "resource": {"resourceType": "Bundle", "type": "collection", "entry": [
         {"resource": {"resourceType": "Patient",
                       "generalPractitioner": [{"reference": 5}, {"reference": "urn:uuid:x"}]}}]}}]},
    {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
     "code": {"coding": [{"system": SCT, "code": 12345}]}, "onsetAge": {"system": UCUM, "code": ["a"]}},
]


@MODES
@pytest.mark.parametrize("data", ODD_INPUTS, ids=[f"odd{i}" for i in range(len(ODD_INPUTS))])
def test_garbage_gives_errors_not_exceptions(foreign: bool, data: Any) -> None:
    issues = validate_resource(data, foreign=foreign)
    assert issues and has_errors(issues)
    assert all(isinstance(i, Issue) and i.layer for i in issues)


def _nested_list(levels: int) -> list:
    top: list = []
    cur = top
    for _ in range(levels):
        cur.append([])
        cur = cur[0]
    return top


def _nested_extension(levels: int) -> dict:
    ext: dict = {"url": "http://example.org/x"}
    for _ in range(levels):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    return {"resourceType": "Patient", "extension": [ext]}


@pytest.mark.parametrize("junk", [
    {"resourceType": ""},
    {"resourceType": 5},
    {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "clinicalStatus": {"coding": True}},
    {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
     "code": {"coding": [{"system": "http://snomed.info/sct", "code": []}]}},
    _nested_extension(200),
    {"resourceType": "Patient", "identifier": _nested_list(1000)},
])
def test_foreign_junk_is_reported_never_raised(junk):
    import fhirconv

    issues = fhirconv.validate(junk)
    assert any(i.severity.value in ("error", "fatal") for i in issues)
