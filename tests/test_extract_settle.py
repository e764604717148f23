"""Patient-level rules that settle what the whole text says, on texts written for these tests."""

from __future__ import annotations

import pytest

from fhirconv import extract_text
from fhirconv.model import Assertion

INTRO = "A 30-year-old woman presented with fever. "


def conditions(text: str) -> dict[str, Assertion]:
    ex = extract_text(INTRO + text)
    return {f.concept: f.assertion for f in ex.patients[0].facts if f.kind == "condition"}


@pytest.mark.parametrize("text,first,final", [
    ("She was initially diagnosed with dengue fever. Serology later showed leptospirosis, and the "
     "diagnosis was revised to leptospirosis.", "disorder.dengue", "disorder.leptospirosis"),
    ("He was first treated for pneumonia. The final diagnosis was pulmonary embolism.",
     "disorder.pneumonia", "disorder.pe"),
    ("She had originally been diagnosed as having tuberculosis; it turned out to be sarcoidosis.",
     "disorder.tuberculosis", "disorder.sarcoidosis"),
])
def test_a_revised_first_diagnosis_is_ruled_out(text, first, final):
    got = conditions(text)
    assert got.get(first) == Assertion.REFUTED
    assert got.get(final) == Assertion.PRESENT


def test_a_first_diagnosis_never_revised_stands():
    got = conditions("She was initially diagnosed with breast cancer in 2010. She now has back pain.")
    assert got.get("disorder.breast_cancer") == Assertion.PRESENT


def test_a_suspected_diagnosis_the_biopsy_replaced_is_not_confirmed():
    got = conditions("Lymphoma was suspected on imaging; the biopsy showed tuberculosis.")
    assert got.get("disorder.lymphoma") not in (Assertion.PRESENT, Assertion.HISTORICAL)
    assert got.get("disorder.tuberculosis") == Assertion.PRESENT


def test_a_first_impression_is_not_a_diagnosis():
    got = conditions("CT showed liver lesions. The first impression was of liver metastases. "
                     "Biopsy showed a liver abscess.")
    assert got.get("disorder.secondary_liver") not in (Assertion.PRESENT, Assertion.HISTORICAL)
    assert got.get("disorder.liver_abscess") == Assertion.PRESENT


@pytest.mark.parametrize("text", [
    "She was referred to the infectious disease outpatient department.",
    "She was seen in the tuberculosis clinic.",
    "A diabetes specialist reviewed her.",
])
def test_a_disease_naming_a_department_is_not_the_patients(text):
    got = conditions(text)
    assert not {k for k, v in got.items() if v == Assertion.PRESENT} - {"disorder.fever"}, got
