"""Every single-rule mutant of the published IG examples is caught (the README's detection table)."""

from __future__ import annotations

import copy
import sys

from conftest import ROOT
from mutating import KINDS, mutants

sys.path.insert(0, str(ROOT / "scripts"))
from profile_mutations import table  # noqa: E402


def test_every_mutant_of_every_kind_is_caught():
    made, caught, by_profile, missed = table()
    assert not missed, missed[:10]
    for kind in KINDS:
        assert made[kind] >= 5, (kind, made[kind])         # each kind is really exercised
        assert caught[kind] == made[kind] == by_profile[kind], kind
    assert sum(made.values()) > 500


def test_a_mutant_breaks_the_rule_it_names_and_leaves_the_original_alone():
    patient = {"resourceType": "Patient", "id": "p",
               "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
               "identifier": [{"system": "urn:x", "value": "1"}], "name": [{"family": "Doe"}], "gender": "female"}
    before = copy.deepcopy(patient)
    made = {(m.kind, m.rule): m.resource for m in mutants(patient)}
    assert patient == before
    removed = made[(KINDS[0], "Patient.identifier.system")]
    assert "system" not in removed["identifier"][0] and removed["name"] == patient["name"]
    assert made[(KINDS[0], "Patient.gender")].get("gender") is None
    assert (KINDS[3], "Patient.gender") not in made     # a base binding: the binding layer's, not a profile rule
