"""The profile layer (validate/_profiles.py) on the IGs' own examples and on mutations of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import fhirconv
from conftest import ROOT, run_cli
from fhirconv.errors import ValidationError
from fhirconv.model import Severity

EXAMPLES = ROOT / "tests" / "data" / "ig-examples"
FILES = sorted(EXAMPLES.glob("*.json"))


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _errors(resource, **kw):
    return [i for i in fhirconv.validate(resource, **kw) if i.severity in (Severity.ERROR, Severity.FATAL)]


def _profile_errors(resource, **kw):
    return [i for i in _errors(resource, **kw) if i.layer == "profile"]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_ig_example_meets_the_profiles_it_claims(path: Path):
    data = json.loads(path.read_text(encoding="utf-8"))
    assert not _errors(data), [f"{i.location}: {i.message}" for i in _errors(data)][:5]


def test_the_examples_cover_every_shipped_profile():
    from fhirconv.validate import _profiles

    claimed = set()
    for path in FILES:
        data = json.loads(path.read_text(encoding="utf-8"))
        resources = [e["resource"] for e in data.get("entry", [])] if data["resourceType"] == "Bundle" else []
        for r in [data, *resources]:
            claimed |= {_profiles.resolve(p) for p in r.get("meta", {}).get("profile", [])}
    assert len(claimed - {None}) >= 100


def test_a_missing_required_element_is_caught():
    cond = _load("mcode-Condition-primary-cancer-condition-brian-l.json")
    del cond["code"]
    assert any(i.location == "Condition.code" and "required (min 1)" in i.message for i in _profile_errors(cond))


def test_a_wrong_pattern_or_a_missing_slice_member_is_caught():
    obs = _load("mcode-Observation-body-surface-area-brian-l.json")
    obs["category"][0]["coding"][0]["code"] = "laboratory"          # the VSCat slice needs vital-signs
    assert any("slice VSCat" in i.message for i in _profile_errors(obs))


def test_a_choice_type_the_profile_does_not_allow_is_caught():
    obs = _load("mcode-Observation-ecog-performance-status-jenny-m.json")
    for key in [k for k in obs if k.startswith("value")]:
        del obs[key]
    obs["valueString"] = "fully active"
    assert any(i.location == "Observation.valueString" and "not String" in i.message for i in _profile_errors(obs))


def test_a_wrong_fixed_value_is_caught():
    flag = _load("ips-Flag-546482.json")
    flag["status"] = "inactive"                                     # FlagAlertUvIps fixes status: active
    assert any(i.location == "Flag.status" and "must be 'active'" in i.message for i in _profile_errors(flag))


def test_a_broken_profile_constraint_is_caught():
    from fhirconv.validate import _profiles

    with_constraints = [(u, p) for u, p in _profiles.profiles().items() if p["constraints"]]
    assert with_constraints                                          # the profiles do add constraints
    patient = _load("ips-Patient-eumfh-39-07.json")
    patient["name"] = [{"use": "official"}]                          # ips-pat-1: a name needs a part
    assert any("ips-pat-1" in i.message for i in _profile_errors(patient))


def test_a_requested_profile_applies_to_resources_of_its_type_without_a_claim():
    cond = _load("mcode-Condition-primary-cancer-condition-brian-l.json")
    cond.pop("meta", None)
    plain = copy.deepcopy(cond)
    del plain["code"]
    assert not _profile_errors(plain)                                # no claim: base R4 only
    assert _profile_errors(plain, profiles=("mcode-primary-cancer-condition",))
    with pytest.raises(ValidationError, match="no shipped profile"):
        fhirconv.validate(cond, profiles=("us-core-nothing",))


def test_an_unshipped_claim_is_information_and_validate_profile_on_the_command_line(tmp_path):
    patient = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/StructureDefinition/p"]}}
    infos = [i for i in fhirconv.validate(patient) if i.layer == "profile"]
    assert [i.severity for i in infos] == [Severity.INFORMATION] and "not validated" in infos[0].message
    cond = _load("mcode-Condition-primary-cancer-condition-brian-l.json")
    cond.pop("meta", None)
    del cond["code"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cond), encoding="utf-8")
    assert run_cli("validate", str(path)).returncode == 0
    r = run_cli("validate", str(path), "--profile", "PrimaryCancerCondition")
    assert r.returncode == 1 and "PrimaryCancerCondition: Condition.code is required" in r.stdout
    bad = run_cli("validate", str(path), "--profile", "nope")
    assert bad.returncode == 2 and "no shipped profile 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_the_elements_of_a_slice_are_checked_on_the_items_it_matched():
    obs = _load("mcode-Observation-genomic-region-studied-stk11.json")
    gene = next(c for c in obs["component"] if "valueCodeableConcept" in c)      # the gene-studied slice
    gene["valueString"] = "STK11"
    del gene["valueCodeableConcept"]
    found = _profile_errors(obs)
    assert any(i.location.endswith(".valueString") and "may be CodeableConcept, not String" in i.message
               for i in found)


# ---------------------------------------------------------------- US Core 6.1.0 (built from its differentials)

def test_a_slice_discriminated_by_a_required_binding_is_checked():
    """US Core's Condition.category:us-core has no pattern, only a required binding: an encounter
    diagnosis does not fill it, a problem-list item does."""
    cond = _load("uscore-condition-duodenal-ulcer.json")
    assert not _profile_errors(cond)
    cond["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                     "code": "encounter-diagnosis"}]}]
    assert any("slice us-core of Condition.category is required" in i.message for i in _profile_errors(cond))


def test_a_code_outside_a_required_binding_of_the_profile_is_caught():
    obs = _load("uscore-some-day-smoker.json")
    assert not _profile_errors(obs)
    obs["category"][0]["coding"][0]["code"] = "no-such-category"
    assert _profile_errors(obs)


def test_a_reference_to_a_type_the_profile_does_not_allow_is_caught():
    cond = _load("uscore-condition-duodenal-ulcer.json")
    cond["subject"] = {"reference": "Group/1"}           # base R4 allows a Group; US Core only a Patient
    assert any("must refer to Patient, not Group" in i.message for i in _profile_errors(cond))


def test_a_claim_of_another_version_is_named_not_validated():
    cond = _load("uscore-condition-duodenal-ulcer.json")
    cond["meta"]["profile"] = [cond["meta"]["profile"][0].split("|")[0] + "|9.0.0"]
    del cond["code"]
    issues = fhirconv.validate(cond)
    assert any("not validated (fhirconv ships version 6.1.0" in i.message for i in issues)
    assert not [i for i in issues if i.layer == "profile" and i.severity == Severity.ERROR]


def test_a_constraint_that_evaluates_to_empty_fails():
    """``telecom or endpoint`` with neither is empty, not true: the constraint is broken."""
    role = {"resourceType": "PractitionerRole", "id": "r",
            "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitionerrole"]},
            "practitioner": {"reference": "Practitioner/1"}}
    keys = {i.message.split(": ")[1] for i in _profile_errors(role)}
    assert "pd-1" in keys
    role["telecom"] = [{"system": "phone", "value": "555-0100"}]
    assert "pd-1" not in {i.message.split(": ")[1] for i in _profile_errors(role)}


# ---------------------------------------------------------------- type and profile discriminators

def _bundle_errors(bundle):
    return [i for i in _profile_errors(bundle) if i.message.startswith("MCODEPatientBundle")]


def test_a_slice_discriminated_by_type_is_counted():
    """MCODEPatientBundle slices Bundle.entry by resource type: its one cancerPatient slice needs a
    Patient entry."""
    bundle = _load("mcode-Bundle-mcode-patient-bundle-jenny-m.json")
    assert not _bundle_errors(bundle)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    assert any("slice cancerPatient of Bundle.entry is required" in i.message for i in _bundle_errors(bundle))


def test_an_entry_must_meet_the_profile_its_slice_gives_its_resource():
    """The cancerPatient entry's resource must meet CancerPatient: it is checked, not taken at its claim."""
    bundle = _load("mcode-Bundle-mcode-patient-bundle-jenny-m.json")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    del patient["gender"]
    assert any("must meet mcode-cancer-patient" in i.message for i in _bundle_errors(bundle))


def test_no_published_example_leaves_a_type_discriminator_unchecked():
    for path in FILES:
        for i in fhirconv.validate(json.loads(path.read_text(encoding="utf-8"))):
            assert "discriminated by type resource)" not in i.message, (path.name, i.message)
            assert "constraint cnt-3 inside a slice" not in i.message, path.name


def test_a_slice_told_apart_by_its_referenced_resources_profile():
    """A reference slice discriminated by ``resolve()``: the target, found in the bundle, is checked
    against the slice's target profile; a target outside the input leaves the slicing unjudged."""
    from fhirconv.validate import _profiles
    from fhirconv.validate._walk import Context

    bundle = _load("mcode-Bundle-mcode-patient-bundle-jenny-m.json")
    shared = _profiles._Shared(Context(bundle))
    cond = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    assert shared.resolve({"reference": cond["fullUrl"]}) is cond["resource"]
    assert shared.resolve({"reference": "Condition/not-in-the-bundle"}) is None
    url = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-primary-cancer-condition"
    assert shared.conforms(cond["resource"], [url]) is True
    del cond["resource"]["code"]
    shared = _profiles._Shared(Context(bundle))
    assert shared.conforms(cond["resource"], [url]) is False
