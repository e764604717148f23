"""Patients and document kinds from the layouts real texts use (teaching-case headers, structured
abstracts, bibliographic records, case series by heading or ordinal), on texts written for these tests."""

from __future__ import annotations

import pytest

from fhirconv import extract_text
from fhirconv.model import DocumentKind
from fhirconv.read import read_bytes


def demographics(ex, i=0):
    facts = ex.patients[i].facts
    sex = next((f.text for f in facts if f.kind == "sex"), None)
    age = next((f.attr("value") for f in facts if f.kind == "age"), None)
    return sex, age


def concepts(ex, kind, i=0):
    return {f.concept for f in ex.patients[i].facts if f.kind == kind}


@pytest.mark.parametrize("header", ["Patient\n\n63 years, male\n", "Patient: 63 years, male\n",
                                    "Patient\n63 y, M\n"])
def test_teaching_case_header_block(header):
    text = ("Cavitating pneumonia\n\nSection\n\nChest imaging\n\n" + header +
            "\nClinical History\nProductive cough and weight loss for two months.\n"
            "Imaging Findings\nChest CT shows a cavitating consolidation of the right upper lobe.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.SINGLE_CASE and len(ex.patients) == 1
    assert demographics(ex) == ("male", 63)


@pytest.mark.parametrize(("text", "expected"), [
    ("Patient: 57 years, female\nClinical History\nProgressive dyspnoea.\nImaging Findings\nA large "
     "pleural effusion.", ("female", 57)),                 # the header block opens the text
    ("Fever in an infant\nPatient: 8 months, male\nClinical History\nFever and a rash.", ("male", 8)),
])
def test_a_header_block_gives_the_age_and_sex(text, expected):
    ex = extract_text(text)
    assert ex.kind == DocumentKind.SINGLE_CASE and demographics(ex) == expected


def test_introduction_without_a_determiner():
    ex = extract_text("Clinical History\n44-year-old woman with asthma presented with wheeze.")
    assert demographics(ex) == ("female", 44)
    assert "disorder.asthma" in concepts(ex, "condition")


def test_literature_review_title_with_a_case_inside():
    text = ("Case report and review of the literature: sarcoidosis of the parotid gland\n\n"
            "Introduction: Sarcoidosis is a granulomatous disease of unknown cause. It affects the lungs "
            "in most patients.\n\nPresentation of case: We present a 38-year-old man who presented with "
            "bilateral parotid swelling. Biopsy confirmed sarcoidosis.\n\n"
            "Discussion: Parotid involvement is seen in 6% of patients.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.SINGLE_CASE
    assert demographics(ex) == ("male", 38)


def test_unknown_label_after_background_part_is_read():
    text = ("Uveitis as the first sign of syphilis\n\nPurpose: To describe uveitis as the first sign of "
            "syphilis in two patients.\n\nFindings: The first case is a 29-year-old man who presented with "
            "blurred vision. The second case is a 51-year-old woman who presented with eye pain.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.CASE_SERIES and len(ex.patients) == 2
    assert [demographics(ex, i) for i in (0, 1)] == [("male", 29), ("female", 51)]


@pytest.mark.parametrize("labels", [("Case 1", "Case 2"), ("Case A", "Case B"), ("Patient I", "Patient II")])
def test_case_series_by_heading_lines(labels):
    text = (f"Two cases of gout\n\n{labels[0]}\nA 70-year-old man had a painful swollen knee.\n\n"
            f"{labels[1]}\nA 55-year-old woman had fever.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.CASE_SERIES and len(ex.patients) == 2
    assert "finding.fever" in concepts(ex, "finding", 1)
    assert "finding.fever" not in concepts(ex, "finding", 0)


def test_one_patient_never_given_age_or_sex():
    text = ("The patient presented with fever and a productive cough. Chest radiograph showed "
            "consolidation, and pneumonia was diagnosed. The patient recovered with antibiotics.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.SINGLE_CASE and len(ex.patients) == 1
    assert demographics(ex) == (None, None)


def test_patients_in_general_are_a_review_not_a_patient():
    text = ("Management of gout\n\nGout is common. Patients with gout usually have hyperuricaemia. "
            "Colchicine is effective in most patients.")
    ex = extract_text(text)
    assert ex.kind in (DocumentKind.REVIEW, DocumentKind.COHORT) and ex.patients == ()


ABSTRACT = ("Background: Gout is a common inflammatory arthritis in adults. Case presentation: A 47-year-old "
            "man presented with a red, swollen big toe. Serum urate was high. Conclusions: Gout should be "
            "considered in acute monoarthritis.")


@pytest.mark.parametrize("name,record", [
    ("case.ris", "TY  - JOUR\nTI  - Gout of the toe: a case report\nAU  - Roe, Ann\nPY  - 2021\n"
                 f"AB  - {ABSTRACT}\nER  - \n"),
    ("case.enw", f"%0 Journal Article\n%T Gout of the toe: a case report\n%A Roe, Ann\n%D 2021\n%X {ABSTRACT}\n"),
    ("case.nbib", "PMID- 1\nTI  - Gout of the toe: a case report.\n"
                  f"AB  - {ABSTRACT.upper()[:12]}{ABSTRACT[12:]}\nFAU - Roe, Ann\nDP  - 2021\n"),
])
def test_records_with_a_structured_abstract_reach_the_patient(name, record):
    ex = extract_text(read_bytes(record.encode(), name).text)
    plain = extract_text(ABSTRACT)
    assert ex.kind == plain.kind == DocumentKind.SINGLE_CASE
    assert demographics(ex) == demographics(plain) == ("male", 47)


@pytest.mark.parametrize("cited", [
    "A similar case of pulmonary embolism was reported in a 40-year-old man after a long flight.",
    "Pulmonary embolism has been described in patients taking this drug.",
    "Previous reports describe pulmonary embolism after knee surgery.",
])
def test_cited_patients_give_no_facts(cited):
    text = f"A 35-year-old woman presented with chest pain. CT showed a lung nodule. {cited}"
    ex = extract_text(text)
    assert "disorder.pe" not in concepts(ex, "condition"), ex.patients[0].facts
    assert demographics(ex) == ("female", 35)
    # the same disease said of her is hers
    own = extract_text("A 35-year-old woman presented with chest pain. CT showed pulmonary embolism.")
    assert "disorder.pe" in concepts(own, "condition")


@pytest.mark.parametrize("text", [
    "Two cases of gout.\n\nPatient 1 was a 70-year-old man with a swollen knee.\n\nPatient 2 was a 55-year-old "
    "woman with fever.",
    "Two cases of gout. Case A: A 70-year-old man had a swollen knee. Case B: A 55-year-old woman had fever.",
    "Two cases of gout. The first patient, a 70-year-old man, had a swollen knee. The second patient, a "
    "55-year-old woman, had fever.",
    # an ordinal with the age in apposition, the noun left out
    "Two cases of gout. The first, a 70-year-old man, had a swollen knee. The second, a 55-year-old woman, "
    "had fever.",
])
def test_case_series_introduced_in_running_text(text):
    ex = extract_text(text)
    assert ex.kind == DocumentKind.CASE_SERIES
    assert [demographics(ex, i) for i in (0, 1)] == [("male", 70), ("female", 55)]


def test_in_case_is_not_a_case_marker():
    ex = extract_text("A 70-year-old man was admitted. In case a fever develops, antibiotics will be given.")
    assert ex.kind == DocumentKind.SINGLE_CASE and len(ex.patients) == 1


@pytest.mark.parametrize("text,expected", [
    ("A 45 y.o. man presented with chest pain.", ("male", 45)),
    ("A man aged 70 presented with fever.", ("male", 70)),
    ("The patient, 63 years of age, presented with fever.", (None, 63)),
    ("At the age of 12 she developed seizures.", ("female", 12)),
])
def test_introductions_in_other_forms(text, expected):
    ex = extract_text(text)
    assert ex.kind == DocumentKind.SINGLE_CASE and demographics(ex) == expected


def _sections(text):
    from fhirconv import load_mappings
    from fhirconv.extract._rules import Rules
    from fhirconv.extract._text import split_sections
    rules = Rules.compile(load_mappings())
    return [(s.kind, s.heading) for s in split_sections(text, rules.sections)]


# a web page or a PDF flattened to one line: the headings run into the text with no colon
_FLAT = ("Gastric volvulus in an adult: a case report Journal List Search Abstract Introduction Case "
         "presentation Discussion References Abstract We describe a rare cause of vomiting. Keywords "
         "Volvulus; Stomach; Hernia Introduction Gastric volvulus is rare and sarcoidosis may mimic it. "
         "Case presentation A 61-year-old woman presented with vomiting and epigastric pain. CT showed a "
         "hiatal hernia. Discussion Tuberculosis and sarcoidosis can cause such masses [3]. Conclusions "
         "Our patient recovered. References 1. Smith J. Pneumonia after volvulus. Lancet. 2001.")


def test_headings_run_into_a_flattened_page_open_sections():
    kinds = _sections(_FLAT)
    assert ("skip", "Keywords") in kinds            # a list, ended by the next heading without a stop
    assert ("general", "Introduction") in kinds and ("case", "Case presentation") in kinds
    assert ("discussion", "Discussion") in kinds and ("skip", "References") in kinds
    found = concepts(extract_text(_FLAT), "condition")
    assert "disorder.sct_84089009" in found          # hiatal hernia
    assert not found & {"disorder.sarcoidosis", "disorder.tuberculosis", "disorder.pneumonia"}


def test_an_abstract_heading_and_its_first_label_in_a_row_are_both_headings():
    text = ("Open Peer Review reports Abstract Introduction Sarcoidosis is a disease of young adults. Case "
            "presentation A 30-year-old man had a cough.")
    assert ("general", "Introduction") in _sections(text)
    assert "disorder.sarcoidosis" not in concepts(extract_text(text), "condition")


@pytest.mark.parametrize("text", [
    "The discussion with the family was long. Treatment was started.",
    "She had a history of asthma. Background radiation was normal.",
    "We reviewed the case. References to earlier work are given.",
])
def test_words_that_open_sentences_are_not_run_in_headings(text):
    assert {k for k, _ in _sections(text)} <= {"body", "title"}


def test_case_headings_with_numbers_open_case_sections_in_a_flattened_series():
    text = ("Introduction Opioids slow the gut. Case #1 - A 40 year old woman had constipation. "
            "CASE #2 A 35 year old man had abdominal pain. Discussion Opioids are common.")
    kinds = _sections(text)
    assert [k for k, _ in kinds] == ["general", "case", "case", "discussion"]
    ex = extract_text(text)
    assert ex.kind == DocumentKind.CASE_SERIES and len(ex.patients) == 2


def test_case_headings_alone_give_one_patient_each():
    text = ("Constipation on opioids\n\nIntroduction\nOpioids slow the gut.\n\nCase #1\nNarcotic bowel after "
            "surgery. She had constipation for a year.\n\nCASE #2\nNarcotic bowel in colitis. He had abdominal "
            "pain.\n\nDiscussion\nOpioids are common.")
    ex = extract_text(text)
    assert ex.kind == DocumentKind.CASE_SERIES and len(ex.patients) == 2
    assert "finding.constipation" in concepts(ex, "finding", 0)
    assert "finding.constipation" not in concepts(ex, "finding", 1)


@pytest.mark.parametrize(("text", "expected"), [
    ("A male preterm infant was born to a 34-year-old woman at 30 weeks. He had respiratory distress.",
     ("male", None)),
    ("A term girl was born to a 29-year-old primigravida mother. She developed jaundice.", ("female", None)),
    ("A 7-year-old boy was brought by his mother, a 41-year-old woman, with a limp.", ("male", 7)),
])
def test_the_mothers_age_and_sex_are_not_the_patients(text, expected):
    assert demographics(extract_text(text)) == expected


@pytest.mark.parametrize(("text", "patients"), [
    ("A man with long-standing diabetes presented with a foot ulcer and fever.", 1),
    ("A woman presents with a painful red eye.", 1),
    ("A patient with diabetes may present with a foot ulcer. Ulcers are common.", 0),
    ("A patient with gout typically presents with a painful toe. Gout is common.", 0),
])
def test_one_person_introduced_without_an_age(text, patients):
    assert len(extract_text(text).patients) == patients
