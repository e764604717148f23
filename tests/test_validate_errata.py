"""The schema errata (validate/data/schema_errata.json) and reference resolution as the
specification allows it, each on a resource written here."""

from __future__ import annotations

import fhirconv
from fhirconv.model import Severity
from fhirconv.validate import validate_resource


def _errors(resource, **kw):
    issues = validate_resource(resource, **kw) if kw else fhirconv.validate(resource)
    return [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)]


def _cap(version):
    return {"resourceType": "CapabilityStatement", "status": "active", "date": "2024-01-01", "kind": "instance",
            "fhirVersion": version, "format": ["json"], "implementation": {"description": "x"},
            "rest": [{"mode": "server"}]}


def test_fhir_version_4_0_1_is_a_version_and_a_made_up_one_is_not():
    assert not _errors(_cap("4.0.1"))
    assert any(i.location.endswith("fhirVersion") for i in _errors(_cap("9.9.9")))


def test_a_canonical_element_may_carry_extensions():
    ext = {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}
    patient = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/p"], "_profile": [ext]}}
    assert not _errors(patient)


def test_expression_language_is_extensible():
    ext = {"url": "http://example.org/calc",
           "valueExpression": {"language": "text/x-my-engine", "expression": "1 + 1"}}
    assert not _errors({"resourceType": "Patient", "extension": [ext]})


def test_unicode_spaces_are_string_content_and_controls_are_not():
    assert not _errors({"resourceType": "Patient", "name": [{"text": "Anne\u00a0Marie\u2009Smith"}]})
    bad = _errors({"resourceType": "Patient", "name": [{"text": "Anne\x01Smith"}]})
    assert any(i.location == "Patient.name[0].text" for i in bad)


def test_a_complex_element_written_as_a_string_is_an_error():
    enc = {"resourceType": "Encounter", "status": "finished", "class": "AMB", "subject": "Patient/1"}
    locations = {i.location for i in _errors(enc)}
    assert {"Encounter.class", "Encounter.subject"} <= locations


def _bundle(kind, ref):
    entry = {"fullUrl": "urn:uuid:6b7f0f0e-1d3a-4a53-9f3b-0b1c0de0a001",
             "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "subject": {"reference": ref}}}
    if kind in ("transaction", "batch"):
        entry["request"] = {"method": "POST", "url": "Observation"}
    return {"resourceType": "Bundle", "type": kind, "entry": [entry]}


def _ref_issues(bundle, **kw):
    issues = validate_resource(bundle, **kw) if kw else fhirconv.validate(bundle)
    return [i for i in issues if i.layer == "reference"]


def test_a_reference_outside_the_bundle_is_information_warning_or_error_by_bundle_type():
    assert [i.severity for i in _ref_issues(_bundle("collection", "Patient/1"))] == [Severity.INFORMATION]
    assert [i.severity for i in _ref_issues(_bundle("searchset", "Patient/1"))] == [Severity.INFORMATION]
    assert [i.severity for i in _ref_issues(_bundle("transaction", "Patient/1"))] == [Severity.WARNING]
    # fhirconv's own output: every reference it writes must resolve
    assert [i.severity for i in _ref_issues(_bundle("collection", "Patient/1"), foreign=False)] == [Severity.ERROR]


def test_a_version_specific_reference_must_match_the_entry_version():
    bundle = _bundle("collection", "Patient/1/_history/2")
    bundle["entry"].append({"fullUrl": "http://example.org/fhir/Patient/1",
                            "resource": {"resourceType": "Patient", "id": "1", "meta": {"versionId": "1"}}})
    issues = _ref_issues(bundle)
    assert len(issues) == 1 and "names version 2, but the entry for Patient/1 is version 1" in issues[0].message
    bundle["entry"][1]["resource"]["meta"]["versionId"] = "2"
    assert not _ref_issues(bundle)


def test_a_snomed_expression_is_allowed_and_its_ids_checked():
    def cond(code):
        return {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}

    ok = fhirconv.validate(cond("71341001:272741003=7771000"))
    assert not [i for i in ok if i.severity == Severity.ERROR]
    assert any("SNOMED CT expression" in i.message and i.severity == Severity.INFORMATION for i in ok)
    with_terms = fhirconv.validate(cond("71341001 |Fracture of femur| : 272741003 |Laterality| = 7771000 |Left|"))
    assert not [i for i in with_terms if i.severity == Severity.ERROR]
    bad = [i for i in fhirconv.validate(cond("71341001:272741004=7771000")) if i.severity == Severity.ERROR]
    assert len(bad) == 1 and "'272741004'" in bad[0].message and "check digit" in bad[0].message
    assert any("digits only" in i.message for i in fhirconv.validate(cond("abc")))


def test_the_fast_path_for_own_output_also_refuses_a_string_where_an_object_is_due():
    obs = {"resourceType": "Observation", "status": "final", "code": "x"}
    assert any(i.location == "Observation.code" for i in _errors(obs, foreign=False))


def _messages(resource):
    return [(i.severity, i.message.split(":")[0]) for i in fhirconv.validate(resource) if i.layer == "invariant"]


def _enc(**extra):
    return {"resourceType": "Encounter", "status": "finished", "text": {"status": "generated", "div": extra.pop(
        "div", '<div xmlns="http://www.w3.org/1999/xhtml"><p>Seen in clinic.</p></div>')},
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, **extra}


def test_per_1_a_period_may_not_end_before_it_starts_and_undecided_precisions_fail():
    assert (Severity.ERROR, "per-1") in _messages(_enc(period={"start": "2020-03-05", "end": "2020-03-01"}))
    assert (Severity.ERROR, "per-1") in _messages(
        _enc(period={"start": "2020-03-05T10:00:00+01:00", "end": "2020-03-05T09:30:00+01:00"}))
    # FHIRPath cannot order a day and a time within it: empty, which is not true (HL7's verdict too)
    assert (Severity.ERROR, "per-1") in _messages(_enc(period={"start": "2023-06-21", "end": "2023-06-21T06:20:00Z"}))
    for ok in ({"start": "2020-03", "end": "2020-04-15"}, {"start": "2020-03-01", "end": "2020-03-01"},
               {"start": "2020-03-05T09:00:00Z", "end": "2020-03-05T10:30:00+01:00"}, {"start": "2019"}):
        assert (Severity.ERROR, "per-1") not in _messages(_enc(period=ok)), ok


def test_txt_1_and_txt_2_narratives_hold_only_formatting_and_some_content():
    script = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p><script>alert(1)</script></div>'
    assert (Severity.ERROR, "txt-1") in _messages(_enc(div=script))
    handler = '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Hi</p></div>'
    assert (Severity.ERROR, "txt-1") in _messages(_enc(div=handler))
    link = '<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:x()">Hi</a></div>'
    assert (Severity.ERROR, "txt-1") in _messages(_enc(div=link))
    quoted = '<div xmlns="http://www.w3.org/1999/xhtml"><p title="onset on the left > right">Hi</p></div>'
    assert not [m for m in _messages(_enc(div=quoted)) if m[1] == "txt-1"]
    blank = '<div xmlns="http://www.w3.org/1999/xhtml">\n  <pre>\n  </pre>\n</div>'
    assert (Severity.WARNING, "txt-2") in _messages(_enc(div=blank))
    table = ('<div xmlns="http://www.w3.org/1999/xhtml"><table border="1"><tr><td style="color:red">1</td>'
             '</tr></table><img src="#pic" alt="x"/></div>')
    assert not [m for m in _messages(_enc(div=table)) if m[1] in ("txt-1", "txt-2")]


def test_age_1_cnt_3_and_bdl_10():
    def obs(**value):
        return {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, **value}

    ucum = "http://unitsofmeasure.org"
    assert (Severity.ERROR, "age-1") in _messages(obs(valueQuantity={"value": 3}) | {
        "extension": [{"url": "http://example.org/age", "valueAge": {"value": -2, "system": ucum, "code": "a"}}]})
    assert (Severity.ERROR, "age-1") not in _messages(obs() | {
        "extension": [{"url": "http://example.org/age", "valueAge": {"value": 2, "system": ucum, "code": "a"}}]})
    count = {"extension": [{"url": "http://example.org/n", "valueCount": {"value": 2.5, "system": ucum, "code": "1"}}]}
    assert (Severity.ERROR, "cnt-3") in _messages(obs() | count)
    doc = {"resourceType": "Bundle", "type": "document", "identifier": {"system": "urn:x", "value": "1"}}
    assert (Severity.ERROR, "bdl-10") in _messages(doc)
    assert (Severity.ERROR, "bdl-10") not in _messages(doc | {"timestamp": "2020-01-01T00:00:00Z"})


def test_ele_1_an_element_with_nothing_but_an_id():
    cond = {"resourceType": "Condition", "subject": {"reference": "Patient/1"}, "code": {"id": "c1"}}
    assert (Severity.ERROR, "ele-1") in _messages(cond)
    cond["code"]["text"] = "cough"
    assert (Severity.ERROR, "ele-1") not in _messages(cond)


def test_a_declared_profile_is_named_as_not_validated():
    patient = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/StructureDefinition/p"]}}
    infos = [i for i in fhirconv.validate(patient) if i.layer == "profile"]
    assert [(i.severity, i.location) for i in infos] == [(Severity.INFORMATION, "Patient.meta.profile[0]")]
    assert "not validated" in infos[0].message


def test_base64_content_is_checked():
    def binary(data):
        return {"resourceType": "Binary", "contentType": "text/plain", "data": data}

    assert not _errors(binary("aGVsbG8gd29ybGQ="))
    assert not _errors(binary("aGVs\nbG8g\nd29y\nbGQ="))          # line breaks between groups are allowed
    for bad in ("@@@not base64!", "abc"):
        assert [i.location for i in _errors(binary(bad))] == ["Binary.data"], bad


def test_issues_become_an_operation_outcome_that_validates():
    from fhirconv.validate._outcome import operation_outcome, outcomes_bundle

    issues = fhirconv.validate({"resourceType": "Encounter", "status": "finished", "class": "AMB"})
    outcome = operation_outcome(issues, "enc.json")
    assert outcome["issue"] and all(i["code"] for i in outcome["issue"])
    assert any(i["expression"] == ["Encounter.class"] and i["severity"] == "error" for i in outcome["issue"])
    assert not _errors(outcome)
    odd = operation_outcome([{"severity": "error", "code": "schema", "location": "", "message": "m", "layer": "x"}])
    assert odd["issue"][0]["code"] == "processing" and "expression" not in odd["issue"][0]
    empty = operation_outcome([])
    assert empty["issue"][0]["code"] == "informational" and not _errors(empty)
    assert not _errors(outcomes_bundle({"a.json": [], "b.json": [i.to_dict() for i in issues]}))
