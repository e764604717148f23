"""The concept tables in mappings/: well-formed codes, confirmed codes, loadable, broad enough.

The check-digit part needs nothing outside the repository. The reference part uses
../shared/terminology/verify_codes.py (beside the repository) and is skipped when that
folder is absent.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPINGS = ROOT / "mappings"
REFERENCE = ROOT.parent / "shared" / "terminology"


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    assert spec and spec.loader
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


vm = _load_module("verify_mappings", ROOT / "scripts" / "verify_mappings.py")

# minimum number of coded rows per concept table (the tables are meant to stay broad)
MIN_CODED = {
    "disorders.tsv": 150, "findings.tsv": 80, "body_sites.tsv": 80, "qualifiers.tsv": 10,
    "labs.tsv": 80, "modalities.tsv": 8, "procedures.tsv": 60, "medications.tsv": 40, "units.tsv": 30,
}


def _rows() -> dict[str, list]:
    problems: list[str] = []
    out = {p.name: vm.read_rows(p, problems) for p in sorted(MAPPINGS.glob("*.tsv"))}
    assert not problems, problems
    return out


ROWS = _rows()
ALL_ROWS = [r for rows in ROWS.values() for r in rows]


# --- the check functions themselves (they must be able to fail) ----------------------------
@pytest.mark.parametrize("code", ["91857003", "254837009", "7771000", "24028007", "10828004",
                                  "1155991005", "145501000119108", "367336001"])
def test_sctid_check_accepts_valid_ids(code):
    assert vm.sctid_ok(code)


@pytest.mark.parametrize("code", [
    "129766003",      # 'hypoechoic mass of breast' as it circulates: wrong check digit
    "91857004",       # one digit changed
    "91857030",       # two digits swapped
    "254837019",      # description partition (01), not a concept
    "012345",         # leading zero
    "12345",          # too short
    "9185700X",       # not digits
    "",
])
def test_sctid_check_rejects_bad_ids(code):
    assert not vm.sctid_ok(code)


@pytest.mark.parametrize("code", ["718-7", "2857-1", "10334-1", "85337-4", "30525-0", "59260-0", "14682-9"])
def test_loinc_check_accepts_valid_codes(code):
    assert vm.loinc_ok(code)


@pytest.mark.parametrize("code", ["718-8", "2857-2", "10334-7", "7187", "718_7", "-7", "718-", "ABC-1"])
def test_loinc_check_rejects_bad_codes(code):
    assert not vm.loinc_ok(code)


@pytest.mark.parametrize("code,ok", [("10*3/uL", True), ("mm[Hg]", True), ("mL/min/{1.73_m2}", True),
                                     ("Cel", True), ("mg/dL", True), ("mm [Hg]", False), ("mm[Hg", False),
                                     ("", False), ("µmol/L", False)])
def test_ucum_syntax_check(code, ok):
    assert vm.ucum_ok(code) is ok


# --- every coded row is well formed ---------------------------------------------------------
def test_codes_have_valid_syntax_and_check_digits():
    bad = [f"{r.where} {r.key} {r.system} {r.code}" for r in ALL_ROWS
           if r.code and not vm.CODE_CHECKS[r.system](r.code)]
    assert not bad, bad


def test_rows_are_consistent():
    assert vm.check_rows(ALL_ROWS) == []


def test_known_wrong_codes_are_absent():
    codes = {r.code for r in ALL_ROWS if r.system == "sct"}
    assert "129766003" not in codes  # fails the check digit
    assert "241615005" not in codes  # MRI of breast, often mislabelled as MRI of brain
    by_code = {r.code: r for r in ALL_ROWS if r.system == "sct"}
    if "386910003" in by_code:
        assert by_code["386910003"].key.endswith("anastrozole")
    if "29827000" in by_code:  # bilateral salpingectomy WITH oophorectomy
        assert "oophorectomy" in by_code["29827000"].display.lower()


# --- the loader accepts the tables -----------------------------------------------------------
def test_tables_load_through_fhirconv():
    mappings = pytest.importorskip("fhirconv.mappings")
    m = mappings.load()
    for rows in ROWS.values():
        for r in rows:
            c = m.get(r.key)
            assert c is not None, f"{r.where}: {r.key} not loaded"
            assert c.code == r.code
    keys = set(m.concepts)
    # links between tables point at existing keys; a broader= row points at a coded row
    for r in ALL_ROWS:
        for attr in ("site", "secondary", "parent", "broader", "components"):
            for target in filter(None, r.attrs.get(attr, "").split(",")):
                assert target in keys, f"{r.where}: {attr}={target} is not a key"
                if attr == "broader":
                    assert m[target].coded and not r.code, f"{r.where}: broader={target}"


def test_package_checker_accepts_the_tables():
    mc = pytest.importorskip("fhirconv.mappings_check")
    mine = {r.file for r in ALL_ROWS} - {"resources.tsv"}
    # ``components`` (blood-pressure panel) is read by fhirconv.build even where the checker's list says
    # ``component``; it is allowed here until the two agree
    problems = [str(p) for p in mc.check() if p.file in mine and "unknown attribute 'components'" not in p.message]
    assert problems == []


def test_matcher_finds_typical_phrases():
    mappings = pytest.importorskip("fhirconv.mappings")
    m = mappings.load()
    text = ("A 37-year-old woman with left breast cancer, ER positive, HER2-negative, had headache, "
            "diplopia and a generalized tonic-clonic seizure; MRI and 18F-FDG PET-CT showed bone "
            "metastases. CA-125 was 132 U/mL. She received intrathecal methotrexate and docetaxel.")
    found = {k for mt in m.matcher("disorder", "finding", "lab", "modality", "procedure",
                                   "medication").find(text) for k in mt.keys}
    for key in ("disorder.breast_cancer", "lab.er", "lab.her2", "finding.headache", "finding.diplopia",
                "finding.tonic_clonic_seizure", "modality.mri", "modality.pet_ct", "disorder.secondary_bone",
                "lab.ca125", "medication.methotrexate", "medication.docetaxel"):
        assert key in found, (key, sorted(found))
    sites = {k for mt in m.matcher("body_site").find("metastasis to the left breast and both axillae")
             for k in mt.keys}
    assert {"body_site.breast_left", "body_site.axilla"} <= sites


# --- breadth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,minimum", sorted(MIN_CODED.items()))
def test_each_table_has_enough_coded_rows(name, minimum):
    rows = ROWS.get(name, [])
    coded = sum(1 for r in rows if r.code)
    assert coded >= minimum, f"{name}: {coded} coded rows, want >= {minimum}"


# --- terms ------------------------------------------------------------------------------------
def test_no_term_names_two_snomed_concepts_in_one_category():
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in ALL_ROWS:
        if r.system != "sct":
            continue
        for t in r.terms:
            seen[(r.category, vm.norm_term(t))].add(r.code)
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    assert not clashes, clashes


def test_term_collision_checker_reports_clashes_and_case_conflicts():
    a = vm.Row("x.tsv", 2, ["disorder.a", "sct", "91857003", "A", "acute leukaemia|ALL", "", "s"])
    b = vm.Row("x.tsv", 3, ["disorder.b", "sct", "91855006", "B", "acute leukaemia", "", "s"])
    c = vm.Row("x.tsv", 4, ["disorder.c", "", "", "C", "all", "", ""])
    problems, _ = vm.term_collisions([a, b, c])
    assert any("names different codes" in p for p in problems)
    assert any("capitals" in p for p in problems)
    clean, _ = vm.term_collisions([a])
    assert clean == []


def test_no_case_conflicts_or_clashes_in_tables():
    problems, _ = vm.term_collisions(ALL_ROWS)
    assert problems == []


def test_ambiguous_lowercase_words_are_not_terms():
    banned = {"all", "us", "pr", "er", "ca", "mr", "ct", "pe", "mi", "hd", "pd", "ns", "back", "sinus",
              "fit", "injury", "contrast", "echo"}
    bad = [f"{r.where} {r.key}: {t!r}" for r in ALL_ROWS if r.category != "unit"
           for t in r.terms if t in banned]
    assert not bad, bad


# --- reference lists (skipped without ../shared/terminology) ---------------------------------
@pytest.fixture(scope="module")
def reference():
    if not (REFERENCE / "verify_codes.py").is_file():
        pytest.skip("../shared/terminology/ not available")
    return vm.load_reference(REFERENCE)


def test_every_coded_row_is_confirmed(reference):
    problems, checked = vm.reference_check(ALL_ROWS, reference)
    assert checked > 500
    assert problems == [], "\n".join(problems)


def test_reference_check_can_fail(reference):
    fake = [vm.Row("x.tsv", 2, ["disorder.x", "sct", "91857003", "Breast cancer", "", "", "s"]),
            vm.Row("x.tsv", 3, ["disorder.y", "sct", "129766003", "Hypoechoic mass of breast", "", "", "s"]),
            vm.Row("x.tsv", 4, ["lab.z", "loinc", "718-7", "Platelets", "", "", "s"])]
    problems, checked = vm.reference_check(fake, reference)
    assert checked == 3 and len(problems) == 3


def test_verify_script_passes(reference):
    assert vm.main(["-q"]) == 0


# the semantic tags (FSN) a text-only row's concept would have, by table
_TAGS = {"disorders.tsv": ("disorder", "finding"), "findings.tsv": ("finding", "disorder"),
         "body_sites.tsv": ("body structure",), "procedures.tsv": ("procedure", "regime/therapy")}


def test_no_text_only_row_is_named_by_a_reference_concept_of_its_kind():
    """A row left text-only whose display or term is, word for word, the fully specified name of a
    reference concept of the table's kind ("renal mass" is 309088003 *Renal mass (finding)*) should
    carry that code: the reference confirms it."""
    import csv
    import re

    path = REFERENCE / "snomed_reference.tsv"
    if not path.is_file():
        pytest.skip("../shared/terminology/ not available")
    fsn: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) > 3 and row[2] == "FSN":
                fsn[re.sub(r"\s*\([^)]*\)$", "", row[1]).lower()].add(row[3])
    missed = []
    for name, rows in ROWS.items():
        for r in rows:
            if r.code or name not in _TAGS:
                continue
            for term in [r.display, *r.terms]:
                if fsn.get(term.lower(), set()) & set(_TAGS[name]):
                    missed.append(f"{name}:{r.line} {r.key}: {term!r}")
    assert not missed, missed
