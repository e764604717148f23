"""Numbers, units, dates and ages read from sentences written for these tests."""

from __future__ import annotations

import pytest

from fhirconv.extract._values import UnitReader, find_dates, quantities, resolve_date


@pytest.fixture(scope="module")
def units(maps):
    return UnitReader(list(maps.category("unit")))


def q(sentence: str, units: UnitReader) -> list[tuple[float, str]]:
    return [(x.value, x.unit) for x in quantities(sentence, 0, len(sentence), units)]


def test_thousands_separator_and_micro_sign(units):
    assert q("count 45,000/µL today", units) == [(45000.0, "/uL")]


def test_unit_glued_to_number(units):
    assert q("haemoglobin 9.1g/dL", units) == [(9.1, "g/dL")]


def test_molar_units_and_reference_range_skipped(units):
    assert q("sodium 128 mmol/L (135-145)", units) == [(128.0, "mmol/L")]
    assert q("marker 88 U/mL (normal <35 U/mL)", units) == [(88.0, "U/mL")]


def test_value_inside_parentheses_is_kept(units):
    assert q("raised AST (412 U/L)", units) == [(412.0, "U/L")]


def test_hyphenated_durations_are_not_values(units):
    assert q("a 4-week history", units) == []


def resolve_all(text: str) -> list[str]:
    anchor = None
    out = []
    for _, _, kind, raw in find_dates(text):
        iso, year = resolve_date(kind, raw, anchor)
        if year:
            anchor = year
        if iso:
            out.append(iso)
    return out


def test_partial_dates_take_the_last_absolute_year():
    text = "Symptoms began in August 2019. Surgery on Sep 3 and a scan on 28 Sept; seen again in December."
    assert resolve_all(text) == ["2019-08", "2019-09-03", "2019-09-28", "2019-12"]


def test_full_and_numeric_dates():
    assert resolve_all("admitted on 3 March 2021, discharged March 9, 2021") == ["2021-03-03", "2021-03-09"]
    assert resolve_all("scanned on 11/25/2019") == ["2019-11-25"]
    assert resolve_all("a biopsy on 2018-06-30") == ["2018-06-30"]


def test_partial_date_without_an_anchor_is_left_out():
    assert resolve_all("surgery on Oct 5") == []


def test_decimal_numbers_do_not_end_sentences():
    from fhirconv import extract_text

    ex = extract_text("A 9-year-old girl had fever (39.2 °C, at night) and a cough. Smears were clean.")
    temps = [f for f in ex.patients[0].facts if f.concept == "lab.temperature"]
    assert [t.attr("value") for t in temps] == [39.2] and temps[0].attr("unit") == "Cel"


def test_citation_number_after_a_full_stop_ends_the_sentence():
    from fhirconv.extract._text import Section, split_sentences

    text = "Such spread is rare in adults.4 Our patient had fever."
    sents = split_sentences(text, [Section("case", "", 0, len(text))])
    assert [s.text for s in sents] == ["Such spread is rare in adults.4", "Our patient had fever."]


def test_exponent_inside_a_unit_is_not_a_value(units):
    assert q("platelets 450 x10^3/µL", units) == [(450.0, "10*3/uL")]
    assert q("WBC 12.5 × 10^9/L", units)[0] == (12.5, "10*9/L")


def test_culture_result_names_the_organism():
    from fhirconv import extract_text

    ex = extract_text("A 30-year-old man had sepsis. Blood culture grew Klebsiella pneumoniae.")
    (culture,) = [f for f in ex.patients[0].facts if f.concept == "lab.blood_culture"]
    assert culture.attr("value") == "Klebsiella pneumoniae"


def _lab_values(text: str) -> dict[str, object]:
    from fhirconv import extract_text

    ex = extract_text(text)
    return {f.concept: f.attr("value") for f in ex.patients[0].facts if f.kind == "lab"}


def test_all_tests_negative_gives_its_result_to_the_tests_listed_just_before():
    labs = _lab_values("A 40-year-old man had jaundice. Serology for HBsAg, anti-HCV and HIV antibodies was sent, "
                       "together with a direct Coombs test. All of these tests were negative.")
    assert {k: labs.get(k) for k in ("lab.hbsag", "lab.hcv_ab", "lab.hiv", "lab.coombs")} == dict.fromkeys(
        ("lab.hbsag", "lab.hcv_ab", "lab.hiv", "lab.coombs"), "negative")


def test_a_test_named_in_the_except_clause_keeps_no_result():
    labs = _lab_values("A 40-year-old man had jaundice. HBsAg, anti-HCV and HIV serology were requested. "
                       "All results except HBsAg came back negative.")
    assert labs.get("lab.hcv_ab") == "negative" and labs.get("lab.hiv") == "negative"
    assert "lab.hbsag" not in labs


def test_all_tests_negative_reaches_back_one_sentence_only():
    labs = _lab_values("A 40-year-old man had jaundice. HBsAg and anti-HCV were requested. "
                       "He was given fluids. All tests were negative.")
    assert "lab.hbsag" not in labs and "lab.hcv_ab" not in labs


def test_all_were_negative_without_naming_the_tests():
    labs = _lab_values("A 40-year-old man had fever. HBsAg and anti-HCV were requested. All were negative.")
    assert labs.get("lab.hbsag") == "negative" and labs.get("lab.hcv_ab") == "negative"


def test_a_unit_ending_in_a_single_letter_ends_a_sentence():
    from fhirconv.extract._text import Section, split_sentences

    text = "Sodium was 128 mmol/L. Serum glucose was 6.2 mmol/L. J. Smith saw him."
    sents = split_sentences(text, [Section("case", "", 0, len(text))])
    assert [s.text for s in sents] == ["Sodium was 128 mmol/L.", "Serum glucose was 6.2 mmol/L.", "J. Smith saw him."]


def test_the_sample_named_before_a_test_decides_which_test_it_is():
    labs = _lab_values("A 7-year-old boy was admitted. Cerebrospinal fluid analysis showed glucose 1.1 mmol/L. "
                       "Serum glucose was 6.2 mmol/L. Blood cultures were sterile.")
    assert labs.get("lab.csf_glucose") == 1.1 and labs.get("lab.glucose_molar") == 6.2
    assert labs.get("lab.blood_culture") == "negative"


def test_a_daily_excretion_in_its_ucum_unit(units):
    assert q("urine protein 8.2 g/24 h", units) == [(8.2, "g/(24.h)")]
    assert q("proteinuria 350 mg/24 hours", units) == [(350.0, "mg/(24.h)")]
    assert q("3.5 g/day", units) == [(3.5, "g/d")]


@pytest.mark.parametrize("sentence,low,high", [
    ("calcium 3.1 mmol/L (2.1-2.6)", 2.1, 2.6),
    ("CEA 12 ng/mL (normal < 5)", None, 5.0),
    ("platelets 98 x10^9/L (reference range: 150 to 400)", 150.0, 400.0),
    ("ferritin 14 ng/mL (N > 30)", 30.0, None),
])
def test_reference_range_after_a_value(sentence, low, high, units):
    (found,) = [x for x in quantities(sentence, 0, len(sentence), units) if x.unit]
    assert (found.low, found.high) == (low, high)


def test_serial_values_keep_the_unit_and_their_order():
    from fhirconv import extract_text
    ex = extract_text("A 70-year-old man was confused. His sodium was 116 mmol/L on admission, "
                      "rose to 124 by the next morning and was 131 on discharge.")
    values = [f.attr("value") for f in ex.patients[0].facts if f.kind == "lab" and f.attr("unit") == "mmol/L"]
    assert values[:2] == [116, 124]


@pytest.mark.parametrize("sentence,expected", [
    ("direct bilirubin 13·7 µmol/L", [(13.7, "umol/L")]),           # a middle dot as decimal point
    ("alkaline phosphatase 3·43 μkat/L", [(3.43, "ukat/L")]),
    ("fever up to 39.3℃", [(39.3, "Cel")]),
    ("fever up to 39oC", [(39.0, "Cel")]),
    ("temperature 38.8 °C (101.9 °F)", [(38.8, "Cel")]),             # the same value converted
])
def test_numbers_and_units_as_journals_print_them(sentence, expected, units):
    assert q(sentence, units) == expected


def test_dates_the_calendar_does_not_have_are_no_dates():
    assert resolve_all("seen on 31 April 2020, again on 29 Feb 2021 and on 10/89/1930") == []
    assert resolve_all("born 29 February 2020; the ward since 2000-13-02") == ["2020-02-29"]


def test_a_run_of_text_without_stops_is_cut_into_bounded_pieces_at_commas():
    from fhirconv import extract_text
    from fhirconv.extract._text import MAX_SENTENCE, Section, split_sentences

    row = "day {n} haemoglobin {n}.1 g/dl, platelets normal, no fever, "
    text = "".join(row.format(n=n % 9 + 1) for n in range(120)) + "and she then had a cough"
    sents = split_sentences(text, [Section("case", "", 0, len(text))])
    assert len(sents) > 1 and all(len(s.text) <= MAX_SENTENCE for s in sents)
    assert all(s.text.endswith(",") for s in sents[:-1])                  # cut after a comma, not mid-word
    assert "".join(s.text for s in sents).replace(" ", "") == text.replace(" ", "")    # nothing lost
    facts = extract_text("A 61-year-old woman was admitted. " + text).patients[0].facts
    status = {f.concept: f.assertion.value for f in facts}
    assert status.get("finding.cough") == "present" and status.get("finding.fever") == "negated"


def test_a_number_that_is_part_of_a_name_is_no_value():
    from fhirconv import extract_text
    ex = extract_text("A 50-year-old woman had weight loss. Tests included ferritin, HIV-1 and COVID-19 PCR.")
    assert not [f for f in ex.patients[0].facts if f.kind == "lab" and f.attr("value") in (1, 19)]


@pytest.mark.parametrize("sentence", [
    "Ferritin is an acute phase reactant (12).",
    "Ferritin is an acute phase reactant [ 3 , 4 ].",
    "Ferritin is an acute phase reactant (5–7).",
])
def test_a_citation_in_brackets_is_no_value(sentence):
    from fhirconv import extract_text
    ex = extract_text("A 50-year-old woman had fatigue. " + sentence)
    assert not [f for f in ex.patients[0].facts if f.kind == "lab" and f.attr("value") is not None]


def test_a_value_with_its_range_in_brackets_is_kept():
    from fhirconv import extract_text
    ex = extract_text("A 50-year-old woman had fatigue. Ferritin was 8 (15-150) ng/mL.")
    assert [f.attr("value") for f in ex.patients[0].facts if f.kind == "lab"] == [8.0]
