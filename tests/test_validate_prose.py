"""Rules the R4 specification states in prose (validate/_prose.py), each with a resource of our own."""

from __future__ import annotations

import base64

import pytest

import fhirconv
from fhirconv.model import Severity

DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div>'


def _errors(resource, layer=None):
    return [(i.location, i.message) for i in fhirconv.validate(resource)
            if i.severity in (Severity.ERROR, Severity.FATAL) and (layer is None or i.layer == layer)]


def _media(size):
    data = base64.b64encode(b"fourteen bytes").decode()
    return {"resourceType": "Media", "status": "completed", "text": {"status": "generated", "div": DIV},
            "content": {"contentType": "text/plain", "data": data, "size": size}}


def test_an_attachment_size_must_be_the_size_of_its_data():
    assert not _errors(_media(14))
    assert _errors(_media(100), "spec") == [("Media.content.size", "Attachment.size is 100, but the data is 14 bytes")]


def _bundle(**kw):
    return {"resourceType": "Bundle", "type": kw.pop("type", "collection"), **kw}


PATIENT = {"resourceType": "Patient", "id": "p1", "text": {"status": "generated", "div": DIV}}


@pytest.mark.parametrize(("full_url", "ok"), [
    ("urn:uuid:9ce2a97b-5cab-4986-814f-4734016e6084", True), ("http://example.org/fhir/Patient/p1", True),
    ("urn:oid:1.2.3.4", True), ("Patient/p1", False), ("urn:uuid:9CE2A97B-5CAB-4986-814F-4734016E6084", False),
    ("urn:uuid:not-a-uuid", False),
])
def test_a_full_url_is_absolute_and_a_urn_uuid_is_a_lower_case_uuid(full_url, ok):
    bundle = _bundle(entry=[{"fullUrl": full_url, "resource": PATIENT}])
    assert (not _errors(bundle, "spec")) is ok


def test_paging_links_occur_once():
    links = [{"relation": "self", "url": "http://x/a"}, {"relation": "next", "url": "http://x/b"}]
    assert not _errors(_bundle(type="searchset", link=links))
    twice = _bundle(type="searchset", link=[*links, {"relation": "self", "url": "http://x/c"}])
    assert _errors(twice, "spec") == [("Bundle.link[2]", "the link relation 'self' may occur only once")]


def test_search_results_have_ids_but_an_outcome_of_the_search_need_not():
    no_id = {k: v for k, v in PATIENT.items() if k != "id"}
    outcome = {"resourceType": "OperationOutcome", "text": {"status": "generated", "div": DIV},
               "issue": [{"severity": "warning", "code": "informational"}]}
    entries = [{"fullUrl": "http://x/Patient/1", "resource": no_id, "search": {"mode": "match"}},
               {"fullUrl": "http://x/OperationOutcome/1", "resource": outcome, "search": {"mode": "outcome"}}]
    assert _errors(_bundle(type="searchset", entry=entries), "spec") == [
        ("Bundle.entry[0].resource", "a search result must have an id")]


@pytest.mark.parametrize(("system", "problem"), [
    ("http://snomed.info/sct", None), ("urn:oid:2.16.840.1.113883.6.1", None),
    ("local-codes", "must be an absolute URI"), ("http://hl7.org/fhir/ValueSet/measure-type", "names a value set"),
])
def test_a_coding_system_is_an_absolute_uri_naming_a_code_system(system, problem):
    obs = {"resourceType": "Observation", "status": "final", "text": {"status": "generated", "div": DIV},
           "code": {"coding": [{"system": system, "code": "x"}]}}
    found = [m for loc, m in _errors(obs, "spec") if loc == "Observation.code.coding[0].system"]
    assert (problem is None and not found) or (problem is not None and problem in found[0])


def test_canonical_urls_and_included_systems_are_absolute():
    vs = {"resourceType": "ValueSet", "status": "active", "text": {"status": "generated", "div": DIV},
          "url": "ValueSet/mine", "compose": {"include": [{"system": "#cs"}]}}
    assert {loc for loc, _ in _errors(vs, "spec")} == {"ValueSet.url", "ValueSet.compose.include[0].system"}
    vs["url"], vs["compose"]["include"][0]["system"] = "http://example.org/ValueSet/mine", "http://loinc.org"
    assert not _errors(vs, "spec")


def test_a_narrative_uses_only_the_entities_xml_defines():
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Brand&reg; &amp; &#174; &lt;ok&gt;</p></div>'
    enc = {"resourceType": "Encounter", "status": "finished", "text": {"status": "generated", "div": div},
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}}
    assert [m for _, m in _errors(enc, "spec")] == [
        "the narrative uses the entities &reg;, which XML does not define: write them as characters or numeric "
        "references (&#174;)"]


def test_a_supplement_has_supplement_content_and_a_composite_parameter_components():
    cs = {"resourceType": "CodeSystem", "status": "active", "text": {"status": "generated", "div": DIV},
          "url": "http://example.org/cs", "supplements": "http://loinc.org", "content": "complete"}
    assert ("CodeSystem.content", "a CodeSystem that supplements another has content 'supplement'") in _errors(cs)
    sp = {"resourceType": "SearchParameter", "url": "http://example.org/sp", "name": "x", "status": "active",
          "description": "x", "code": "x", "base": ["Patient"], "type": "composite",
          "text": {"status": "generated", "div": DIV}}
    assert ("SearchParameter", "a composite SearchParameter defines two or more components") in _errors(sp)


def test_que_12_counts_more_than_one_enable_when_as_its_text_says():
    when = {"question": "1", "operator": "exists", "answerBoolean": True}
    q = {"resourceType": "Questionnaire", "status": "active", "name": "Q", "text": {"status": "generated", "div": DIV},
         "item": [{"linkId": "1", "type": "boolean", "text": "a"},
                  {"linkId": "2", "type": "string", "text": "b", "enableWhen": [when, dict(when, question="1")]}]}
    assert any("que-12" in m for _, m in _errors(q))
    q["item"][1]["enableBehavior"] = "all"
    assert not any("que-12" in m for _, m in _errors(q))


def test_an_unresolved_urn_uuid_is_information_in_a_collection_and_an_error_in_a_transaction():
    obs = {"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"},
           "text": {"status": "generated", "div": DIV},
           "subject": {"reference": "urn:uuid:23ac0bc6-0959-4181-8af0-6db5e2ef8176"}}
    entry = {"fullUrl": "urn:uuid:9ce2a97b-5cab-4986-814f-4734016e6084", "resource": obs}
    collection = fhirconv.validate(_bundle(entry=[entry]))
    assert [i.severity for i in collection if i.layer == "reference"] == [Severity.INFORMATION]
    put = dict(entry, request={"method": "PUT", "url": "Observation/o1"})
    assert any(i.layer == "reference" for i in fhirconv.validate(_bundle(type="transaction", entry=[put]))
               if i.severity == Severity.ERROR)
