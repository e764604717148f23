"""Assertion status from sentence context (ConText rules), on sentences written for these tests."""

from __future__ import annotations

import pytest

from fhirconv import extract_text
from fhirconv.model import Assertion

INTRO = "A 52-year-old man presented to our clinic. "


def facts_for(text: str, kind: str | None = None):
    ex = extract_text(INTRO + text)
    assert len(ex.patients) == 1
    return [f for f in ex.patients[0].facts if kind is None or f.kind == kind]


def status(text: str, concept: str) -> set[Assertion]:
    found = {f.assertion for f in facts_for(text) if f.concept == concept}
    assert found, f"{concept} not found in {text!r}"
    return found


@pytest.mark.parametrize("sentence", [
    "He had no fever.",
    "He denied fever and chills.",
    "There was no evidence of fever on admission.",
    "Fever was absent.",
    "He was admitted without fever.",
])
def test_negation_forward_and_backward(sentence):
    assert status(sentence, "finding.fever") == {Assertion.NEGATED}


def test_terminator_ends_negation_scope():
    text = "He had no fever but complained of a severe headache."
    assert status(text, "finding.fever") == {Assertion.NEGATED}
    assert status(text, "finding.headache") == {Assertion.PRESENT}


def test_negation_window_covers_a_list():
    text = "He had no symptoms such as night sweats, fever or weight loss."
    for concept in ("finding.night_sweats", "finding.fever", "finding.weight_loss"):
        assert status(text, concept) == {Assertion.NEGATED}, concept


def test_prefix_non_negates_only_the_next_word():
    text = "Examination found a non-tender swelling of the neck."
    assert Assertion.NEGATED not in {f.assertion for f in facts_for(text) if f.concept == "finding.swelling"}


def test_cue_inside_a_disease_name_is_not_a_cue():
    text = "Biopsy confirmed non-Hodgkin lymphoma."
    conds = [f for f in facts_for(text, "condition") if "lymphoma" in f.text.lower()]
    assert conds and all(f.assertion == Assertion.PRESENT for f in conds)


def test_ruled_out_is_refuted():
    assert status("Tuberculosis was ruled out by culture.", "disorder.tuberculosis") == {Assertion.REFUTED}


def test_suspected_is_possible():
    assert status("Pneumonia was suspected on the chest film.", "disorder.pneumonia") == {Assertion.POSSIBLE}


def test_alternatives_under_a_provisional_cue_are_a_differential():
    text = "The working diagnosis was lymphoma or sarcoma."
    assert status(text, "disorder.lymphoma") == {Assertion.DIFFERENTIAL}


def test_history_is_still_asserted():
    found = status("He had a history of hypertension.", "disorder.hypertension")
    assert found == {Assertion.HISTORICAL}


def test_family_member_is_not_the_patient():
    assert not [f for f in facts_for("His mother had breast cancer.", "condition")]


def test_cited_study_is_not_the_patient():
    text = "Smith et al. reported a patient with melanoma and fever."
    assert not [f for f in facts_for(text) if f.kind in ("condition", "finding")]


def test_planned_procedure_is_not_written():
    text = "A mastectomy was planned."
    assert not [f for f in facts_for(text, "procedure")]


def test_testing_for_a_disease_does_not_assert_it():
    assert status("Serology tests for tuberculosis were sent.", "disorder.tuberculosis") == {Assertion.POSSIBLE}


def test_duration_of_a_complaint_is_not_past_history():
    assert status("He had a 3-day history of vomiting.", "finding.vomiting") == {Assertion.PRESENT}


def test_negated_finding_on_an_examination_keeps_the_examination():
    exams = facts_for("There were no signs of metastases on MRI.", "imaging")
    assert [f.attr("modality") for f in exams] == ["MR"]


def test_receptor_status_in_parentheses_does_not_negate_the_tumour():
    facts = facts_for("Biopsy showed breast cancer (ER-positive, PR-negative, HER2 3+).")
    cancer = {f.assertion for f in facts if f.concept == "disorder.breast_cancer"}
    assert cancer == {Assertion.PRESENT}
    values = {f.concept: f.attr("value") for f in facts if f.kind == "lab"}
    assert values == {"lab.er": "positive", "lab.pr": "negative", "lab.her2": "positive"}


def test_remission_and_resolution_set_the_clinical_status():
    facts = facts_for("He had a history of lymphoma in remission. His pneumonia resolved.", "condition")
    status = {f.concept: f.attr("clinical_status") for f in facts}
    assert status == {"disorder.lymphoma": "remission", "disorder.pneumonia": "resolved"}


def test_a_relative_who_died_does_not_make_the_patient_deceased():
    assert not facts_for("His father died of lung cancer.", "deceased")
    assert facts_for("He died three weeks later.", "deceased")


def test_unlikely_is_not_asserted():
    assert status("Tuberculosis was considered unlikely.", "disorder.tuberculosis") == {Assertion.POSSIBLE}


@pytest.mark.parametrize("sentence", [
    "He lives in a dengue endemic area and presented with fever.",
    "He came from a region endemic for malaria and presented with fever.",
    "He had received hepatitis B vaccination and presented with fever.",
    "He was vaccinated against measles and presented with fever.",
])
def test_a_disease_named_as_an_attribute_of_a_place_or_vaccine_is_not_the_patients(sentence):
    facts = facts_for(sentence)
    assert [f.text for f in facts if f.kind == "condition"] == []
    assert any(f.concept == "finding.fever" for f in facts)


@pytest.mark.parametrize(("text", "concept", "ended"), [
    ("Tuberculosis was suspected. A biopsy confirmed tuberculosis.", "disorder.tuberculosis", Assertion.PRESENT),
    ("He was admitted with a provisional diagnosis of dengue infection. Dengue serology was negative.",
     "disorder.dengue", Assertion.REFUTED),
    ("Tuberculosis was suspected. Tuberculosis was later ruled out.", "disorder.tuberculosis", Assertion.REFUTED),
])
def test_a_suspected_diagnosis_is_recorded_as_it_ended(text, concept, ended):
    assert status(text, concept) == {ended}


def test_a_suspicion_confirmed_before_it_was_voiced_stays_open():
    # order matters: only a later statement settles an earlier suspicion
    assert status("Biopsy showed tuberculosis. Relapse of tuberculosis was suspected a year later.",
                  "disorder.tuberculosis") == {Assertion.PRESENT, Assertion.POSSIBLE}


def test_a_conclusion_after_a_comma_ends_a_negation_scope():
    assert status("Histology was negative for TTF-1, consistent with metastatic renal cell carcinoma.",
                  "disorder.rcc") == {Assertion.PRESENT}
    assert status("There were no findings consistent with malignancy.",
                  "disorder.malignant_neoplasm") == {Assertion.NEGATED}


@pytest.mark.parametrize(("sentence", "expected"), [
    ("Pulmonary embolism had been excluded by CT angiography.", Assertion.REFUTED),
    ("Pulmonary embolism was considered but excluded.", Assertion.REFUTED),
    ("Pulmonary embolism was dismissed.", Assertion.REFUTED),
    ("Pulmonary embolism has not been detected.", Assertion.NEGATED),
    ("Pulmonary embolism was not present.", Assertion.NEGATED),
    ("CT angiography was negative for pulmonary embolism.", Assertion.NEGATED),
])
def test_auxiliaries_and_overlapping_cues(sentence, expected):
    assert status(sentence, "disorder.pe") == {expected}


def test_a_pseudo_trigger_blocks_only_the_cues_it_contains():
    assert status("He has not been treated for tuberculosis before.", "disorder.tuberculosis") != {Assertion.NEGATED}


@pytest.mark.parametrize("sentence", [
    "Tuberculosis was likely.", "The lesion could represent tuberculosis.", "There was concern for tuberculosis.",
    "Tuberculosis was the working diagnosis.", "Tuberculosis was initially favoured.",
])
def test_more_forms_of_uncertainty(sentence):
    assert status(sentence, "disorder.tuberculosis") == {Assertion.POSSIBLE}


def test_a_term_that_says_a_finding_is_absent():
    assert status("He was afebrile and anicteric.", "finding.fever") == {Assertion.NEGATED}
    assert status("He was afebrile and anicteric.", "finding.jaundice") == {Assertion.NEGATED}
    assert status("He was non-icteric.", "finding.jaundice") == {Assertion.NEGATED}


@pytest.mark.parametrize("sentence", [
    "Chemotherapy was declined.", "He refused chemotherapy.", "He declined chemotherapy.",
    "Chemotherapy was not given because of his frailty.",
])
def test_a_treatment_refused_or_not_given_is_not_recorded(sentence):
    assert not [f for f in facts_for(sentence) if f.kind in ("procedure", "medication")]


def test_a_value_that_declined_is_not_a_refusal():
    assert status("His platelet count declined and thrombocytopenia developed.",
                  "disorder.thrombocytopenia") == {Assertion.PRESENT}


def test_a_diagnosis_never_proven_or_never_considered_is_not_asserted():
    assert status("A diagnosis of lymphoma could not be confirmed.", "disorder.lymphoma") == {Assertion.POSSIBLE}
    assert status("Malaria was not considered at first.", "disorder.malaria") == {Assertion.HYPOTHETICAL}


# ---------------------------------------------------------------- scopes over coordinated lists
@pytest.mark.parametrize(("sentence", "concepts"), [
    # each list runs past the cue's word window: the last members were missed before
    ("She denied headache, photophobia, neck stiffness, palpitations, syncope, vomiting and recent weight loss.",
     ["finding.headache", "finding.vomiting", "finding.weight_loss"]),
    ("Examination found no lymphadenopathy, hepatosplenomegaly, ascites, peripheral oedema, finger clubbing, "
     "cyanosis, jaundice, pallor or skin rash.", ["finding.lymphadenopathy", "finding.pallor", "finding.rash"]),
    # backward, from the cue at the end
    ("Fever, chills, night sweats, anorexia, fatigue and weight loss were absent.",
     ["finding.fever", "finding.chills", "finding.night_sweats", "finding.weight_loss"]),
])
def test_a_negation_covers_every_member_of_a_list(sentence, concepts):
    for concept in concepts:
        assert status(sentence, concept) == {Assertion.NEGATED}, concept


def test_an_uncertainty_covers_every_member_of_a_list():
    text = ("Histology was suspicious for lymphoma, amelanotic melanoma, poorly differentiated sarcoma, "
            "germ cell tumour or metastatic carcinoma.")
    for concept in ("disorder.lymphoma", "disorder.metastatic_malignant_neoplasm"):
        assert status(text, concept) == {Assertion.DIFFERENTIAL}, concept


@pytest.mark.parametrize(("sentence", "negated", "present"), [
    # a new clause with its own subject after a comma
    ("He had no fever, and a rash appeared on his legs.", "finding.fever", "finding.rash"),
    ("He had no fever, chills or night sweats, and his wife noticed weight loss.", "finding.chills",
     "finding.weight_loss"),
    ("No fever, chills, rigors or night sweats, she had a cough.", "finding.rigors", "finding.cough"),
    # a conjunction before a verb: a new predicate
    ("He had no fever or chills and developed a rash.", "finding.chills", "finding.rash"),
    ("He had no nausea or vomiting and underwent surgery.", "finding.vomiting", "procedure.surgery"),
    # a list coordinates once: after "A or B, and" comes something else
    ("He denied fever or chills, and cough, sputum, wheeze, dyspnoea and chest pain had worsened.",
     "finding.chills", "finding.chest_pain"),
    # a member holds no verb: "was severe" is a statement of its own
    ("Headache was severe, photophobia, neck stiffness, nausea and vomiting were absent.", "finding.photophobia",
     "finding.headache"),
    # a verb after a comma: the subject has changed ("had not received" is the cue's own verb)
    ("Without fever, the patient developed a rash.", "finding.fever", "finding.rash"),
    # terminators end a list as they end any scope
    ("No fever was recorded; cough had lasted two weeks.", "finding.fever", "finding.cough"),
    ("He was without fever but with cough.", "finding.fever", "finding.cough"),
    ("He had no fever, and a chest CT showed a mass.", "finding.fever", "finding.mass"),
])
def test_a_list_ends_where_a_new_statement_begins(sentence, negated, present):
    assert status(sentence, negated) == {Assertion.NEGATED}
    assert status(sentence, present) == {Assertion.PRESENT}


def test_a_suffix_cue_qualifies_its_word_not_a_list():
    facts = facts_for("Biopsy showed breast cancer (ER-positive, PR-negative, HER2 3+).")
    assert {f.assertion for f in facts if f.concept == "disorder.breast_cancer"} == {Assertion.PRESENT}


def test_a_list_item_is_any_length_when_the_targets_are_known():
    from fhirconv import load_mappings
    from fhirconv.extract._context import ContextEngine

    engine = ContextEngine(load_mappings().rules["context"])
    text = "He denied fever, cough, antineutrophil cytoplasmic antibody associated vasculitis, rash or chest pain."
    terms = ["fever", "cough", "antineutrophil cytoplasmic antibody associated vasculitis", "rash", "chest pain"]
    spans = [(text.index(t), text.index(t) + len(t)) for t in terms]
    last = spans[-1]
    # the five-word item is too long to be taken for a list member on its words alone ...
    assert engine.analyse(text).assertion(*last)[0] == Assertion.PRESENT
    # ... but it is one of the sentence's concepts
    assert engine.analyse(text, targets=spans).assertion(*last)[0] == Assertion.NEGATED
    assert engine.analyse(text, targets=spans).assertion(*spans[0])[0] == Assertion.NEGATED


@pytest.mark.parametrize(("sentence", "concept"), [
    ("He denied any history of asthma, tuberculosis or hypertension.", "disorder.tuberculosis"),
    # the vaccine cue qualifies "BCG" only, and ends no other scope
    ("He reported no previous history of BCG vaccination, tuberculosis or travel abroad.",
     "disorder.tuberculosis"),
])
def test_a_negated_history_is_negated(sentence, concept):
    assert status(sentence, concept) == {Assertion.NEGATED}


def test_a_history_after_a_negated_finding_is_a_new_cue():
    text = "He had no fever, cough, sputum or wheeze, and a history of asthma."
    assert status(text, "disorder.asthma") == {Assertion.HISTORICAL}


# ---------------------------------------------------------------- cues from NegEx, pyConTextNLP, medspaCy
N, R, P, D, H, S = (Assertion.NEGATED, Assertion.REFUTED, Assertion.POSSIBLE, Assertion.DIFFERENTIAL,
                    Assertion.HYPOTHETICAL, Assertion.HISTORICAL)


@pytest.mark.parametrize(("sentence", "concept", "expected"), [
    # negated, forward
    ("She never developed fever during the admission.", "finding.fever", N),
    ("The rash lacked the features of vasculitis.", "disorder.vasculitis", N),
    ("The chest radiograph was unremarkable for pneumonia.", "disorder.pneumonia", N),
    ("The histology was inconsistent with lymphoma.", "disorder.lymphoma", N),
    ("Bone marrow examination failed to demonstrate lymphoma.", "disorder.lymphoma", N),
    ("The appearance suggested sarcoidosis rather than lymphoma.", "disorder.lymphoma", N),
    # negated, backward
    ("Lymphadenopathy was not evident.", "finding.lymphadenopathy", N),
    ("Hepatomegaly was no longer present.", "finding.hepatomegaly", N),
    ("Splenomegaly was not identified.", "finding.splenomegaly", N),
    ("He remained pain-free after the procedure.", "finding.pain", N),
    ("Fever, chills and weight loss were denied.", "finding.fever", N),
    # refuted: tested negative, or diagnosed and then withdrawn
    ("Stool cultures and dengue serology were all negative.", "disorder.dengue", R),
    ("The patient was initially misdiagnosed with asthma.", "disorder.asthma", R),
    ("The lesion was mistaken for a lipoma.", "disorder.lipoma", R),
    # possible
    ("The lesion was worrisome for lymphoma.", "disorder.lymphoma", P),
    ("We could not exclude lymphoma.", "disorder.lymphoma", P),
    ("Appendicitis was not ruled out.", "disorder.appendicitis", P),
    ("Tuberculosis has not been ruled out.", "disorder.tuberculosis", P),  # not "been ruled out"
    ("Tuberculosis could not be ruled out.", "disorder.tuberculosis", P),
    ("Lymphoma was not excluded.", "disorder.lymphoma", P),
    ("The lesion could be a lymphoma.", "disorder.lymphoma", P),
    ("We suspect sarcoidosis.", "disorder.sarcoidosis", P),
    ("Tuberculosis was not likely.", "disorder.tuberculosis", P),
    ("He was checked for malaria.", "disorder.malaria", P),
    ("The mass was initially thought to be a lipoma.", "disorder.lipoma", P),
    ("Lymphoma was included in the differential.", "disorder.lymphoma", D),
    # hypothetical, historical
    ("She is at risk for osteoporosis.", "disorder.osteoporosis", H),
    ("Should she develop fever, antibiotics will be given.", "finding.fever", H),
    ("He was status post mastectomy for breast cancer.", "disorder.breast_cancer", S),
])
def test_cues_from_the_literature(sentence, concept, expected):
    assert status(sentence, concept) == {expected}


@pytest.mark.parametrize(("sentence", "concept"), [
    # terminators: a cue says nothing of the cause, the reason or the new presentation after it
    ("No cause of the anaemia was identified.", "disorder.anaemia"),
    ("Chemotherapy was not given because of neutropenia.", "disorder.neutropenia"),
    ("She had a history of asthma and presented with fever.", "finding.fever"),
    # pseudo-triggers: a treatment that did not help was given
    ("There was no improvement with antibiotics.", "medication.antibiotic"),
    ("There was a lack of response to steroids.", "medication.steroid"),
    # "free" qualifies only the word before it
    ("His TSH and free T4 were normal.", "lab.tsh"),
])
def test_terminators_and_pseudo_triggers_from_the_literature(sentence, concept):
    assert status(sentence, concept) == {Assertion.PRESENT}


def test_no_cue_phrase_is_listed_twice():
    from collections import Counter

    from fhirconv import load_mappings

    phrases = Counter(c["phrase"] for c in load_mappings().rules["context"]["cues"])
    assert [p for p, n in phrases.items() if n > 1] == []


# ---------------------------------------------------------------- relatives
@pytest.mark.parametrize("sentence", [
    "Her aunt had ovarian cancer.",
    "Ovarian cancer was diagnosed in two of her cousins.",
    "Her husband had pulmonary tuberculosis.",
    "Her mother had breast cancer and her sister had ovarian cancer.",
    "He had a family history of diabetes, hypertension and chronic kidney disease.",
    "His brother died of colon cancer at the age of 45.",
])
def test_a_relatives_disease_is_not_the_patients(sentence):
    assert [f.text for f in facts_for(sentence, "condition")] == []


@pytest.mark.parametrize(("sentence", "concept"), [
    # a relative who notices or brings: the finding is the patient's
    ("His wife noticed jaundice.", "finding.jaundice"),
    ("She was brought by her mother with fever.", "finding.fever"),
    ("The patient, a mother of two, had a breast lump.", "finding.breast_lump"),
    # a new predicate after the relative
    ("The patient lives with her husband and has diabetes.", "disorder.diabetes"),
])
def test_a_relative_named_beside_the_patients_own_finding(sentence, concept):
    assert status(sentence, concept) == {Assertion.PRESENT}


def test_a_relative_clause_belongs_to_the_relative():
    assert not facts_for("His father, who had diabetes, died of a myocardial infarction.", "condition")
    assert not facts_for("His father, who had diabetes, died of a myocardial infarction.", "deceased")


def test_the_cues_own_verb_does_not_end_its_scope():
    # and "previously" continues the negation rather than ending it
    assert not facts_for("He had not previously received chemotherapy or radiotherapy.", "procedure")


@pytest.mark.parametrize(("sentence", "concept", "expected"), [
    # a diagnosis held open, then closed
    ("Despite the possibility of pancreatitis, the pain was biliary.", "disorder.pancreatitis", Assertion.POSSIBLE),
    ("An MRI was done so that the possibility of a stroke could be excluded.", "disorder.stroke", Assertion.REFUTED),
    ("Sepsis could be ruled out by blood cultures.", "disorder.sepsis", Assertion.REFUTED),
    ("The lumbar puncture dismissed the hypothesis of meningitis.", "disorder.meningitis", Assertion.REFUTED),
    ("The hypothesis of hepatitis was raised.", "disorder.hepatitis", Assertion.POSSIBLE),
    ("Lymphoma was important for differential diagnosis.", "disorder.lymphoma", Assertion.DIFFERENTIAL),
    # what could cause a disease is not the disease
    ("He had no risk factors for cirrhosis.", "disorder.cirrhosis", Assertion.HYPOTHETICAL),
    ("Serology for the causes of hepatitis was sent.", "disorder.hepatitis", Assertion.HYPOTHETICAL),
    # a clause opened by "nor" negates what it names; what a diagnosis is told apart from is a differential
    ("He had no headache, nor was there any history of cerebrovascular disease.", "disorder.sct_62914000",
     Assertion.NEGATED),
    ("Gouty arthritis was distinguished from septic arthritis by aspiration.", "disorder.septic_arthritis",
     Assertion.DIFFERENTIAL),
    # what a test looks for, and its non-reactive result
    ("The syphilis screening was non-reactive.", "disorder.syphilis", Assertion.REFUTED),
    ("Hepatitis C serology was requested.", "disorder.hepatitis_c", Assertion.POSSIBLE),
])
def test_possibility_hypothesis_exclusion_and_risk_factors(sentence, concept, expected):
    assert status(sentence, concept) == {expected}


def test_a_sentence_in_another_language_asserts_nothing():
    found = {f.concept for f in facts_for("Os testes para HIV e sífilis foram negativos. Le patient avait "
                                          "une pneumonie dans le lobe.")}
    assert "disorder.hiv" not in found


def test_an_english_sentence_with_a_foreign_name_is_still_read():
    found = {f.concept for f in facts_for("He was treated at the Hospital de la Santa Cruz for pneumonia.")}
    assert "disorder.pneumonia" in found


@pytest.mark.parametrize("sentence", ["There was no history of trauma.", "He had no history of trauma or fever."])
def test_a_cue_whose_last_words_begin_the_term_still_negates_it(sentence):
    # the curated term "history of trauma" overlaps the cue "no history of"
    assert status(sentence, "finding.trauma") == {Assertion.NEGATED}
