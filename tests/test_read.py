"""fhirconv.read: decoding, cleaning with offsets, record formats, errors, input expansion."""

from __future__ import annotations

import codecs
import io
import re
import sys
import time
from pathlib import Path

import pytest

from fhirconv.errors import ReadError
from fhirconv.model import SourceDocument
from fhirconv.read import expand_inputs, read_bytes, read_path, read_text

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((ROOT / "seeds").glob("*.txt"))
DATA = Path(__file__).resolve().parent / "data" / "read"
FIXTURES = [DATA / n for n in ("bom_crlf.txt", "latin1.txt", "utf16.txt", "endnote_multiline.enw",
                               "medline.nbib", "record.ris")]


def seed(prefix: str) -> SourceDocument:
    (path,) = [p for p in SEEDS if p.name.startswith(prefix)]
    return read_path(path)


def assert_offsets(doc: SourceDocument) -> None:
    """Every character of ``text`` comes from ``original`` unless it is an inserted space/newline."""
    assert len(doc.offsets) == len(doc.text) + 1
    bad = [(i, ch) for i, ch in enumerate(doc.text)
           if doc.original[doc.offsets[i]] != ch and ch not in " \n"]
    assert not bad, f"{doc.name}: characters not from original: {bad[:5]}"
    assert doc.offsets[-1] == doc.offsets[-2] + 1 <= len(doc.original)   # the end maps past the last char


def back(doc: SourceDocument, phrase: str) -> str:
    """The original text a phrase found in ``doc.text`` maps back to."""
    i = doc.text.index(phrase)
    span = doc.to_original(i, i + len(phrase))
    return doc.original[span.start:span.end]


def squash(s: str) -> str:
    return " ".join(s.split())


# ----------------------------------------------------------------------------- offsets


def test_seeds_present() -> None:
    assert len(SEEDS) == 5


@pytest.mark.parametrize("path", SEEDS + FIXTURES, ids=lambda p: p.name)
def test_offsets_invariant(path: Path) -> None:
    doc = read_path(path)
    assert doc.text
    assert_offsets(doc)
    assert doc.text == doc.text.strip()
    assert "\r" not in doc.text and "\t" not in doc.text and "  " not in doc.text
    assert "\n\n\n" not in doc.text


def test_phrase_maps_back_within_a_line() -> None:
    doc = seed("003")
    assert back(doc, "retrovirus negative") == "retrovirus negative"
    assert back(doc, "Kalafong Hospital") == "Kalafong Hospital"


def test_phrase_maps_back_across_a_joined_line_break() -> None:
    doc = seed("003")
    phrase = "tumour of smooth muscle origin"
    assert phrase in doc.text
    orig = back(doc, phrase)
    assert "\n" in orig                       # the phrase spans a hard line break in the original
    assert squash(orig) == phrase


def test_phrase_maps_back_across_a_dehyphenated_join() -> None:
    text = ("The biopsy of the left breast showed a malignant tu-\nmour with spindle cells and\n"
            "numerous mitoses in the specimen that was examined by\nthe pathologist on call.")
    doc = read_text(text)
    assert "malignant tumour with" in doc.text
    orig = back(doc, "malignant tumour with")
    assert orig == "malignant tu-\nmour with"
    assert orig.replace("-\n", "") == "malignant tumour with"
    assert_offsets(doc)


def test_original_is_the_decoded_input_untouched() -> None:
    data = (DATA / "bom_crlf.txt").read_bytes()
    doc = read_bytes(data, "x")
    assert doc.original == data[3:].decode("utf-8")   # BOM stripped, CRLF kept
    assert "\r\n" in doc.original
    assert "\r" not in doc.text


# ----------------------------------------------------------------------------- decoding


def test_utf8_bom_crlf_file() -> None:
    doc = read_path(DATA / "bom_crlf.txt")
    assert doc.encoding == "utf-8-sig"
    assert not doc.warnings
    assert not doc.original.startswith("\ufeff")
    assert doc.text.startswith("Fever and a knee mass in a child\n\nCase presentation\nA 7-year-old boy")
    assert "painful tumour of the left knee" in doc.text
    assert doc.citation.title == "Fever and a knee mass in a child"


def test_latin1_file_falls_back_with_warning() -> None:
    doc = read_path(DATA / "latin1.txt")
    assert doc.encoding in ("cp1252", "latin-1")
    assert "Fièvre à 39 °C" in doc.text
    assert len(doc.warnings) == 1 and "not valid UTF-8" in doc.warnings[0]


def test_latin1_when_cp1252_cannot_decode() -> None:
    doc = read_bytes("Patient \u00e9tait fi\u00e8vre ".encode("latin-1") + b"\x81 ok.", "x")
    assert doc.encoding == "latin-1"
    assert doc.warnings


def test_utf16_file_with_bom() -> None:
    doc = read_path(DATA / "utf16.txt")
    assert doc.encoding == "utf-16"
    assert doc.text == "A 52-year-old man with haemoptysis.\nChest CT showed a mass in the right lung."
    assert not doc.warnings


def test_utf16_without_bom_is_sniffed() -> None:
    doc = read_bytes("A 40-year-old woman with a cough.".encode("utf-16-le"), "x")
    assert doc.encoding == "utf-16-le"
    assert doc.text == "A 40-year-old woman with a cough."
    assert doc.warnings


def test_plain_utf8_has_no_warning() -> None:
    doc = read_bytes("Fièvre à 39 °C.".encode(), "x")
    assert doc.encoding == "utf-8" and not doc.warnings


# ----------------------------------------------------------------------------- cleaning rules

WRAPPED = ("A 45-year-old woman presented with a painless lump in the upper outer quadrant of\n"
           "the left breast that had been growing slowly for about six months and\n"
           "was first noticed by her general practitioner during a routine visit for\n"
           "hypertension.")


def test_hard_wrapped_lines_are_joined_and_marked_pdf() -> None:
    doc = read_text(WRAPPED)
    assert "\n" not in doc.text
    assert "quadrant of the left breast that had" in doc.text
    assert doc.source_format == "pdf-text"


def test_unwrapped_text_keeps_its_lines() -> None:
    text = ("The first finding was a mass in the liver.\n"
            "- Fever for two weeks\n- Weight loss\n"
            "The second finding was anaemia.")
    doc = read_text(text)
    assert doc.text == text
    assert doc.source_format == "text"


def test_list_items_in_wrapped_text_keep_their_lines() -> None:
    doc = read_text(WRAPPED + "\nShe reported:\n- fever and\n- night sweats over\n- two weeks.")
    assert doc.source_format == "pdf-text"
    assert doc.text.endswith("hypertension.\n\nShe reported:\n- fever and\n- night sweats over\n- two weeks.")


def test_caption_does_not_continue_a_sentence() -> None:
    tail = "\n\nThe mass was seen in the\n\nFigure 2. Axial CT of the chest.\n\nleft lung."
    assert read_text(WRAPPED + tail).text.endswith(tail)


def test_paragraphs_stay_separated() -> None:
    doc = read_text(WRAPPED + "\n\n\n" + WRAPPED.replace("45", "50"))
    assert doc.text.count("\n\n") == 1
    assert "\n\nA 50-year-old woman" in doc.text


def test_heading_stays_on_its_own_line() -> None:
    text = "Case report\n" + WRAPPED + "\n\nDISCUSSION\nSuch lumps are common.\n\n2. Conclusion\nBiopsy it."
    doc = read_text(text)
    assert doc.text.startswith("Case report\nA 45-year-old woman")
    assert "\n\nDISCUSSION\nSuch lumps are common." in doc.text
    assert "\n\n2. Conclusion\nBiopsy it." in doc.text


@pytest.mark.parametrize("heading", [
    "CT AND MRI",                                   # all capitals
    "3. Laboratory data",                           # numbered
    "Biopsy with specimen handling:",               # short, ends with a colon
    "Myeloid Sarcoma (Granulocytic Sarcoma)",       # title case
    "Case presentation",                            # a known heading
])
def test_heading_kinds(heading: str) -> None:
    doc = read_text("Some text.\n\n" + heading + "\n\nIt was rare.")
    assert doc.text == "Some text.\n\n" + heading + "\nIt was rare."


@pytest.mark.parametrize("line", [
    "Myeloid sarcoma was seen",                     # a sentence without its full stop
    "Figure 2 Axial Views",                         # a caption
    "Biopsy of the mass, the nodes and the skin:",  # too long for a label
])
def test_not_headings(line: str) -> None:
    doc = read_text("Some text.\n\n" + line + "\n\nIt was rare.")
    assert doc.text == "Some text.\n\n" + line + "\n\nIt was rare."


def test_first_line_is_a_title_not_a_heading() -> None:
    text = "Breast Leukaemia Imaging\n\nIt is rare."
    assert read_text(text).text == text
    assert read_text("Introduction\n\nIt is rare.").text == "Introduction\nIt is rare."


def test_long_title_case_line_in_pdf_text_is_not_a_heading() -> None:
    line = "Diffuse Bone Marrow Uptake Suggested Bone Marrow Infiltration"
    doc = read_text(WRAPPED + "\n\n" + line + "\n\nThe patient was treated.")
    assert doc.text.endswith("hypertension.\n\n" + line + "\n\nThe patient was treated.")


def test_short_lines_of_a_pdf_front_page_stay_apart() -> None:
    doc = read_text("Leiomyosarcoma of the breast\nJ Smith, A Jones\nDepartment of Radiology, Example "
                    "Hospital\n\n" + WRAPPED)
    assert doc.source_format == "pdf-text"
    assert doc.text.startswith("Leiomyosarcoma of the breast\nJ Smith, A Jones\nDepartment of Radiology, "
                               "Example Hospital\n\nA 45-year-old")


def test_heading_followed_by_blank_line() -> None:
    doc = read_text("Some text here.\n\nUltrasound findings\n\nA solid mass was seen.")
    assert doc.text == "Some text here.\n\nUltrasound findings\nA solid mass was seen."


def test_short_line_before_lowercase_continuation_is_not_a_heading() -> None:
    doc = read_text(WRAPPED + "\n\nPET-CT \n\nshowed no uptake in the breast.")
    assert doc.text.endswith("hypertension.\n\nPET-CT showed no uptake in the breast.")


def test_spaces_and_tabs_collapse_and_edges_strip() -> None:
    doc = read_text("  \n\n A 30-year-old\t\tman  had\u00a0fever.   \n\n  ")
    assert doc.text == "A 30-year-old man had fever."
    assert_offsets(doc)


def test_zero_width_and_soft_hyphen_are_dropped() -> None:
    doc = read_text("Leuk\u00adaemia was con\u200bfirmed.")
    assert doc.text == "Leukaemia was confirmed."
    assert_offsets(doc)


def test_cr_only_line_ends() -> None:
    doc = read_text("Title of a Report\r\rAbstract\rThe patient was well.\r")
    assert doc.text == "Title of a Report\n\nAbstract\nThe patient was well."


@pytest.mark.parametrize(("wrapped", "joined"), [
    ("showed a malignant tu-\nmour of the breast", "showed a malignant tumour of the breast"),
    ("a solitary non-\ntender breast lump", "a solitary non-tender breast lump"),
    ("receptors without Her-\n2 expression", "receptors without Her-2 expression"),
    ("a well-\ndefined mass", "a well-defined mass"),
    ("a contrast-\nenhanced CT", "a contrast-enhanced CT"),
    ("known hyper-\ntension", "known hypertension"),
    ("an intra-\nvenous line", "an intravenous line"),
    ("a sub-\ncutaneous nodule", "a subcutaneous nodule"),
])
def test_dehyphenation(wrapped: str, joined: str) -> None:
    doc = read_text(WRAPPED + "\n\nThe scan " + wrapped + " and more words.")
    assert "The scan " + joined + " and more words." in doc.text


def test_dehyphenation_keeps_hyphen_the_document_uses() -> None:
    text = ("The gastro-intestinal tract was normal and the stomach showed no ulcers at\n"
            "all, but later the gastro-\nintestinal bleeding recurred in the patient.")
    doc = read_text(text)
    assert "the gastro-intestinal bleeding" in doc.text


@pytest.mark.parametrize(("raw", "clean"), [
    ("was seen.\n\n18\nF-FDG PET-CT showed uptake.", "was seen.\n\n18F-FDG PET-CT showed uptake."),
    ("on Oct 2. The 2\n\nnd\n intrathecal \n\ndose was given.",
     "on Oct 2. The 2nd intrathecal dose was given."),
    ("in 2014.\n\n18\nF-\n\nFDG PET-CT showed no uptake.", "in 2014.\n\n18F-FDG PET-CT showed no uptake."),
    ("a bone scan with\n99m\nTc-MDP was normal.", "a bone scan with 99mTc-MDP was normal."),
])
def test_split_superscripts(raw: str, clean: str) -> None:
    doc = read_text(WRAPPED + "\n\nThe lesion " + raw)
    assert doc.text.endswith("The lesion " + clean)
    assert doc.source_format == "pdf-text"
    assert_offsets(doc)


def test_bare_page_numbers_are_removed() -> None:
    text = (WRAPPED + "\n\n12\n\nThe biopsy showed a carcinoma of the breast that was\n\n13\n\n"
            "positive for estrogen receptors.\n\n- 14 -\n\nShe was treated.")
    doc = read_text(text)
    assert not re.search(r"\b1[234]\b", doc.text)
    assert "of the breast that was positive for estrogen receptors." in doc.text
    assert doc.text.endswith("receptors.\n\nShe was treated.")


def test_page_number_between_sentences_breaks_the_paragraph() -> None:
    doc = read_text("The first paragraph ends here.\n7\nThe second one starts here.")
    assert doc.text == "The first paragraph ends here.\n\nThe second one starts here."


def test_running_headers_are_removed_but_captions_kept() -> None:
    header = "Journal of Example Case Reports 2021; 12: 34-38"
    text = (header + "\n" + WRAPPED + "\n\n" + header
            + "\nFigure 1. Axial CT shows a mass in the left lung.\n\n"
            "The patient was treated with chemotherapy and the tumour shrank over\n\n" + header +
            "\n\nthe next months of treatment.")
    doc = read_text(text)
    assert header not in doc.text
    assert "Figure 1. Axial CT shows a mass in the left lung." in doc.text
    assert "the tumour shrank over the next months of treatment." in doc.text


def test_repeated_heading_lines_are_not_removed() -> None:
    text = "\n\n".join(f"Case presentation\nPatient {i} had fever." for i in range(3))
    doc = read_text(text)
    assert doc.text.count("Case presentation") == 3


def test_text_interrupted_by_a_caption_resumes_on_a_new_line() -> None:
    text = (WRAPPED + " Primary sarcoma of the breast\n\nFig. 1. Axial CT through the chest.\n"
            " is rarer and usually low-grade.")
    doc = read_text(text)
    assert "\n\nFig. 1. Axial CT through the chest.\n\nis rarer and usually low-grade." in doc.text


def test_run_together_headings_are_split() -> None:
    text = ("Abstract\n\nBackgroundCervix carcinoma is common. Skin metastases are rare in stage I "
            "of disease.Case presentationCase 1: A 63-year-old woman had nodules.Case 2: A 48-year-old "
            "woman had nodules.ConclusionsSkin metastases carry a poor prognosis.")
    doc = read_text(text)
    assert "Abstract\nBackground\nCervix carcinoma is common." in doc.text
    assert "stage I of disease.\n\nCase presentation\nCase 1: A 63-year-old woman" in doc.text
    assert "had nodules.\n\nCase 2: A 48-year-old" in doc.text
    assert "had nodules.\n\nConclusions\nSkin metastases carry" in doc.text
    assert_offsets(doc)


def test_ordinary_words_are_not_split_as_headings() -> None:
    text = "The Results were good. Methods varied. Discussion with the family followed."
    assert read_text(text).text == text


def test_split_superscript_alone_marks_pdf_text() -> None:
    doc = read_text("Staging was done.\n\n18\nF-FDG PET-CT showed uptake.")
    assert doc.text == "Staging was done.\n\n18F-FDG PET-CT showed uptake."
    assert doc.source_format == "pdf-text"


def test_pdf_detection_on_seeds() -> None:
    assert seed("003").source_format == "pdf-text"
    assert seed("004").source_format == "pdf-text"
    assert seed("000").source_format == "text"
    assert seed("002").source_format == "text"


# ----------------------------------------------------------------------------- citation (plain text)


def test_plain_text_citation_title_doi_pmid() -> None:
    text = ("Scalp nodules as the first presentation of prostate cancer\n\n"
            "Medicine (Baltimore). 2023;102(50):e36570. doi: 10.1097/MD.0000000000036570. PMID: 38115333\n\n"
            "A 61-year-old man had scalp nodules.")
    cit = read_text(text).citation
    assert cit.title == "Scalp nodules as the first presentation of prostate cancer"
    assert cit.doi == "10.1097/MD.0000000000036570"
    assert cit.pmid == "38115333"


@pytest.mark.parametrize("first", ["Introduction", "ABSTRACT", "A 61-year-old man had scalp nodules."])
def test_plain_text_without_a_title_line(first: str) -> None:
    assert read_text(first + "\nHe was treated.").citation.title is None


def test_seed_titles() -> None:
    assert seed("000").citation.title.startswith("A Rare Case of Acute Lymphoblastic Leukaemia")
    assert seed("002").citation.title == "Can Leukemic Cells Infiltrate Soft Tissue of the Leg?"
    assert seed("003").citation.title is None
    assert seed("004").citation.title is None


# ----------------------------------------------------------------------------- seeds


def test_seed_001_endnote_record() -> None:
    doc = seed("001")
    cit = doc.citation
    assert doc.source_format == "endnote"
    assert cit.title == "Imaging findings of breast leukaemia: a case series"
    assert cit.authors == ("Li D", "Xin Y", "Zhu J")
    assert cit.journal == "Br J Hosp Med (Lond)"
    assert cit.date == "2024 Jun 30"
    assert cit.doi == "10.12968/hmed.2024.0101"
    assert cit.pmid == "38941971"
    assert doc.text.startswith("Imaging findings of breast leukaemia: a case series.\n\nAims/Background\n"
                               "Breast leukaemia (BL) is a rare")
    assert "%" not in doc.text and "38941971" not in doc.text
    assert "\n\nMethods\nFrom January 2015" in doc.text
    assert doc.text.endswith("first choice for diagnosing BL.")
    assert back(doc, "Imaging findings of breast leukaemia") == "Imaging findings of breast leukaemia"
    assert back(doc, "13 patients with BL confirmed") == "13 patients with BL confirmed"


def test_seed_004_superscripts_and_wrapping() -> None:
    doc = seed("004")
    assert doc.original.count("18\nF-") == 4
    assert doc.text.count("18F-FDG PET-CT") == 4
    assert "\n18\n" not in doc.text and "F-\n" not in doc.text
    assert "The 2nd intrathecal chemotherapy of cytarabine" in doc.text
    assert "estrogen and progesterone receptor expression without Her-2 receptors." in doc.text
    line = next(ln for ln in doc.text.split("\n") if "without Her-2" in ln)
    assert "estrogen and progesterone receptor expression without Her-2 receptors." in line
    assert "18F-FDG PET-CT showed diffuse bone marrow (BM) uptake and peripheral" in doc.text
    assert doc.text.startswith("ABSTRACT\nLeptomeningeal metastasis")
    assert "\n\nCASES\nA 37-year-old woman" in doc.text
    assert "Figure 1:\n18F-FDG PET-CT Shows Multifocal Hypermetabolic Lesions in Bilateral Cerebral and " \
           "Cerebellar Cortex;" in doc.text


def test_seed_003_wrapped_case_report() -> None:
    doc = seed("003")
    assert doc.text.startswith("Introduction\nLeiomyosarcoma (LMS) is an uncommon malignant tumour of "
                               "smooth muscle origin. It arises")
    assert "\n\nCase report\nA 38-year-old woman, retrovirus negative, presented at the outpatient " \
           "department of Kalafong Hospital" in doc.text
    assert "complete occlusion (Fig. 2). There were" in doc.text
    assert "\n\nConclusion\nMetastases to the breasts" in doc.text
    assert "can be avoided.\n\nFig. 3. Axial CT" in doc.text


def test_seed_002_lists_and_headings_keep_their_lines() -> None:
    doc = seed("002")
    assert "\n- Manifests as focal pain, swelling, and muscle weakness in the affected area 4\n" in doc.text
    assert "\n\nClinical Presentation\n- Manifests" in doc.text


def test_seed_000_poster_abstract() -> None:
    doc = seed("000")
    assert "common; however, mammary infiltration" in doc.text        # no-break space normalised
    assert "\n\nUltrasound findings\nSonographic investigation" in doc.text


# ----------------------------------------------------------------------------- record formats


def test_endnote_multiline_record() -> None:
    doc = read_path(DATA / "endnote_multiline.enw")
    cit = doc.citation
    assert doc.source_format == "endnote"
    assert cit.title == "Pulmonary metastasis of a giant cell tumour of bone: a case report"
    assert cit.authors == ("Smith, Jane", "Doe, John")
    assert cit.journal == "Journal of Example Case Reports"
    assert cit.date == "2021"
    assert cit.doi == "10.1234/jecr.2021.0042"
    assert cit.pmid == "33333333"
    assert doc.text == ("Pulmonary metastasis of a giant cell tumour of bone: a case report.\n\n"
                        "Background\nA 24-year-old woman had a giant cell tumour of the distal femur "
                        "resected in 2015.\n\nCase presentation\nSix years later a chest CT showed multiple "
                        "pulmonary nodules.\n\nConclusion\nLung metastasis must be considered.")
    assert squash(back(doc, "distal femur resected")) == "distal femur resected"


def test_endnote_record_without_abstract_warns() -> None:
    doc = read_text("%0 Journal Article\n%T A case of fever\n%A Roe R\n%D 2020\n")
    assert doc.text == "A case of fever"
    assert any("no abstract" in w for w in doc.warnings)


def test_endnote_doi_from_url_when_r_is_not_a_doi() -> None:
    doc = read_text("%0 Journal Article\n%T A case\n%R n/a\n%U https://doi.org/10.5555/abc.12\n%X Fever.")
    assert doc.citation.doi == "10.5555/abc.12"


def test_endnote_with_several_records_reads_the_first() -> None:
    doc = read_text("%0 Journal Article %T First case %X Fever. %0 Journal Article %T Second case %X Cough.")
    assert doc.citation.title == "First case"
    assert "Second" not in doc.text
    assert any("more than one" in w for w in doc.warnings)


def test_medline_record() -> None:
    doc = read_path(DATA / "medline.nbib")
    cit = doc.citation
    assert doc.source_format == "medline"
    assert cit.title == "Imaging findings of breast leukaemia: a case series with a title long enough to wrap"
    assert cit.authors == ("Li D", "Xin Y", "Zhu J")
    assert cit.journal == "Br J Hosp Med (Lond)"
    assert cit.date == "2024 Jun 30"
    assert cit.doi == "10.12968/hmed.2024.0101"
    assert cit.pmid == "38941971"
    assert doc.text.startswith("Imaging findings of breast leukaemia: a case series with a title long enough "
                               "to wrap.\n\nAims/Background\nBreast leukaemia (BL) is a rare breast "
                               "malignancy that is treated differently")
    assert "\n\nMethods\nFrom January 2015 to April 2023, 13 patients" in doc.text
    assert "PMID" not in doc.text and "FAU" not in doc.text
    assert squash(back(doc, "that is treated differently")) == "that is treated differently"


def test_ris_record() -> None:
    doc = read_path(DATA / "record.ris")
    assert doc.source_format == "ris"
    assert doc.citation.title == "Splenic metastasis of ovarian carcinoma"
    assert doc.citation.authors == ("Smith, Jane", "Doe, John")
    assert doc.citation.doi == "10.1234/jecr.2020.0007"
    assert doc.text.endswith("\n\nA 56-year-old woman had a rising CA-125 six years after surgery. "
                             "CT showed a splenic mass.")


def test_text_mentioning_percent_is_not_endnote() -> None:
    doc = read_text("%A note: 5 % of patients had fever.")
    assert doc.source_format == "text"


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReadError, match=r"nope\.txt: no such file; check the path"):
        read_path(tmp_path / "nope.txt")


def test_folder_without_text_files(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(ReadError, match=r"folder with no text files"):
        read_path(tmp_path)


def test_folder_with_text_files_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A case.")
    with pytest.raises(ReadError, match=r"is a folder \(1 text files\)"):
        read_path(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("A case.")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ReadError, match=r"secret\.txt: permission denied; make the file readable"):
        read_path(target)


def test_empty_file() -> None:
    with pytest.raises(ReadError, match=r"empty\.txt: is empty .*give a file that contains"):
        read_path(DATA / "empty.txt")


@pytest.mark.parametrize("blank", ["", "   \n\t\r\n  ", "\ufeff"])
def test_whitespace_only_input(blank: str) -> None:
    with pytest.raises(ReadError, match="is empty"):
        read_bytes(blank.encode("utf-8"), "blank.txt")


def test_binary_file_with_nul_bytes() -> None:
    with pytest.raises(ReadError, match=r"binary\.bin: contains NUL bytes.*pdftotext"):
        read_path(DATA / "binary.bin")


def test_pdf_file_tells_to_extract_text() -> None:
    with pytest.raises(ReadError, match=r"report\.pdf: is a PDF file.*pdftotext"):
        read_path(DATA / "report.pdf")


def test_many_control_characters() -> None:
    data = (b"A case of fever\x01\x02\x03 in a child" * 10)[:300]     # 10 % control characters
    with pytest.raises(ReadError, match="control characters.*binary"):
        read_bytes(data, "ctl.txt")


def test_stray_control_characters_are_dropped() -> None:
    doc = read_bytes(b"A case of fever\x07 in a child with a rash on the trunk and the legs.", "x")
    assert doc.text == "A case of fever in a child with a rash on the trunk and the legs."


def test_nul_in_str_input() -> None:
    # a stray NUL in a text (a copy-paste) is a space, with a warning; offsets are kept
    doc = read_text("A 40-year-old man\x00 had fever.")
    assert doc.text == "A 40-year-old man had fever." and any("NUL" in w for w in doc.warnings)
    # NULs in number, or among other control characters, are binary data
    with pytest.raises(ReadError, match="NUL"):
        read_text("abc\x00d\x00e\x00f\x00")
    with pytest.raises(ReadError, match="NUL"):
        read_bytes(b"a\x00b\x01\x02\x03c" + b"text " * 50, "x.txt")


def test_a_document_over_the_size_limit_is_refused_at_once(tmp_path) -> None:
    big = tmp_path / "corpus.txt"
    big.write_bytes(b"A 40-year-old man had fever. " * 100)
    with pytest.raises(ReadError, match="over the limit of 1,000 characters.*--max-chars"):
        read_path(big, max_chars=1000)
    assert read_path(big, max_chars=None).text.startswith("A 40-year-old")
    with pytest.raises(ReadError, match="over the limit"):
        read_text("x" * 1001, max_chars=1000)


def test_undecodable_bom_inputs() -> None:
    with pytest.raises(ReadError, match="UTF-8 byte-order mark but is not valid UTF-8"):
        read_bytes(codecs.BOM_UTF8 + b"caf\xe9 au lait", "bad.txt")
    with pytest.raises(ReadError, match="UTF-16 byte-order mark but cannot be decoded"):
        read_bytes(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8b\x00", "bad16.txt")


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    for call in (lambda: read_path(tmp_path / "missing.txt"), lambda: read_path(DATA / "binary.bin"),
                 lambda: read_path(DATA / "empty.txt"), lambda: read_path(tmp_path)):
        with pytest.raises(ReadError) as info:
            call()
        assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- inputs


def test_expand_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.txt", "a.TXT", "c.enw", "d.pdf", ".hidden.txt", "sub/e.txt"):
        (folder / name).write_text("A case.")
    empty = tmp_path / "empty"
    empty.mkdir()
    single = tmp_path / "single.text"
    single.write_text("A case.")
    missing = str(tmp_path / "missing.txt")
    skipped: list[tuple[str, str]] = []
    got = expand_inputs([str(folder), "-", missing, str(single), str(empty), str(single)], skipped=skipped)
    assert got == [str(folder / "a.TXT"), str(folder / "b.txt"), str(folder / "c.enw"), str(folder / "sub" / "e.txt"),
                   "-", missing, str(single), str(empty)]
    assert skipped == [(str(folder / "d.pdf"), "a PDF: extract its text first (e.g. pdftotext) and convert the .txt")]
    with pytest.raises(ReadError):
        read_path(got[5])
    with pytest.raises(ReadError):
        read_path(got[7])


def test_expand_inputs_passes_over_hidden_and_excluded_folders(tmp_path: Path) -> None:
    for name in ("a.txt", ".git/b.txt", "out/c.txt", "deep/er/d.txt", "deep/notes.md", "deep/w.docx"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("A case.")
    skipped: list[tuple[str, str]] = []
    got = expand_inputs([str(tmp_path)], skipped=skipped, exclude=[tmp_path / "out"])
    assert got == [str(tmp_path / "a.txt"), str(tmp_path / "deep" / "er" / "d.txt")]
    assert [(Path(n).name, why.split(":")[0]) for n, why in skipped] == [
        ("notes.md", "not a text file fhirconv reads (.txt, .text, .enw, .ris, .nbib, .medline)"),
        ("w.docx", "a word-processor file")]


def test_read_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"A 5-year-old girl.\n")))
    doc = read_path("-")
    assert doc.name == "<stdin>"
    assert doc.text == "A 5-year-old girl."


def test_read_path_name_and_str_path() -> None:
    path = SEEDS[0]
    assert read_path(str(path)).name == str(path)
    assert read_path(path).text == read_path(str(path)).text


# ----------------------------------------------------------------------------- speed


def test_reading_is_fast() -> None:
    blobs = [p.read_bytes() for p in SEEDS]
    for data in blobs:                      # warm up
        read_bytes(data, "x")
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for data in blobs:
            read_bytes(data, "x")
    per_kb = (time.perf_counter() - start) / rounds / (sum(map(len, blobs)) / 1024)
    assert per_kb < 1e-3, f"{per_kb * 1e3:.3f} ms per kB"
