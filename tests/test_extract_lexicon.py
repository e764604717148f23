"""The compiled SNOMED CT lexicon under the curated tables, on sentences written for these tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fhirconv import extract_text
from fhirconv.mappings import load
from fhirconv.model import Assertion

ROOT = Path(__file__).resolve().parents[1]
INTRO = "A 58-year-old man presented to the clinic. "


def facts(text: str, mappings=None):
    ex = extract_text(INTRO + text, mappings=mappings) if mappings else extract_text(INTRO + text)
    return [(f.kind, mappings[f.concept].code if mappings and f.concept else load()[f.concept].code
             if f.concept else "", f.assertion) for f in ex.patients[0].facts if f.kind in ("condition", "finding")]


@pytest.mark.parametrize("sentence,code,kind", [
    ("Examination showed enophthalmos of the right eye.", "80093006", "condition"),     # disorder (FSN)
    ("He walked with an unsteady gait.", "394616008", "finding"),                        # finding (FSN)
    ("He had alcoholic liver disease.", "41309000", "condition"),                        # a DICOM code meaning
    ("He has autism.", "408856003", "condition"),                                        # an HPO label
    ("He developed a deep vein thrombosis of the left leg.", "128053003", "condition"),  # venous/vein
    ("Tests showed an acquired haemolytic anaemia.", "4854004", "condition"),            # British spelling
])
def test_concepts_of_the_shipped_terminology_are_found(sentence, code, kind):
    got = facts(sentence)
    assert (kind, code, Assertion.PRESENT) in got, got


def test_a_curated_term_wins_over_the_lexicon():
    # "fever" is a curated finding: the lexicon's forms of the same concept join that row
    maps = load()
    ex = extract_text(INTRO + "He had a fever.")
    (fever,) = [f for f in ex.patients[0].facts if f.kind == "finding"]
    assert fever.concept == "finding.fever" and not maps[fever.concept].attr("lexicon")


def test_coordinated_and_metastatic_forms_are_left_to_the_relations():
    got = facts("He had nausea and vomiting. Biopsy showed metastatic squamous cell carcinoma.")
    codes = {c for _, c, _ in got}
    assert "16932000" not in codes                   # "nausea and vomiting": two findings, not one concept
    assert {"422587007", "422400008"} <= codes       # nausea, vomiting


def test_negation_applies_to_lexicon_concepts():
    got = facts("He had no diplopia, enophthalmos or ptosis.")
    assert ("condition", "80093006", Assertion.NEGATED) in got


def test_an_overlay_blocks_a_lexicon_form(tmp_path):
    (tmp_path / "lexicon.yaml").write_text("blocklist: [enophthalmos]\n", encoding="utf-8")
    maps = load(tmp_path)
    ex = extract_text(INTRO + "Examination showed enophthalmos.", mappings=maps)
    assert not any(f.concept and maps[f.concept].code == "80093006" for f in ex.patients[0].facts)


def test_every_concept_the_lexicon_adds_is_in_the_shipped_reference():
    ref = ROOT / "src" / "fhirconv" / "validate" / "data" / "terminology" / "snomed.tsv.gz"
    with gzip.open(ref, "rt", encoding="utf-8") as fh:
        known = {line.split("\t", 1)[0].strip() for line in fh if not line.startswith("#")}
    added = [c for c in load().concepts.values() if c.attr("lexicon")]
    assert len(added) > 5000
    assert {c.code for c in added} <= known


def treatments(text: str):
    ex = extract_text(INTRO + text)
    return [(f.kind, f.text) for f in ex.patients[0].facts if f.kind in ("procedure", "medication")]


@pytest.mark.parametrize("text,expected", [
    ("He underwent a pancreaticoduodenectomy.", [("procedure", "pancreaticoduodenectomy")]),     # lexicon procedure
    ("A CT of the chest was performed.", []),                               # an imaging procedure: a study instead
    ("A physical examination was unremarkable.", []),                       # an act of care, not a procedure
])
def test_procedures_of_the_lexicon(text, expected):
    assert treatments(text) == expected


def test_a_substance_is_a_medication_only_as_treatment():
    maps = load()
    treated = extract_text(INTRO + "He was treated with flecainide.")
    assert any(f.kind == "medication" for f in treated.patients[0].facts)
    merely = extract_text(INTRO + "Flecainide levels were not measured. Flecainide is an antiarrhythmic.")
    assert not any(f.kind == "medication" and maps[f.concept].attr("lexicon") for f in merely.patients[0].facts)
