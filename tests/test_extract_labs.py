"""Laboratory results in the forms texts use: generated LOINC rows, the sample a test was run on,
powers of ten, on sentences written for these tests."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pytest

from fhirconv import extract_text

ROOT = Path(__file__).resolve().parents[1]
INTRO = "A 48-year-old man was admitted. "


def labs(text: str) -> list[tuple[str, object, object]]:
    ex = extract_text(INTRO + text)
    return [(f.concept, f.attr("value"), f.attr("unit")) for f in ex.patients[0].facts if f.kind == "lab"]


def codes(text: str, maps) -> dict[str, object]:
    return {maps[k].code or k: v for k, v, _ in labs(text)}


@pytest.mark.parametrize("sentence,code,value", [
    ("Cardiac troponin I was 2.4 ng/mL on arrival.", "10839-9", 2.4),
    ("His troponin-I of 0.9 ng/ml was raised.", "10839-9", 0.9),
    ("BNP was 880 pg/mL.", "30934-4", 880),
    ("Echocardiography showed an ejection fraction of 35%.", "10230-1", 35),
    ("LVEF 55 %.", "10230-1", 55),
])
def test_tests_named_as_texts_name_them(sentence, code, value, maps):
    assert codes(sentence, maps).get(code) == value


@pytest.mark.parametrize("sentence", [
    "A lumbar puncture showed protein 1.9 g/L and a white cell count of 40 x 10^6/L.",
    "CSF analysis: protein 1.9 g/L, white cell count 40 x10^6/L.",
    "Protein in the CSF was 1.9 g/L; white cells in the cerebrospinal fluid 40 × 10⁶/L.",
])
def test_the_sample_named_chooses_the_code(sentence, maps):
    got = codes(sentence, maps)
    assert got.get("2880-3") == 1.9          # protein in CSF, not serum protein
    assert got.get("26465-5") == 40          # leukocytes in CSF, not the blood count


def test_a_heading_names_the_sample_of_the_lines_under_it(maps):
    text = "\n\nCSF results\nProtein: 0.8 g/L\nWCC: 5 x 10^6/L\n\nBlood tests\nWCC: 11.2 x10^9/L"
    got = labs(text)
    by_code = {maps[k].code: v for k, v, _ in got}
    assert by_code.get("2880-3") == 0.8 and by_code.get("26465-5") == 5
    blood = [v for k, v, _ in got if maps[k].attr("analyte") == "leukocytes" and not maps[k].attr("sample")]
    assert blood == [11.2]


def test_a_test_surely_on_a_sample_without_a_code_is_not_given_the_blood_code(maps):
    # no CSF neutrophil count is confirmed: the value must not become a blood neutrophil count
    got = labs("CSF analysis showed neutrophils 12 x 10^6/L.")
    assert not any(maps[k].attr("analyte") == "neutrophils" for k, _, _ in got)


def test_a_sample_named_far_before_does_not_drop_a_blood_test(maps):
    got = labs("A urine culture grew Escherichia coli, and on the same day his haemoglobin was 9.8 g/dL.")
    assert any(maps[k].attr("analyte") == "hemoglobin" and v == 9.8 for k, v, _ in got)


def test_a_generated_row_needs_a_unit(maps):
    # a bare number after HER2 is a score, never a serum HER2 concentration
    got = labs("The tumour was HER2 1+ on immunohistochemistry.")
    assert not any(maps[k].attr("generated") for k, _, _ in got)


@pytest.mark.parametrize("written", ["x 10^6/L", "× 10⁶/L", "x10(6)/L", "x 106/L"])
def test_powers_of_ten_every_way(written, maps):
    got = labs(f"CSF white cell count was 7 {written}.")
    assert ("lab.loinc_26465_5", 7.0, "10*6/L") in got


def _load_script():
    spec = importlib.util.spec_from_file_location("build_lab_table", ROOT / "scripts" / "build_lab_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_lab_table_is_reproducible():
    script = _load_script()
    shipped = (ROOT / "mappings" / "labs_loinc.tsv").read_text(encoding="utf-8")
    assert script.build(ROOT / "mappings") == shipped


def test_component_names():
    script = _load_script()
    assert script.component_names("Troponin I.cardiac") == ["troponin i cardiac", "cardiac troponin i"]
    assert script.component_names("Bilirubin.total") == ["bilirubin total", "total bilirubin"]
    assert script.component_names("Hepatitis B virus surface Ag") == []      # an antigen: named by hand only


def test_every_generated_code_is_in_the_shipped_reference(maps):
    ref = ROOT / "src" / "fhirconv" / "validate" / "data" / "terminology" / "loinc.tsv.gz"
    with gzip.open(ref, "rt", encoding="utf-8") as fh:
        known = {line.split("\t", 1)[0] for line in fh if not line.startswith("#")}
    generated = [c for c in maps.category("lab") if c.attr("generated")]
    assert len(generated) > 50
    assert {c.code for c in generated} <= known


def test_a_prose_sentence_ends_the_sample_of_a_heading(maps):
    text = ("\n\nCSF analysis\nProtein: 0.8 g/L\n"
            "He was treated with intravenous immunoglobulin, and his haemoglobin fell to 8.1 g/dL.")
    got = labs(text)
    assert any(maps[k].attr("analyte") == "hemoglobin" and v == 8.1 for k, v, _ in got)



@pytest.mark.parametrize("text,expected", [
    ("The carcinoma was ER/PR positive and HER2 negative.", {"er": "positive", "pr": "positive", "her2": "negative"}),
    ("Immunohistochemistry: ER positive at 240, PR negative.", {"er": "positive", "pr": "negative"}),
])
def test_receptor_status(text, expected, maps):
    ex = extract_text(INTRO + text)
    got = {maps[f.concept].attr("analyte"): f.attr("value") for f in ex.patients[0].facts if f.kind == "lab"}
    assert got == expected


def test_a_slash_defines_an_abbreviation_only_when_its_letters_spell_the_term():
    ex = extract_text(INTRO + "He was jaundiced (total bilirubin/TB 82 umol/L). Later TB was 140 umol/L. "
                               "He had a PE/DVT two years ago.")
    facts = ex.patients[0].facts
    assert not any(f.concept == "disorder.tuberculosis" for f in facts)
    assert [f.attr("value") for f in facts if f.kind == "lab" and "bilirubin" in f.concept] == [82, 140]


def test_a_repeated_measurement_equal_to_an_earlier_one_is_kept(maps):
    got = labs("Troponin I was 54 ng/mL on arrival. The next day troponin I was 30 ng/mL. "
               "Repeat troponin I was 54 ng/mL.")
    assert [v for k, v, _ in got if maps[k].code == "10839-9"] == [54, 30, 54]
    # the same value stated twice, not as a repeat, is one result
    once = labs("Troponin I was 54 ng/mL. A troponin I of 54 ng/mL indicated myocardial injury.")
    assert [v for k, v, _ in once if maps[k].code == "10839-9"] == [54]


@pytest.mark.parametrize("text,value", [
    ("The tumour was HER2 1+.", "negative"),
    ("HER2 was 3+ on immunohistochemistry.", "positive"),
    ("HER2 score 0.", "negative"),
])
def test_a_score_means_what_it_means_for_its_test(text, value, maps):
    got = [v for k, v, _ in labs(text) if maps[k].attr("analyte") == "her2"]
    assert got == [value]


def test_expression_negative_is_negative(maps):
    got = {maps[k].attr("analyte"): v for k, v, _ in labs(
        "Estrogen receptor, progesterone receptor and HER2 protein expression were negative.")}
    assert got == {"er": "negative", "pr": "negative", "her2": "negative"}
    assert {maps[k].attr("analyte"): v for k, v, _ in labs("Estrogen receptor expression was strong.")} \
        == {"er": "positive"}


@pytest.mark.parametrize(("text", "expected"), [
    # a sample that is part of a test's own name, with its own value, stays with that test
    ("Her urine sodium was 60 mmol/L; complement C3 was 0.4 g/L.", [("lab.urine_sodium", 60.0), ("lab.c3", 0.4)]),
    ("Urine sodium 20 mmol/L and serum sodium 118 mmol/L.", [("lab.urine_sodium", 20.0), ("lab.sodium", 118.0)]),
    # a sample naming the analysis carries to the tests it lists
    ("CSF analysis showed protein 0.8 g/L and glucose 2.1 mmol/L.", [("lab.loinc_2880_3", 0.8),
                                                                   ("lab.csf_glucose", 2.1)]),
])
def test_a_sample_carries_to_the_tests_it_heads_not_past_another_tests_value(text, expected):
    ex = extract_text("A 50-year-old woman. " + text)
    assert [(f.concept, f.attr("value")) for f in ex.patients[0].facts if f.kind == "lab"] == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Vital signs: temperature 103.4, pulse 105, respiratory rate 15.",
     {("lab.temperature", 103.4, "[degF]"), ("lab.heart_rate", 105.0, "/min"), ("lab.respiratory_rate", 15.0, "/min")}),
    ("Her temperature was 38.6 on admission.", {("lab.temperature", 38.6, "Cel")}),
    ("His temperature was 60.", {("lab.temperature", 60.0, "")}),     # no range fits: no unit is guessed
])
def test_a_vital_sign_written_without_a_unit_takes_the_one_its_range_implies(text, expected):
    assert set(labs(text)) == expected


def test_a_place_abbreviation_is_not_the_test_it_spells():
    # "no" before "the ER" would make a negative receptor result of the place
    ex = extract_text("A 48-year-old man with no past medical history presents to the ER with arm pain.")
    assert not [f for f in ex.patients[0].facts if f.concept == "lab.er"]
    found = labs("He had no past medical history. The tumour was ER negative.")
    assert [v for k, v, _ in found if k == "lab.er"] == ["negative"]


def test_a_table_row_gives_its_unit_its_range_and_each_value():
    found = labs("Liver tests, range, baseline, later: ALT (U/L) 0–47 32 95 Albumin (g/dL) 3.4–5.0 3.8 3.1.")
    assert ("lab.alt", 32.0, "U/L") in found and ("lab.alt", 95.0, "U/L") in found
    assert ("lab.albumin", 3.8, "g/dL") in found and not [v for k, v, _ in found if v in (0.0, 3.4)]


@pytest.mark.parametrize("text", ["TSH and free T 4 were normal.", "Vitamin B 12 and folate were normal."])
def test_a_digit_after_a_single_capital_is_part_of_the_name(text):
    assert not [v for _, v, _ in labs(text) if v in (4.0, 12.0)]
