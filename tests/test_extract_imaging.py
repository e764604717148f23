"""Imaging examinations: each one counted once, repeats and other regions new, on texts written for these tests."""

from __future__ import annotations

import pytest

from fhirconv import extract_text

INTRO = "A 48-year-old man was admitted. "


def studies(text: str) -> list[str]:
    ex = extract_text(INTRO + text)
    return [f.attr("modality") for f in ex.patients[0].facts if f.kind == "imaging"]


@pytest.mark.parametrize("text,expected", [
    ("On MRI, the lesion was hyperintense.", ["MR"]),
    ("On contrast-enhanced ultrasound the liver lesion was hypervascular.", ["US"]),
    # an acronym of the whole phrase ("of the brain"), used again for a repeat examination
    ("Computed tomography of the head (CTH) was normal. His sodium was 118 mmol/L. "
     "Repeat CTH showed a subdural haematoma.", ["CT", "CT"]),
    # a sequence is part of the examination reported, or the examination when none is
    ("MRI of the spine showed cord compression. On T2-weighted images the cord was swollen.", ["MR"]),
    ("On T2-weighted images there was a hyperintense lesion in the pons.", ["MR"]),
    # the same modality twice in one sentence: one examination named twice, unless a repeat lies between
    ("Magnetic resonance imaging (MRI) of the pelvis showed a mass.", ["MR"]),
    ("Pelvic MRI showed a 4 cm mass; follow-up MR imaging after chemotherapy showed a 2 cm mass.", ["MR", "MR"]),
    ("An ultrasound scan showed gallstones and a repeat ultrasound two days later showed a dilated duct.",
     ["US", "US"]),
])
def test_imaging_examinations_counted_once(text, expected):
    assert studies(text) == expected


@pytest.mark.parametrize("text,expected", [
    # one examination reported in the findings and named again in the discussion
    ("\n\nImaging findings\nPET-CT showed intense uptake in the mass.\n\nDiscussion\n"
     "PET-CT showed no uptake other than the mass. Lymphoma is a rare tumour of the breast.", ["PT"]),
    # Doppler in the same or the next sentence is part of the ultrasound examination
    ("Ultrasound showed a solid mass. Colour Doppler showed internal vascularity.", ["US"]),
    # another region is another examination, even of the same modality
    ("MRI of the lumbar spine showed a disc prolapse. He was given analgesia. "
     "Brain MRI also showed a meningioma.", ["MR", "MR"]),
    # an examination after treatment is a new one
    ("CT showed a lung mass. He received four cycles of chemotherapy. CT after chemotherapy showed "
     "a smaller mass.", ["CT", "CT"]),
])
def test_the_same_examination_named_again_counts_once(text, expected):
    assert studies(text) == expected


def test_a_discussion_that_opens_with_the_case_result_is_read():
    text = ("\n\nClinical history\nA 62-year-old woman had a lump in the right breast.\n\nDiscussion\n"
            "Core biopsy of the lesion showed diffuse large B-cell lymphoma. Breast lymphoma is rare and "
            "usually presents as a painless mass. Carcinoma is the most common breast malignancy.")
    ex = extract_text(text)
    concepts = {f.concept for f in ex.patients[0].facts if f.kind == "condition"}
    assert "disorder.dlbcl" in concepts
    assert not concepts & {"disorder.breast_cancer", "disorder.carcinoma"}


def test_a_discussion_that_opens_with_general_knowledge_gives_nothing():
    text = ("\n\nClinical history\nA 62-year-old woman had a lump in the right breast.\n\nDiscussion\n"
            "Lymphoma of the breast is a rare tumour. It was first described in 1959 and presented as a mass.")
    ex = extract_text(text)
    assert not any(f.concept == "disorder.lymphoma" for f in ex.patients[0].facts)


@pytest.mark.parametrize("text,expected", [
    ("MRI brain: multiple ring-enhancing lesions.", ["MR"]),
    ("CT abdomen - a 4 cm mass in the liver.", ["CT"]),
    ("Chest radiograph: right lower lobe consolidation.", ["CR"]),
    ("An MRI of the brain is planned: results are awaited.", []),     # planned, and a verb before the colon
    ("Mammography is the first test for breast lumps.", []),
])
def test_a_result_line_reports_an_examination(text, expected):
    assert studies(text) == expected
