"""Offline code checks: SNOMED CT ids, LOINC check digits, DICOM modalities, UCUM syntax."""

from __future__ import annotations

import pytest

from fhirconv.validate import _ucum
from fhirconv.validate._terminology import (
    dicom_problem,
    loinc_check_digit,
    loinc_problem,
    sctid_problem,
    verhoeff_ok,
)


@pytest.mark.parametrize("code", ["254837009", "387713003", "38341003", "73211009", "22298006",
                                  "404684003", "106004", "1149222004", "10200004"])
def test_valid_sctids(code: str) -> None:
    assert sctid_problem(code) is None


@pytest.mark.parametrize(("code", "why"), [
    ("129766003", "Verhoeff"),          # 129766004 is the valid one
    ("254837008", "Verhoeff"),
    ("12345", "6-18 digits"),
    ("1234567890123456789", "6-18 digits"),
    ("025483700", "leading zero"),
    ("254837019", "partition"),         # partition 01: a description id
    ("2548370a9", "digits only"),
    ("254837009 ", "digits only"),
])
def test_invalid_sctids(code: str, why: str) -> None:
    problem = sctid_problem(code)
    assert problem is not None and why in problem


def test_verhoeff_detects_every_single_digit_change() -> None:
    good = "254837009"
    assert verhoeff_ok(good)
    for i in range(len(good)):
        for d in "0123456789":
            if d != good[i]:
                assert not verhoeff_ok(good[:i] + d + good[i + 1:])


@pytest.mark.parametrize("code", ["718-7", "2160-0", "8480-6", "8462-4", "4548-4", "85354-9", "2345-7",
                                  "LA6576-8", "LP7753-9"])
def test_valid_loinc(code: str) -> None:
    assert loinc_problem(code) is None


@pytest.mark.parametrize("code", ["718-8", "2160-1", "85354-0", "718", "718-77", "abc-1", "7 18-7"])
def test_invalid_loinc(code: str) -> None:
    assert loinc_problem(code) is not None


def test_loinc_check_digit_algorithm() -> None:
    # the worked example of the LOINC users' guide: 12345 -> 5
    assert loinc_check_digit("12345") == 5
    assert loinc_check_digit("718") == 7


def test_dicom_modalities() -> None:
    for code in ("CT", "MR", "US", "PT", "DX", "MG", "NM", "XA"):
        assert dicom_problem(code, modality_element=True) is None, code
    assert dicom_problem("XR", modality_element=True) is not None
    assert dicom_problem("MRI", modality_element=False) is not None   # alphabetic DCM code: a modality
    assert dicom_problem("113014", modality_element=False) is None    # other DCM concepts are not checked
    assert dicom_problem("113014", modality_element=True) is not None


@pytest.mark.parametrize("unit", [
    "g", "L", "mol", "eq", "U", "[IU]", "%", "Cel", "mm[Hg]", "/min", "a", "mo", "wk", "d", "h", "min", "s",
    "m", "[pH]", "kat", "10*3", "10*6", "10*9", "10*12", "g/dL", "g/dl", "mg/dL", "mmol/L", "umol/L",
    "10*9/L", "10*3/uL", "fL", "pg", "ng/mL", "U/L", "[IU]/L", "meq/L", "mosm/kg", "kg/m2", "m2", "s-1",
    "mL/min/{1.73_m2}", "{cells}/uL", "{score}", "ug/(kg.h)", "/[HPF]", "cm[H2O]", "[in_i]", "[lb_av]",
    "10^3", "1", "/100", "%{HemoglobinSaturation}", "mm/h", "nmol/L", "[degF]", "kPa", "ms",
])
def test_valid_ucum(unit: str) -> None:
    assert _ucum.check(unit) is None


@pytest.mark.parametrize("unit", [
    "", "gm/dL", "mg/dLx", "g dL", "mg/", "(mg", "mg)", "2h", "m{a b}", "{abc", "[IU", "mmHg",
    "degC", "cc", "mcg", "hrs", "m^2", "/", "kg..m", "µg", "Kg",
])
def test_invalid_ucum(unit: str) -> None:
    assert _ucum.check(unit) is not None


def test_ucum_prefix_needs_a_metric_atom() -> None:
    assert _ucum.is_valid("kg") and _ucum.is_valid("mL")
    assert not _ucum.is_valid("k[in_i]")   # inches are not metric
    assert not _ucum.is_valid("kh")         # kilo-hour: hours are not metric
