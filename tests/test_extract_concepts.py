"""Concept recognition helpers, on phrases written for these tests."""

from __future__ import annotations

import pytest

from fhirconv.extract._concepts import long_form_start


@pytest.mark.parametrize("before,short,long", [
    ("a scan: computed tomography of the head ", "CTH", "computed tomography of the head "),
    ("she had squamous cell carcinoma ", "SCC", "squamous cell carcinoma "),
    ("after contrast-enhanced magnetic resonance imaging ", "CEMRI", "contrast-enhanced magnetic resonance imaging "),
])
def test_long_form_of_an_acronym(before, short, long):
    start = long_form_start(before, short)
    assert start is not None and before[start:] == long


@pytest.mark.parametrize("before,short", [("the patient was seen ", "CTB"), ("", "CT"), ("on day ", "X1")])
def test_no_long_form_when_the_letters_do_not_spell_it(before, short):
    assert long_form_start(before, short) is None


def test_a_term_in_ness_takes_no_plural_but_others_do():
    from fhirconv import extract_text

    def found(text):
        return {(f.concept, f.text.lower()) for f in extract_text(text).patients[0].facts}

    assert ("finding.fever", "fevers") in found("A 50-year-old man had fevers.")
    assert ("finding.asthenia", "generalised weakness") in found("A 50-year-old man had generalised weakness.")
    listed = found("A 50-year-old man had fevers. He listed the strengths and weaknesses of each option.")
    assert not any(concept == "finding.asthenia" for concept, _ in listed)


@pytest.mark.parametrize(("sentence", "concept", "code"), [
    ("A 3-year-old girl presented with odynophagia and fever.", "finding.odynophagia", "30233002"),
    ("A 7-year-old boy was diagnosed with Kawasaki disease.", "disorder.kawasaki", "75053002"),
    ("A 40-year-old man had a pruritic maculopapular rash on the trunk.", "finding.maculopapular_rash", "247471006"),
    ("A 40-year-old man reported anosmia after the infection.", "finding.anosmia", "44169009"),
    ("A 40-year-old man had a central scotoma in the left eye.", "finding.scotoma", "23388006"),
    ("A 60-year-old man with jaundice underwent ERCP.", "procedure.ercp", "386718000"),
    ("A 60-year-old man had a three-day history of leg weakness.", "finding.limb_weakness", "713514005"),
    ("A 40-year-old woman underwent dilatation and curettage.", "procedure.dilation_curettage", "13091001"),
])
def test_clinical_names_of_reference_concepts_are_read(sentence, concept, code):
    """The names clinicians write for concepts the reference spells otherwise ("odynophagia" is
    *Swallowing painful*, Kawasaki disease *Acute febrile mucocutaneous lymph node syndrome*)."""
    import fhirconv

    ex = fhirconv.extract_text(sentence)
    facts = [f for p in ex.patients for f in p.facts if f.concept == concept]
    assert facts and fhirconv.load_mappings()[concept].code == code


@pytest.mark.parametrize(("sentence", "code"), [
    ("A 60-year-old man had lymphopenia and polydipsia.", {"48813009", "17173007"}),
    ("A 60-year-old man had a focal seizure and a skin ulcer on the shin.", {"29753000", "46742003"}),
    ("A 60-year-old man had metastatic spinal cord compression.", {"71286001"}),
])
def test_rows_named_by_their_reference_concept_are_coded(sentence, code):
    import fhirconv

    ex = fhirconv.extract_text(sentence)
    maps = fhirconv.load_mappings()
    assert code <= {maps[f.concept].code for p in ex.patients for f in p.facts if f.concept}


@pytest.mark.parametrize(("sentence", "concept", "code"), [
    ("A 40-year-old woman had Cushing's syndrome.", "disorder.cushing_syndrome", "47270006"),
    ("A 40-year-old woman had adrenal insufficiency.", "disorder.adrenal_insufficiency", "237785004"),
    ("A 40-year-old woman had Addison's disease.", "disorder.addison", "363732003"),   # the primary kind, apart
    ("A 40-year-old woman had primary CNS lymphoma.", "disorder.primary_cns_lymphoma", "307649006"),
])
def test_clinical_names_and_their_reference_concepts(sentence, concept, code):
    import fhirconv

    ex = fhirconv.extract_text(sentence)
    assert concept in {f.concept for p in ex.patients for f in p.facts}
    assert fhirconv.load_mappings()[concept].code == code


@pytest.mark.parametrize("written", ["Behçet's disease", "Behcet's disease", "BEHÇET'S DISEASE"])
def test_diacritics_are_folded_for_matching_and_spans_stay_on_the_text(written):
    import fhirconv

    sentence = f"A 35-year-old man with oral ulcers was diagnosed with {written}."
    ex = fhirconv.extract_text(sentence)
    facts = [f for p in ex.patients for f in p.facts if f.concept == "disorder.sct_310701003"]
    assert facts and sentence[facts[0].span.start:facts[0].span.end] == written


def test_folding_keeps_one_character_for_one():
    from fhirconv.mappings import normalize

    text = "Sjögren–Ménière Ø ß"
    folded, idx = normalize(text)
    assert folded == "sjogren meniere ø ß" and len(idx) == len(folded)


def test_common_treatments_are_read_even_without_a_confirmed_code():
    """Immunosuppressants, biologics and other everyday drugs are MedicationStatements by name (the
    shipped reference confirms no code for them: text only)."""
    import fhirconv

    ex = fhirconv.extract_text("A 50-year-old woman with Crohn disease was treated with azathioprine and "
                               "infliximab; metoprolol was started for atrial fibrillation.")
    meds = {f.concept for p in ex.patients for f in p.facts if f.kind == "medication"}
    assert {"medication.azathioprine", "medication.infliximab", "medication.metoprolol"} <= meds
    assert not any(fhirconv.load_mappings()[m].coded for m in meds)


def test_common_laboratory_tests_are_read_with_their_values_even_without_a_confirmed_code():
    import fhirconv

    ex = fhirconv.extract_text("A 50-year-old woman. Her prolactin was 250 ng/mL, complement C3 0.4 g/L, serum "
                               "osmolality 250 mOsm/kg and urine sodium 60 mmol/L.")
    got = {(f.concept, f.attr("value"), f.attr("unit")) for p in ex.patients for f in p.facts if f.kind == "lab"}
    assert got == {("lab.prolactin", 250.0, "ng/mL"), ("lab.serum_osmolality", 250.0, "mosm/kg"),
                   ("lab.urine_sodium", 60.0, "mmol/L"), ("lab.c3", 0.4, "g/L")}


def _conditions(text):
    from fhirconv import extract_text
    return {f.concept: f for f in extract_text(text).patients[0].facts if f.kind == "condition"}


def test_the_texts_own_abbreviation_for_an_unknown_term_hides_the_dictionarys_sense():
    # "AF" is atrial fibrillation in the dictionary; here the text defines it as something else
    found = _conditions("A 17-year-old boy developed acne fulminans (AF) on isotretinoin. AF improved on "
                        "prednisolone. An endotracheal tube (ET) was placed. The ET was removed on day 2.")
    assert "disorder.atrial_fibrillation" not in found
    # "ET" is essential thrombocythaemia in the dictionary; "endotracheal tube" names nothing there
    assert "disorder.essential_thrombocythaemia" not in found


def test_a_defined_abbreviation_of_a_known_term_still_reads_as_it():
    found = _conditions("A 70-year-old man had atrial fibrillation (AF). AF was rate controlled.")
    assert "disorder.atrial_fibrillation" in found


@pytest.mark.parametrize("sentence", [
    "A 66-year-old woman was referred to the Riverside Hospital Stroke Center with a headache.",
    "A 66-year-old woman was seen by the Department of Infectious Diseases and Stroke with a headache.",
])
def test_a_disease_in_an_organisations_name_is_not_the_patients(sentence):
    assert "disorder.stroke" not in _conditions(sentence)


def test_a_disease_before_a_body_of_people_is_not_the_patients():
    found = _conditions("A 66-year-old woman had ascites. We consulted the infectious diseases committee.")
    assert "disorder.infection" not in found and "disorder.ascites" in found


def test_a_disease_before_a_capitalised_word_that_heads_no_name_is_read():
    assert "disorder.stroke" in _conditions("A 66-year-old woman had a Stroke Scale of 12 and a stroke.")


@pytest.mark.parametrize("sentence", [
    "A 45-year-old man had a shoulder abscess; cultures grew Propionibacterium acnes.",
    "A 45-year-old man had a shoulder abscess; cultures grew H. influenza.",
    "A 45-year-old man had a shoulder abscess; cultures grew Haemophilus influenzae.",
])
def test_a_species_name_is_not_a_disease(sentence):
    assert not set(_conditions(sentence)) & {"disorder.sct_11381005", "disorder.influenza"}


@pytest.mark.parametrize(("sentence", "concept"), [
    ("A 45-year-old man on steroids developed Aspergillus pneumonia.", "disorder.pneumonia"),
    ("A 45-year-old man had a cavity; sputum grew M. tuberculosis.", "disorder.tuberculosis"),
])
def test_a_disease_named_after_its_organism_is_still_read(sentence, concept):
    assert concept in _conditions(sentence)


@pytest.mark.parametrize(("sentence", "concept"), [
    ("A 28-year-old woman was admitted with a non-ruptured ectopic pregnancy.", "disorder.ectopic_pregnancy"),
    ("A 60-year-old man had non-small cell lung cancer.", "disorder.nsclc"),      # the prefix is the name's
])
def test_a_non_prefix_negates_its_word_not_the_disease(sentence, concept):
    from fhirconv.model import Assertion
    found = _conditions(sentence)
    assert concept in found and found[concept].assertion == Assertion.PRESENT


@pytest.mark.parametrize(("sentence", "absent"), [
    ("A 52-year-old man had a cough; his age falls within the typical range.", "finding.sct_161898004"),
    ("A 7-year-old girl fell from a height of 2 metres onto her arm.", "lab.body_height"),
    ("A 70-year-old man had palpitations; QT shortened with sodium channel blockers (11).", "lab.sodium"),
])
def test_phrases_in_which_a_term_is_no_mention(sentence, absent):
    from fhirconv import extract_text
    assert absent not in {f.concept for f in extract_text(sentence).patients[0].facts}


def test_the_same_term_outside_those_phrases_is_read():
    from fhirconv import extract_text
    found = {f.concept for f in extract_text("A 80-year-old woman had two falls at home.").patients[0].facts}
    assert "finding.sct_161898004" in found


def test_ophthalmoplegia_is_read_with_its_confirmed_code():
    from fhirconv import extract_text, load_mappings
    ex = extract_text("A 60-year-old woman with breast cancer developed complete ophthalmoplegia of the left eye.")
    found = [f for f in ex.patients[0].facts if f.concept == "finding.ophthalmoplegia"]
    assert found and load_mappings()["finding.ophthalmoplegia"].code == "16110005"
