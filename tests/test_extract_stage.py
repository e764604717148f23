"""Cancer staging (extract/_staging.py, mappings/staging.yaml): stage groups read only next to a cancer, TNM
expressions read with each category's kind."""

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


def _tnm(text):
    ex = fhirconv.extract_text(text, name="t.txt")
    return [tuple((f.attr(c), f.attr(f"{c}_kind")) for c in "tnm") + (f.attr("method"),)
            for p in ex.patients for f in p.facts if f.kind == "tnm"]


@pytest.mark.parametrize(("text", "want"), [
    ("A 64-year-old man had rectal adenocarcinoma staged T3 N1 M0.",
     [(("T3", "clinical"), ("N1", "clinical"), ("M0", "clinical"), None)]),
    # a category without its own prefix takes the first one's; M0 stays clinical (there is no pM0)
    ("The resected gastric carcinoma of the 58-year-old woman was pT4aN2M0.",
     [(("pT4a", "pathologic"), ("N2", "pathologic"), ("M0", "clinical"), None)]),
    ("After chemotherapy the 49-year-old woman's breast tumour was ypT1c pN0 cM0.",
     [(("ypT1c", "pathologic"), ("pN0", "pathologic"), ("cM0", "clinical"), None)]),
    ("A 70-year-old man had lung carcinoma, cT2b, cN3 (UICC 8th edition).",
     [(("cT2b", "clinical"), ("cN3", "clinical"), (None, None), "UICC 8th edition")]),
    ("A 62-year-old man had a pT2N1M1 renal cell carcinoma.",
     [(("pT2", "pathologic"), ("N1", "pathologic"), ("M1", "pathologic"), None)]),
])
def test_a_tnm_expression_gives_each_category_with_its_kind(text, want):
    assert _tnm(text) == want


@pytest.mark.parametrize("text", [
    "A 45-year-old man had a compression fracture of T2 and pain along N1.",      # a vertebra, a nerve
    "A T2-weighted MRI of the 30-year-old woman showed no lesion.",
    "The 50-year-old man's T4 level was low and his TSH high.",                    # thyroxine
    "No patient in the cited series had a T2N0 tumour; the 60-year-old woman had a cough.",
])
def test_what_only_looks_like_tnm_is_not_read(text):
    assert _tnm(text) == []


@pytest.mark.parametrize(("text", "want"), [
    # the TNM expression is nearer than any disorder: the stage is a cancer's
    ("A 61-year-old man had colectomy; the tumour was pT3N1M0, stage IIIB.", [("III", "B", None, None)]),
    # the kidney disease holds its stage: not a cancer's, TNM in the sentence or not
    ("A 52-year-old man had chronic kidney disease stage 3 and a T1N0 lesion.", []),
])
def test_a_tnm_expression_next_to_a_stage_makes_it_a_cancer_stage(text, want):
    assert _stages(text) == want
