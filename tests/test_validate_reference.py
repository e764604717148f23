"""The shipped SNOMED CT / LOINC reference (data/terminology/) and the checks of foreign bundles against it."""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from fhirconv.model import Issue, Severity
from fhirconv.validate import _data, validate_resource
from fhirconv.validate._terminology import (
    LOINC,
    SNOMED,
    known_terms,
    loinc_check_digit,
    loinc_problem,
    normalise_term,
    sctid_problem,
    verhoeff_ok,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "fhirconv" / "validate" / "data" / "terminology"
SHARED = ROOT.parent / "shared" / "terminology"
PAT = "urn:uuid:7f1c4c2e-0000-4000-8000-000000000001"
DIV = '<div xmlns="http://www.w3.org/1999/xhtml">generated</div>'
CODE_LOC = "Bundle.entry[1].resource.code.coding[0]"


def _needs_shared() -> Path:
    if not (SHARED / "snomed_reference.tsv").is_file():
        pytest.skip("../shared/terminology/ is not beside the repository")
    return SHARED


def _bundle(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A valid collection: a Patient and one Condition (SNOMED CT) or Observation (LOINC) with the coding."""
    coding = {"system": system, "code": code, **({"display": display} if display is not None else {})}
    text = {"status": "generated", "div": DIV}
    if system == LOINC:
        res: dict[str, Any] = {"resourceType": "Observation", "text": text, "status": "final",
                               "code": {"coding": [coding]}, "subject": {"reference": PAT}}
    else:
        res = {"resourceType": "Condition", "text": text, "code": {"coding": [coding]}, "subject": {"reference": PAT}}
    patient = {"resourceType": "Patient", "text": text, "gender": "female"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": PAT, "resource": patient},
                      {"fullUrl": "urn:uuid:7f1c4c2e-0000-4000-8000-000000000002", "resource": res}]}


def _issues(system: str, code: str, display: str | None = None, *, foreign: bool = True) -> list[Issue]:
    return [i for i in validate_resource(_bundle(system, code, display), foreign=foreign) if i.layer == "terminology"]


def _sctid(item: int, partition: str = "00") -> str:
    """The SNOMED CT concept id of ``item`` in ``partition``, with its Verhoeff check digit."""
    stem = f"{item}{partition}"
    digits = [d for d in "0123456789" if verhoeff_ok(stem + d)]
    assert len(digits) == 1
    return stem + digits[0]


def _unknown_sctid() -> str:
    """A well-formed concept id that the shipped reference does not hold."""
    table = _data.terminology_reference("snomed")
    code = next(c for c in (_sctid(n) for n in range(424242, 424342)) if c not in table)
    assert sctid_problem(code) is None
    return code


# ------------------------------------------------------------------ the shipped data

def test_shipped_reference_holds_known_codes_and_terms() -> None:
    snomed, loinc = _data.terminology_reference("snomed"), _data.terminology_reference("loinc")
    assert len(snomed) > 25_000 and len(loinc) > 1_000
    for code in ("254837009", "91857003", "38341003", "73211009", "51185008", "7771000"):
        assert code in snomed, code
    for code in ("718-7", "30525-0", "8480-6", "2160-0"):
        assert code in loinc, code
    assert known_terms(SNOMED, "91857003")[0][:2] == ("Acute lymphoid leukemia",
                                                      "Acute lymphoid leukemia, disease (disorder)")
    assert "Hemoglobin [Mass/volume] in Blood" in known_terms(LOINC, "718-7")[0]
    assert known_terms(LOINC, "30525-0")[0] == ("Age",)


def test_shipped_codes_are_well_formed_and_terms_distinct() -> None:
    for name, problem in (("snomed", sctid_problem), ("loinc", loinc_problem)):
        for code, terms in _data.terminology_reference(name).items():
            assert problem(code) is None, (name, code)
            shown = terms.split("\t") if terms else []
            assert all(t and t == t.strip() for t in shown), (name, code)
            assert len({normalise_term(t) for t in shown}) == len(shown), (name, code)
    assert "115347700" not in _data.terminology_reference("snomed")   # in the lists, but fails the check digit


def test_shipped_files_carry_the_notices() -> None:
    notice = (SHIPPED / "NOTICE.md").read_text(encoding="utf-8")
    assert "© SNOMED International" in notice and "CC BY 4.0" in notice and "Global Patient Set" in notice
    assert "IPS free set" in notice
    assert ("This material contains content from LOINC (http://loinc.org). LOINC is copyright © Regenstrief\n"
            "Institute, Inc.") in notice
    assert "available at no cost under the license at http://loinc.org/license." in notice
    assert "DICOM" in notice and "PS3.16" in notice
    assert "snomed_secondary_evidence" not in notice
    for name in ("snomed.tsv.gz", "loinc.tsv.gz"):
        head = gzip.decompress((SHIPPED / name).read_bytes()).split(b"\n", 1)[0]
        assert head.startswith(b"# ") and b"NOTICE.md" in head


def test_secondary_evidence_is_not_shipped() -> None:
    # 414388001 is known only from a Disease Ontology cross-reference in the secondary evidence
    assert "414388001" not in _data.terminology_reference("snomed")
    folder = _needs_shared()

    def ids(name: str, column: str) -> set[str]:
        with open(folder / name, newline="", encoding="utf-8") as f:
            return {r[column] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}

    primary = ids("snomed_reference.tsv", "conceptId") | ids("confirmed_extra.tsv", "code")
    only_secondary = ids("snomed_secondary_evidence.tsv", "conceptId") - primary
    assert len(only_secondary) > 1000
    assert not only_secondary & set(_data.terminology_reference("snomed"))


def test_display_normalisation() -> None:
    assert normalise_term("Malignant neoplasm of breast (disorder)") == "malignant neoplasm of breast"
    assert normalise_term("  MALIGNANT neoplasm of breast ") == "malignant neoplasm of breast"
    assert normalise_term("Hemoglobin [Mass/volume] in Blood") == "hemoglobin mass volume in blood"
    assert normalise_term("Ménière's disease") == normalise_term("Meniere's disease") == "meniere s disease"
    assert normalise_term("Acute lymphoid leukemia") != normalise_term("Acute myeloid leukemia")


# ------------------------------------------------------------------ foreign bundles

@pytest.mark.parametrize(("system", "code", "display"), [
    (SNOMED, "91857003", None),
    (SNOMED, "91857003", "Acute lymphoid leukemia"),
    (SNOMED, "91857003", "ACUTE LYMPHOID LEUKEMIA, disease (disorder)"),
    (SNOMED, "254837009", "Malignant neoplasm of breast"),          # the FSN without its tag
    (SNOMED, "38341003", "Hypertension"),                          # a DICOM code meaning
    (SNOMED, "13445001", "Meniere's disease"),                     # accents ignored
    (SNOMED, "145501000119108", "anything"),   # known by id only (confirmed_extra): no display check
    (LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
    (LOINC, "718-7", "Hgb Bld-mCnc"),
    (LOINC, "30525-0", "age"),
])
def test_known_codes_and_known_displays_pass(system: str, code: str, display: str | None) -> None:
    assert _issues(system, code, display) == []


def test_well_formed_sctid_outside_the_reference_is_a_warning() -> None:
    code = _unknown_sctid()
    issues = _issues(SNOMED, code, "Some finding")
    assert [(i.severity, i.location) for i in issues] == [(Severity.WARNING, CODE_LOC + ".code")]
    assert "not in the shipped reference (GPS/IPS free set): may be valid in the full edition" in issues[0].message
    assert code in issues[0].message
    # an extension id (partition 10) is also only a warning
    ext = _sctid(4242421000119, "10")
    assert ext not in _data.terminology_reference("snomed")
    assert [i.severity for i in _issues(SNOMED, ext)] == [Severity.WARNING]


def test_valid_loinc_outside_the_reference_is_a_warning() -> None:
    table = _data.terminology_reference("loinc")
    code = next(c for c in (f"{n}-{loinc_check_digit(str(n))}" for n in range(99000, 99100)) if c not in table)
    assert loinc_problem(code) is None
    issues = _issues(LOINC, code)
    assert [(i.severity, i.location) for i in issues] == [(Severity.WARNING, CODE_LOC + ".code")]
    assert "not in the shipped reference" in issues[0].message


@pytest.mark.parametrize(("system", "code", "display", "expected"), [
    (SNOMED, "91857003", "Acute myeloid leukemia", "'Acute lymphoid leukemia'"),
    (SNOMED, "51185008", "Thorax", "'Thoracic structure (body structure)'"),
    (LOINC, "718-7", "Hemoglobin", "'Hemoglobin [Mass/volume] in Blood'"),
])
def test_wrong_display_is_a_warning_naming_the_known_terms(system: str, code: str, display: str,
                                                           expected: str) -> None:
    issues = _issues(system, code, display)
    assert [(i.severity, i.location) for i in issues] == [(Severity.WARNING, CODE_LOC + ".display")]
    assert expected in issues[0].message and repr(display) in issues[0].message


def test_long_term_lists_are_cut_in_the_message() -> None:
    # 38341003 has five distinct terms: three are named, the rest counted
    issues = _issues(SNOMED, "38341003", "Hypotension")
    assert len(issues) == 1 and "(or 2 more)" in issues[0].message
    assert "'Hypertensive disorder'" in issues[0].message


@pytest.mark.parametrize(("system", "code"), [(SNOMED, "91857004"), (SNOMED, "129766003"), (LOINC, "718-8")])
def test_bad_check_digit_is_still_an_error(system: str, code: str) -> None:
    for foreign in (True, False):
        issues = _issues(system, code, "Acute lymphoid leukemia", foreign=foreign)
        assert [(i.severity, i.location) for i in issues] == [(Severity.ERROR, CODE_LOC + ".code")], foreign
        assert "check digit" in issues[0].message or "Verhoeff" in issues[0].message


def test_unparsable_ucum_unit_is_still_an_error() -> None:
    data = _bundle(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood")
    data["entry"][1]["resource"]["valueQuantity"] = {"value": 9, "unit": "gm/dL", "system": "http://unitsofmeasure.org",
                                                     "code": "gm/dL"}
    issues = [i for i in validate_resource(data, foreign=True) if i.layer == "terminology"]
    assert [(i.severity, i.location) for i in issues] == [
        (Severity.ERROR, "Bundle.entry[1].resource.valueQuantity.code")]


def test_fast_path_does_not_read_the_reference() -> None:
    _data.terminology_reference.cache_clear()
    known_terms.cache_clear()
    unknown = _sctid(424242)
    # fhirconv's own output without mappings: syntax only, no reference lookup, no display check
    assert _issues(SNOMED, unknown, "Acute myeloid leukemia", foreign=False) == []
    assert _issues(SNOMED, "91857003", "Acute myeloid leukemia", foreign=False) == []
    assert _data.terminology_reference.cache_info().currsize == 0
    # the foreign path reads each file once per process
    for _ in range(3):
        assert len(_issues(SNOMED, "91857003", "Acute myeloid leukemia")) == 1
        assert len(_issues(LOINC, "718-7", "Hemoglobin")) == 1
    info = _data.terminology_reference.cache_info()
    assert (info.misses, info.currsize) == (2, 2)
    assert unknown not in _data.terminology_reference("snomed")


# ------------------------------------------------------------------ provenance

def test_rebuilding_from_the_lists_gives_the_shipped_files(tmp_path: Path) -> None:
    folder = _needs_shared()
    spec = importlib.util.spec_from_file_location("build_terminology_reference",
                                                  ROOT / "scripts" / "build_terminology_reference.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--reference", str(folder), "--out", str(tmp_path)]) == 0
    shipped = sorted(p.name for p in SHIPPED.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped == ["NOTICE.md", "loinc.tsv.gz", "snomed.tsv.gz"]
    for name in shipped:
        ours, theirs = (SHIPPED / name).read_bytes(), (tmp_path / name).read_bytes()
        if name.endswith(".gz") and ours != theirs:
            same_text = gzip.decompress(ours) == gzip.decompress(theirs)
            pytest.fail(f"{name} differs from a rebuild (decompressed text {'equal' if same_text else 'differs'})")
        assert ours == theirs, name
