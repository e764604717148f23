"""Output profiles (conform.py): convert --profile us-core|mcode claims a profile per resource and meets it;
none leaves the output exactly as it was."""

from __future__ import annotations

import json

import pytest

import fhirconv
from conftest import ROOT, run_cli
from fhirconv.conform import _period
from fhirconv.model import Severity
from fhirconv.pipeline import Pipeline
from fhirconv.read import read_text

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"

CANCER = ("A 58-year-old woman presented with a palpable mass in the left breast. Biopsy confirmed invasive "
          "ductal carcinoma of the breast. CT showed metastases to the liver. Serum CA 125 was 410 U/mL. "
          "There was no evidence of lymphoma. She was treated with chemotherapy.")
NO_SEX = "The patient presented with fever and a cough for two weeks. Chest radiograph showed pneumonia."


def _resources(bundle, rtype=None):
    return [e["resource"] for e in bundle["entry"] if rtype is None or e["resource"]["resourceType"] == rtype]


def _claims(res):
    return res.get("meta", {}).get("profile", [])


def _errors(bundle):
    return [f"{i.location}: {i.message}" for i in fhirconv.validate(bundle)
            if i.severity in (Severity.ERROR, Severity.FATAL)]


def test_none_is_the_default_and_adds_nothing():
    plain = fhirconv.convert_text(CANCER, name="c.txt")
    assert fhirconv.convert_text(CANCER, name="c.txt", profile="none") == plain
    assert not any("meta" in r for r in _resources(plain)) and "meta" not in plain


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="us-core"):
        fhirconv.convert_text(CANCER, profile="uscore")


def test_us_core_claims_every_profiled_resource_and_meets_it():
    bundle = fhirconv.convert_text(CANCER, name="c.txt", profile="us-core")
    assert bundle["type"] == "transaction"
    for res in _resources(bundle):
        if res["resourceType"] in ("ImagingStudy", "MedicationStatement"):
            assert not _claims(res)                       # no US Core profile it can meet: left unclaimed
        else:
            assert _claims(res) and _claims(res)[0].startswith(US_CORE), res["resourceType"]
    assert not _errors(bundle)
    cond = _resources(bundle, "Condition")[0]
    assert cond["category"][0]["coding"][0]["code"] == "problem-list-item"


def test_a_patient_the_text_does_not_name_or_sex_gets_absent_values_not_invented_ones():
    bundle = fhirconv.convert_text(NO_SEX, name="n.txt", profile="us-core")
    patient = _resources(bundle, "Patient")[0]
    assert patient["gender"] == "unknown"
    assert patient["name"] == [{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                               "valueCode": "unknown"}]}]
    assert patient["identifier"][0]["system"] and patient["identifier"][0]["value"]
    assert not _errors(bundle)


def test_the_source_document_claims_us_core_with_the_unknown_type_and_keeps_its_own_name():
    bundle = fhirconv.convert_text(CANCER, name="c.txt", profile="us-core")
    doc = _resources(bundle, "DocumentReference")[0]
    assert _claims(doc) == [f"{US_CORE}us-core-documentreference"]
    assert doc["type"]["coding"] == [{"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                      "code": "UNK", "display": "unknown"}]
    assert doc["type"]["text"] == "Published clinical case report"
    assert doc["category"][0]["coding"][0]["code"] == "clinical-note"
    assert doc["subject"]["reference"] == f"urn:uuid:{_resources(bundle, 'Patient')[0]['id']}"
    plain = _resources(fhirconv.convert_text(CANCER, name="c.txt"), "DocumentReference")[0]
    assert "category" not in plain and "coding" not in plain["type"]


def test_a_case_series_source_document_is_left_unclaimed_and_said_so():
    text = ("Case 1: A 40-year-old man presented with fever and a cough. Chest radiograph showed pneumonia. "
            "Case 2: A 50-year-old woman presented with a cough. She had asthma.")
    conv = Pipeline(profile="us-core").convert(read_text(text, "s.txt"))
    bundle, notes = conv.bundle, conv.report.notes
    assert len(_resources(bundle, "Patient")) == 2
    doc = _resources(bundle, "DocumentReference")[0]
    assert not _claims(doc) and "subject" not in doc
    assert any("DocumentReference not claimed" in n for n in notes)
    assert not _errors(bundle)


def test_a_report_without_a_date_carries_data_absent_reason_for_it():
    bundle = fhirconv.convert_text(NO_SEX, name="n.txt", profile="us-core")
    report = _resources(bundle, "DiagnosticReport")[0]
    assert "effectiveDateTime" not in report
    assert report["_effectiveDateTime"]["extension"][0]["valueCode"] == "unknown"


@pytest.mark.parametrize(("date", "period"), [
    ("2019-03", {"start": "2019-03-01", "end": "2019-03-31"}),
    ("2020-02", {"start": "2020-02-01", "end": "2020-02-29"}),     # a leap year
    ("2018", {"start": "2018-01-01", "end": "2018-12-31"}),
    ("2019-13", None),
])
def test_a_month_or_year_becomes_the_period_it_covers(date, period):
    assert _period(date) == period


def test_a_month_only_observation_date_is_not_padded_to_a_day():
    text = "A 40-year-old man was admitted in March 2019. His haemoglobin was 9.1 g/dL in March 2019."
    bundle = fhirconv.convert_text(text, name="m.txt", profile="us-core")
    lab = next(r for r in _resources(bundle, "Observation") if r["code"].get("coding", [{}])[0].get("code") == "718-7")
    assert "effectiveDateTime" not in lab
    assert lab["effectivePeriod"] == {"start": "2019-03-01", "end": "2019-03-31"}
    assert _claims(lab) == [f"{US_CORE}us-core-observation-lab"]
    plain = next(r for r in _resources(fhirconv.convert_text(text, name="m.txt"), "Observation")
                 if r["id"] == lab["id"])
    assert plain["effectiveDateTime"] == "2019-03"  # without a profile the date stays as the text gives it
    assert not _errors(bundle)


def test_mcode_marks_primary_and_secondary_cancers_the_cancer_patient_and_tumour_markers():
    bundle = fhirconv.convert_text(CANCER, name="c.txt", profile="mcode")
    assert bundle["type"] == "collection"
    assert _claims(bundle) == [f"{MCODE}mcode-patient-bundle"]
    conditions = {r["code"].get("text", ""): r for r in _resources(bundle, "Condition")}
    primary = [r for r in conditions.values() if _claims(r) == [f"{MCODE}mcode-primary-cancer-condition"]]
    secondary = [r for r in conditions.values() if _claims(r) == [f"{MCODE}mcode-secondary-cancer-condition"]]
    assert len(primary) == 1 and secondary
    related = [e for e in secondary[0]["extension"] if e["url"].endswith("condition-related")]
    assert related[0]["valueReference"]["reference"] == f"urn:uuid:{primary[0]['id']}"
    for r in conditions.values():                 # the lymphoma the text rules out is no cancer of hers
        if "lymphoma" in r["code"].get("text", "").lower():
            assert r["verificationStatus"]["coding"][0]["code"] == "refuted"
            assert not any(c.startswith(MCODE) for c in _claims(r))
    assert _claims(_resources(bundle, "Patient")[0]) == [f"{MCODE}mcode-cancer-patient"]
    markers = [r for r in _resources(bundle, "Observation") if _claims(r) == [f"{MCODE}mcode-tumor-marker-test"]]
    assert [m["code"]["coding"][0]["code"] for m in markers] == ["10334-1"]
    assert not _errors(bundle)


def test_mcode_without_a_cancer_stays_us_core():
    bundle = fhirconv.convert_text(NO_SEX, name="n.txt", profile="mcode")
    assert "meta" not in bundle                   # no cancer patient: not an mCODE patient bundle
    assert _claims(_resources(bundle, "Patient")[0]) == [f"{US_CORE}us-core-patient"]


def test_a_mutated_conformant_resource_fails_its_claimed_profile():
    """The claims are checked, not decoration: break what the profile requires and validation says so."""
    bundle = fhirconv.convert_text(NO_SEX, name="n.txt", profile="us-core")
    patient = _resources(bundle, "Patient")[0]
    del patient["name"]
    assert any("Patient.name is required" in e for e in _errors(bundle))


def test_cli_convert_with_a_profile_then_validate_against_the_guide(tmp_path):
    seeds = ROOT / "seeds"
    for profile in ("us-core", "mcode"):
        out = tmp_path / profile
        result = run_cli("convert", str(seeds), "--out", str(out), "--profile", profile, "-q")
        assert result.returncode == 0, result.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        written = [d for d in summary["documents"] if d["output"]]
        assert written and all(not d["errors"] for d in written)
        assert all(any("ImagingStudy not claimed" in n for n in d["notes"]) for d in written)
        files = [d["output"] for d in written]
        check = run_cli("validate", "--profile", profile, "--json", *files)
        assert check.returncode == 0, check.stdout[-2000:]
        outcome = json.loads(check.stdout)
        issues = [i for e in outcome["entry"] for i in e["resource"]["issue"]]
        assert not [i for i in issues if i["severity"] in ("error", "fatal")]


@pytest.mark.parametrize("profile", ["us-core", "mcode"])
def test_every_development_text_converts_to_a_bundle_that_meets_what_it_claims(shared, profile):
    """The bar on texts nobody tuned the profiles for: each bundle validates with 0 errors against the
    profiles it claims and the guide, and every resource of a type the guide profiles claims one
    (except the types conform.py leaves unclaimed, and says so)."""
    cases = sorted((shared / "eval" / "dev" / "cases").glob("*.txt"))
    if not cases:
        pytest.skip("../shared/eval/dev is not present")
    unclaimed_ok = {"ImagingStudy", "MedicationStatement"}
    bundles = 0
    for path in cases:
        bundle = fhirconv.convert_text(path.read_text(encoding="utf-8"), name=path.name, profile=profile)
        if bundle is None:
            continue
        bundles += 1
        if len(_resources(bundle, "Patient")) > 1:            # a case series' document has no one subject
            unclaimed_ok.add("DocumentReference")
        else:
            unclaimed_ok.discard("DocumentReference")
        issues = fhirconv.validate(bundle, profiles=(profile,))
        assert not [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)], path.name
        for res in _resources(bundle):
            assert _claims(res) or res["resourceType"] in unclaimed_ok, (path.name, res["resourceType"])
    assert bundles >= 25


def test_mcode_writes_the_stage_group_as_cancer_stage_with_the_primary_as_focus():
    text = ("A 52-year-old woman was diagnosed with stage IV adenocarcinoma of the lung. She also had chronic "
            "kidney disease stage 3.")
    bundle = fhirconv.convert_text(text, name="s.txt", profile="mcode")
    stages = [r for r in _resources(bundle, "Observation") if _claims(r) == [f"{MCODE}mcode-cancer-stage"]]
    assert len(stages) == 1                                   # the kidney disease's stage is not a cancer stage
    stage = stages[0]
    assert stage["code"]["coding"][0]["code"] == "21908-9"     # stage group, clinical (no other kind named)
    assert stage["valueCodeableConcept"]["coding"][0]["code"] == "258228008"     # Stage 4
    primary = next(r for r in _resources(bundle, "Condition")
                   if _claims(r) == [f"{MCODE}mcode-primary-cancer-condition"])
    assert stage["focus"] == [{"reference": f"urn:uuid:{primary['id']}"}]
    assert not _errors(bundle)
    plain = fhirconv.convert_text(text, name="s.txt")
    assert not any(r["code"].get("coding", [{}])[0].get("code") == "21908-9" for r in _resources(plain, "Observation"))


def test_a_sub_stage_is_kept_as_text_not_coded_coarser():
    bundle = fhirconv.convert_text("A 45-year-old woman had FIGO stage IIIC serous carcinoma of the ovary.",
                                   name="f.txt", profile="mcode")
    stage = next(r for r in _resources(bundle, "Observation") if _claims(r) == [f"{MCODE}mcode-cancer-stage"])
    assert stage["code"]["coding"][0]["code"] == "21914-7"     # a named non-TNM system: stage group, other
    assert stage["valueCodeableConcept"] == {"text": "FIGO stage IIIC"}


@pytest.mark.parametrize(("text", "linked"), [
    ("A 58-year-old woman had invasive ductal carcinoma of the left breast. She underwent a left mastectomy.",
     {"mastectomy"}),
    ("A 58-year-old woman had invasive ductal carcinoma of the left breast. She underwent a right mastectomy "
     "and an appendectomy.", set()),                        # the other side, another organ: not for this cancer
    ("A 66-year-old man had a laparoscopic cholecystectomy. Two years later a breast carcinoma was found.", set()),
])
def test_a_surgery_at_the_cancers_own_site_is_a_cancer_related_surgical_procedure(text, linked):
    bundle = fhirconv.convert_text(text, name="p.txt", profile="mcode")
    surgical = {r["code"].get("text") for r in _resources(bundle, "Procedure")
                if _claims(r) == [f"{MCODE}mcode-cancer-related-surgical-procedure"]}
    assert surgical == linked
    for proc in _resources(bundle, "Procedure"):
        if proc["code"].get("text") in linked:
            primary = next(r for r in _resources(bundle, "Condition")
                           if _claims(r) == [f"{MCODE}mcode-primary-cancer-condition"])
            assert proc["reasonReference"] == [{"reference": f"urn:uuid:{primary['id']}"}]
        else:
            assert "reasonReference" not in proc
    assert not _errors(bundle)


HISTOLOGY = f"{MCODE}mcode-histology-morphology-behavior"


@pytest.mark.parametrize(("text", "code"), [
    ("A 58-year-old woman had invasive ductal carcinoma of the left breast.", "82711006"),
    ("A 70-year-old man had adenocarcinoma of the prostate.", "35917007"),
    ("A 58-year-old woman had breast cancer.", None),              # the name gives no histology: none written
])
def test_the_histology_a_cancers_name_gives_is_its_histology_morphology_behavior(text, code):
    bundle = fhirconv.convert_text(text, name="h.txt", profile="mcode")
    primary = next(r for r in _resources(bundle, "Condition")
                   if _claims(r) == [f"{MCODE}mcode-primary-cancer-condition"])
    got = [e["valueCodeableConcept"]["coding"][0]["code"] for e in primary["extension"] if e["url"] == HISTOLOGY]
    assert got == ([code] if code else [])
    assert not _errors(bundle)
    plain = fhirconv.convert_text(text, name="h.txt")
    assert not any(e["url"] == HISTOLOGY for r in _resources(plain, "Condition") for e in r.get("extension", []))


COLON = ("A 61-year-old man presented with rectal bleeding. Biopsy confirmed adenocarcinoma of the sigmoid colon. "
         "He underwent sigmoid colectomy. Pathology showed a pT3N1M0 tumour (AJCC 8th edition), stage IIIB.")


def test_mcode_writes_tnm_categories_and_their_stage_group_as_tnm_stage_group():
    bundle = fhirconv.convert_text(COLON, name="t.txt", profile="mcode")
    obs = _resources(bundle, "Observation")
    cats = {c: next(r for r in obs if _claims(r) == [f"{MCODE}mcode-tnm-{c}-category"])
            for c in ("primary-tumor", "regional-nodes", "distant-metastases")}
    assert {c: (r["code"]["coding"][0]["code"], r["valueCodeableConcept"]) for c, r in cats.items()} == {
        "primary-tumor": ("21899-0", {"text": "pT3"}),            # pathological T, N; M0 is clinical
        "regional-nodes": ("21900-6", {"text": "N1"}),
        "distant-metastases": ("21907-1", {"text": "M0"})}
    assert all(r["method"] == {"text": "AJCC 8th edition"} for r in cats.values())
    group = next(r for r in obs if _claims(r) == [f"{MCODE}mcode-tnm-stage-group"])
    assert group["code"]["coding"][0]["code"] == "21902-2"      # pathological, as its T category
    assert group["valueCodeableConcept"] == {"text": "stage IIIB"}
    assert group["hasMember"] == [{"reference": f"urn:uuid:{r['id']}"} for r in cats.values()]
    primary = next(r for r in _resources(bundle, "Condition")
                   if _claims(r) == [f"{MCODE}mcode-primary-cancer-condition"])
    assert group["focus"] == [{"reference": f"urn:uuid:{primary['id']}"}]
    assert not _errors(bundle)
    assert not [i for i in fhirconv.validate(bundle, profiles=("mcode",)) if i.severity in (Severity.ERROR,
                                                                                             Severity.FATAL)]
    for profile in ("none", "us-core"):                          # staging is written for mcode only
        other = fhirconv.convert_text(COLON, name="t.txt", profile=profile)
        assert not any(r["code"].get("coding", [{}])[0].get("code", "").startswith("219")
                       for r in _resources(other, "Observation"))


def test_tnm_without_a_cancer_is_not_written():
    text = "A 61-year-old man had a T2N0 lesion of the colon on CT. He had a cough."
    bundle = fhirconv.convert_text(text, name="t.txt", profile="mcode")
    assert not any("tnm" in c for r in _resources(bundle, "Observation") for c in _claims(r))


def test_a_tnm_stage_group_without_its_method_fails_the_profile():
    bundle = fhirconv.convert_text(COLON, name="t.txt", profile="mcode")
    group = next(r for r in _resources(bundle, "Observation") if _claims(r) == [f"{MCODE}mcode-tnm-stage-group"])
    del group["method"]
    issues = fhirconv.validate(bundle, profiles=("mcode",))
    assert any(i.severity == Severity.ERROR and "method" in i.message for i in issues)
