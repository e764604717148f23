"""Cancer stage groups (extract/_facts.py ``_stage``, mappings/staging.yaml): read only next to a cancer."""

from __future__ import annotations

import pytest

import fhirconv


def _stages(text):
    ex = fhirconv.extract_text(text, name="s.txt")
    return [(f.attr("group"), f.attr("sub"), f.attr("kind"), f.attr("system"))
            for p in ex.patients for f in p.facts if f.kind == "stage"]


@pytest.mark.parametrize(("text", "want"), [
    ("A 60-year-old man had stage IV adenocarcinoma of the lung.", [("IV", "", None, None)]),
    ("A 45-year-old woman with FIGO stage IIIC serous carcinoma of the ovary.", [("III", "C", None, "FIGO")]),
    ("A 50-year-old woman had breast carcinoma, pathological stage IIA.", [("II", "A", "pathological", None)]),
    ("A 70-year-old man with colon cancer, stage 2.", [("2", "", None, None)]),
])
def test_a_stage_next_to_a_cancer_is_read(text, want):
    assert _stages(text) == want


@pytest.mark.parametrize("text", [
    "A 66-year-old man with chronic kidney disease stage 3 was admitted.",       # not a cancer's stage
    "A 50-year-old woman had stage 2 hypertension and a cough.",
    "At this stage, the 40-year-old woman with breast carcinoma declined surgery.",  # 'at this stage'
    "A 58-year-old man with lung carcinoma; stage IV disease was suspected but not confirmed.",
])
def test_a_stage_that_is_not_the_patients_cancer_stage_is_not_read(text):
    assert _stages(text) == []


def test_one_fact_per_stage_group():
    text = ("A 61-year-old woman had stage IV breast carcinoma. Stage IV breast carcinoma was treated with "
            "chemotherapy.")
    assert _stages(text) == [("IV", "", None, None)]
