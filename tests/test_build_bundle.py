"""Facts → resources → bundles: structure, references, determinism, conventions the scorer and servers read."""

from __future__ import annotations

import json

import pytest

import fhirconv
from fhirconv.bundle import dumps, make_bundle, ndjson_lines
from fhirconv.model import Severity

TEXT = ("Case report\nA 47-year-old woman presented with headache and no fever in March 2019. "
        "MRI of the brain showed a mass. Biopsy of the left breast mass revealed breast cancer "
        "with metastasis to the brain. Tuberculosis was ruled out. She died on 4 May 2020.")


@pytest.fixture(scope="module")
def bundle():
    b = fhirconv.convert_text(TEXT, name="case.txt")
    assert b is not None
    return b


def resources(bundle, rtype):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def test_transaction_entries_are_idempotent_puts(bundle):
    assert bundle["type"] == "transaction"
    for e in bundle["entry"]:
        r = e["resource"]
        assert e["fullUrl"] == f"urn:uuid:{r['id']}"
        assert e["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        assert any(not ch.isdigit() for ch in r["id"])  # HAPI refuses purely numeric client ids


def test_every_reference_resolves_inside_the_bundle(bundle):
    full = {e["fullUrl"] for e in bundle["entry"]}

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                assert node["reference"] in full, node["reference"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(bundle)


def test_patient_age_and_death(bundle):
    (patient,) = resources(bundle, "Patient")
    assert patient["gender"] == "female"
    assert patient["deceasedDateTime"] == "2020-05-04"
    ages = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "30525-0"]
    assert ages and ages[0]["valueQuantity"] == {"value": 47, "unit": "years", "system": "http://unitsofmeasure.org",
                                                  "code": "a"}


@pytest.mark.parametrize(("said", "years"), [("an 8-month-old girl", 0.67), ("a 3-week-old boy", 0.06),
                                             ("a 10-day-old infant", 0.03)])
def test_an_infant_age_is_given_in_years(said: str, years: float) -> None:
    b = fhirconv.convert_text(f"Case report\nWe describe {said} admitted with fever and cough.", name="inf.txt")
    assert b is not None
    (age,) = [o for o in resources(b, "Observation") if o["code"]["coding"][0]["code"] == "30525-0"]
    assert age["valueQuantity"] == {"value": years, "unit": "years", "system": "http://unitsofmeasure.org",
                                    "code": "a"}
    assert said.split("-")[0].split()[-1] in age["text"]["div"]     # the text's own words stay in the narrative


def test_negated_finding_is_recorded_absent(bundle):
    fever = [o for o in resources(bundle, "Observation") if o["code"].get("text", "").lower() == "fever"]
    assert fever and all(o["valueBoolean"] is False for o in fever)


def test_refuted_condition_and_metastasis_linked_to_primary(bundle):
    conds = resources(bundle, "Condition")
    tb = [c for c in conds if "tuberculosis" in c["code"].get("text", "").lower()]
    assert tb and tb[0]["verificationStatus"]["coding"][0]["code"] == "refuted"
    assert "clinicalStatus" not in tb[0]
    primary = next(c for c in conds if c["code"]["coding"][0]["code"] == "254837009")
    mets = [c for c in conds if any(x.get("url", "").endswith("condition-related") for x in c.get("extension", []))]
    assert mets, "metastasis without a link to its primary"
    link = next(x for x in mets[0]["extension"] if x["url"].endswith("condition-related"))
    assert link["valueReference"]["reference"] == f"urn:uuid:{primary['id']}"


def test_imaging_study_with_report(bundle):
    (study,) = resources(bundle, "ImagingStudy")
    assert study["modality"][0]["code"] == "MR" and study["series"][0]["modality"]["code"] == "MR"
    assert study["series"][0]["uid"].startswith("2.25.")
    (report,) = [r for r in resources(bundle, "DiagnosticReport") if r["category"][0]["coding"][0]["code"] == "RAD"]
    assert report["imagingStudy"][0]["reference"] == f"urn:uuid:{study['id']}"
    assert report["conclusion"]


def test_pathology_report_concludes_with_the_primary(bundle):
    (report,) = [r for r in resources(bundle, "DiagnosticReport") if r["category"][0]["coding"][0]["code"] == "PAT"]
    assert report["conclusionCode"][0]["coding"][0]["code"] == "254837009"


def test_document_reference_and_provenance(bundle):
    (doc,) = resources(bundle, "DocumentReference")
    assert doc["content"][0]["attachment"]["contentType"].startswith("text/plain")
    (prov,) = resources(bundle, "Provenance")
    assert prov["agent"][0]["who"]["display"] == f"fhirconv {fhirconv.__version__}"
    assert len(prov["target"]) == len(bundle["entry"]) - 1


def test_every_resource_has_narrative(bundle):
    for e in bundle["entry"]:
        assert e["resource"]["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')


def test_bundle_passes_the_validator(bundle):
    errors = [i for i in fhirconv.validate(bundle) if i.severity in (Severity.ERROR, Severity.FATAL)]
    assert errors == []


def test_two_runs_are_byte_identical():
    a = dumps(fhirconv.convert_text(TEXT))
    b = dumps(fhirconv.convert_text(TEXT))
    assert a == b


def test_collection_bundle_has_no_requests():
    b = fhirconv.convert_text(TEXT, bundle_type="collection")
    assert b["type"] == "collection" and all("request" not in e for e in b["entry"])
    errors = [i for i in fhirconv.validate(b) if i.severity in (Severity.ERROR, Severity.FATAL)]
    assert errors == []


def test_ndjson_groups_by_type(bundle):
    lines = ndjson_lines(e["resource"] for e in bundle["entry"])
    assert set(lines) >= {"Patient", "Condition", "Observation"}
    for rtype, rows in lines.items():
        for row in rows:
            assert json.loads(row)["resourceType"] == rtype and "\n" not in row


def test_text_without_patient_gives_no_bundle():
    assert fhirconv.convert_text("Asthma is common in children. Inhaled steroids reduce attacks.") is None


def test_unknown_bundle_type_is_refused():
    with pytest.raises(ValueError):
        make_bundle([], "0" * 64, "batch-response")


def test_facts_sharing_a_phrase_get_distinct_ids():
    text = ("A 66-year-old woman with cervical cancer had skin nodules on her abdomen and chest wall. "
            "An excision biopsy showed metastatic squamous cell carcinoma.")
    b = fhirconv.convert_text(text)
    ids = [e["resource"]["id"] for e in b["entry"]]
    assert len(ids) == len(set(ids))
    sites = [c["bodySite"][0]["coding"][0]["code"] for c in resources(b, "Condition")
             if c.get("bodySite") and c["code"].get("coding", [{}])[0].get("code") == "94579000"]
    assert len(sites) == 2 and len(set(sites)) == 2


def test_output_does_not_depend_on_the_input_folder(tmp_path):
    text = "A 35-year-old woman had pneumonia."
    a, b = tmp_path / "a", tmp_path / "b" / "deeper"
    for d in (a, b):
        d.mkdir(parents=True)
        (d / "case.txt").write_text(text, encoding="utf-8")
    out_a, out_b = fhirconv.convert_file(a / "case.txt"), fhirconv.convert_file(b / "case.txt")
    assert dumps(out_a) == dumps(out_b)
    assert str(tmp_path) not in dumps(out_a)


def test_a_planned_or_feared_disease_is_not_written_as_a_condition():
    b = fhirconv.convert_text("Case report\nA 34-year-old man had cough. He received isoniazid to prevent "
                              "tuberculosis. The picture mimicked sarcoidosis.", name="h.txt")
    assert b is not None
    assert resources(b, "Condition") == []


def test_a_value_written_with_a_comparison_keeps_its_comparator():
    b = fhirconv.convert_text("Case report\nA 30-year-old woman was admitted. Procalcitonin was >100 ng/mL, TSH "
                              "< 0.01 mIU/L and haemoglobin 8.2 g/dL.", name="c.txt")
    assert b is not None
    by_unit = {o["valueQuantity"].get("code"): o["valueQuantity"] for o in resources(b, "Observation")
               if "valueQuantity" in o}
    assert by_unit["ng/mL"]["comparator"] == ">" and by_unit["m[IU]/L"]["comparator"] == "<"
    assert "comparator" not in by_unit["g/dL"]


def test_reference_range_is_written_and_valid():
    import fhirconv
    bundle = fhirconv.convert_text("A 57-year-old woman presented with confusion. "
                                   "Corrected calcium was 3.4 mmol/L (2.1-2.6).")
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
           and e["resource"].get("referenceRange")]
    assert [o["referenceRange"][0]["low"]["value"] for o in obs] == [2.1]
    assert obs[0]["referenceRange"][0]["high"] == {"value": 2.6, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                                   "code": "mmol/L"}
    assert fhirconv.validate(bundle) == []
