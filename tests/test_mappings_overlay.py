"""Overlays: an overlay row claims its terms, `mappings check` and the loader catch what a user's folder
gets wrong (file, category, YAML type, code), and `mappings lookup` says which row wins and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirconv import extract_text
from fhirconv.errors import MappingsError
from fhirconv.mappings import load
from fhirconv.mappings_check import check, lookup

HEADER = "key\tsystem\tcode\tdisplay\tterms\tattrs\tsource\n"
INTRO = "A 52-year-old woman presented to the clinic. "


def _overlay(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return folder


def test_an_overlay_row_wins_its_term_whatever_its_key(tmp_path: Path):
    shipped = load()
    cough = next(c for c in shipped.category("finding") if "cough" in c.terms)
    over = _overlay(tmp_path / "o", findings__tsv=HEADER + "finding.my_cough\t\t\tCough (local)\tcough\t\tlocal\n")
    maps = load(over)
    hits = [m.keys for m in maps.matcher("finding").find("She had a cough at night.")]
    assert hits == [("finding.my_cough",)]
    assert "cough" not in maps[cough.key].terms and maps.claimed["cough"] == ("finding.my_cough", (cough.key,))
    ex = extract_text(INTRO + "She reported a cough for two weeks.", mappings=maps)
    assert "finding.my_cough" in {f.concept for f in ex.patients[0].facts}
    assert cough.key not in {f.concept for f in ex.patients[0].facts}
    assert "cough" in shipped[cough.key].terms          # the shipped mappings are untouched


def test_an_overlay_term_in_another_category_also_wins(tmp_path: Path):
    over = _overlay(tmp_path / "o", disorders__tsv=HEADER + "disorder.local_fever\t\t\tFever (local)\tfever\t\t\n")
    maps = load(over)
    keys = {k for m in maps.matcher("disorder", "finding").find("a high fever") for k in m.keys}
    assert keys == {"disorder.local_fever"}


def test_lookup_says_which_row_wins_and_why(tmp_path: Path):
    over = _overlay(tmp_path / "o", findings__tsv=HEADER + "finding.my_cough\t\t\tCough (local)\tcough\t\tlocal\n")
    rows = lookup(load(over), "a cough")
    assert rows[0][1].key == "finding.my_cough"
    assert any(why.startswith("overridden: the overlay row finding.my_cough") for _, _, why in rows[1:])
    # a term naming a disorder and a finding (no overlay): the disorder is read
    two = _overlay(tmp_path / "t", findings__tsv=HEADER + "finding.blorp\t\t\tBlorp\tblorp\t\t\n",
                   disorders__tsv=HEADER + "disorder.blorp\t\t\tBlorp disease\tblorp disease|blorp\t\t\n")
    rows = lookup(load(two), "blorp")
    assert [(c.key, why.split(":")[0]) for _, c, why in rows] == [("disorder.blorp", "wins"),
                                                                 ("finding.blorp", "loses to disorder.blorp")]
    assert "a disorder is read before a finding" in rows[1][2]


def test_check_of_an_overlay_alone_reads_it_against_the_shipped_files(tmp_path: Path):
    over = _overlay(tmp_path / "o", findings__tsv=HEADER + "finding.foo\t\t\tFoo\tfoo thing\tsite=body_site.breast\t\n")
    assert [str(p) for p in check(over)] == []


def test_check_catches_what_an_overlay_gets_wrong_each_once(tmp_path: Path):
    over = _overlay(
        tmp_path / "o",
        disorders__tsv=HEADER + "finding.cough_x\t\t\tCough\tcoughing fit\t\t\n"
                                "disorder.q\tsnomed\t123\tQ\tqq\t\t\n"
                                "disorder.five\tsct\t12345\tFive\tfivey\t\t\n"
                                "foo.bar\t\t\tBar\tbar\t\t\n",
        sections__yaml="headings: 5\nsections: [1]\n",
        other__yaml="x: 1\n")
    problems = [str(p) for p in check(over)]
    assert problems == [
        "disorders.tsv:2: key finding.cough_x is a finding but disorders.tsv holds disorder rows; "
        "move it to findings.tsv",
        "disorders.tsv:3: unknown system 'snomed' (use sct, loinc, dicom, ucum)",
        "disorders.tsv:4: code 12345: a SNOMED CT concept id has 6-18 digits, not 5",
        problems[3],
        problems[4],
        "sections.yaml:1: headings must be a list (as in the shipped sections.yaml), not a number",
        "sections.yaml:2: unknown key 'sections': fhirconv reads no such rule in sections.yaml",
    ]
    assert problems[3].startswith("disorders.tsv:5: unknown category 'foo'")
    assert problems[4].startswith("other.yaml:1: fhirconv reads no rule file other.yaml")


def test_two_overlay_rows_giving_one_term_two_codes_conflict(tmp_path: Path):
    over = _overlay(tmp_path / "o", findings__tsv=HEADER + "finding.a1\tsct\t49727002\tCough\tzork\t\t\n"
                                                          "finding.a2\tsct\t386661006\tFever\tzork\t\t\n")
    assert any("term 'zork' also names finding.a1" in str(p) for p in check(over))


@pytest.mark.parametrize("files, message", [
    ({"disorders__tsv": HEADER + "disorder.five\tsct\t12345\tFive\tfivey\t\t\n"}, "6-18 digits"),
    ({"sections__yaml": "headings: 5\n"}, "headings must be a list"),
    ({"disorders__tsv": HEADER + "finding.x\t\t\tX\txx\t\t\n"}, "move it to findings.tsv"),
])
def test_loading_a_bad_overlay_is_a_mappings_error(tmp_path: Path, files: dict[str, str], message: str):
    with pytest.raises(MappingsError, match=message):
        load(_overlay(tmp_path / "o", **files))


def test_check_holds_every_item_and_nested_value_to_the_shipped_types(tmp_path: Path):
    over = _overlay(tmp_path / "o",
                    sections__yaml="headings:\n  - kind: case\n    pattern: '^my case$'\n  - just a string\n",
                    subject__yaml="deceased:\n  - '\\bdied\\b'\n  -\n  - yes\n",
                    lab_names__yaml="samples:\n  blood: '\\bblood\\b'\n  bile: 5\n")
    problems = [str(p) for p in check(over)]
    assert "sections.yaml:4: headings[1] must be a mapping (as in the shipped sections.yaml), not a string" in problems
    assert any(p.startswith("subject.yaml:3: deceased[1] must be a string") and "give a value" in p for p in problems)
    assert any(p.startswith("subject.yaml:4: deceased[2] must be a string") and "quote it" in p for p in problems)
    assert any(p.startswith("lab_names.yaml:3: samples.bile must be a string") for p in problems)
    assert len(problems) == 4
    with pytest.raises(MappingsError, match="headings"):
        load(over)


def test_an_overlay_pattern_that_does_not_compile_is_a_mappings_error_before_any_document(tmp_path: Path):
    from fhirconv.pipeline import Pipeline

    over = _overlay(tmp_path / "o", sections__yaml="headings:\n  - kind: case\n    pattern: '^(case'\n",
                    context__yaml="general:\n  - '[a-'\n")
    problems = [str(p) for p in check(over)]
    assert len(problems) == 1 and "does not compile" in problems[0] and "'^(case'" in problems[0]
    with pytest.raises(MappingsError, match="does not compile"):
        Pipeline(load(over))


def test_an_overlay_mapping_merges_into_the_shipped_one_and_empty_values_are_refused(tmp_path: Path):
    over = _overlay(tmp_path / "o", templates__yaml="narrative:\n  Condition: '{code} (overlay).'\n")
    maps = load(over)
    assert maps.rules["templates"]["narrative"]["Condition"] == "{code} (overlay)."
    assert "DiagnosticReport" in maps.rules["templates"]["narrative"]          # the rest is kept
    empty = _overlay(tmp_path / "e", templates__yaml="clinical_status: null\n")
    assert any("clinical_status is empty" in str(p) for p in check(empty))
    nodisplay = _overlay(tmp_path / "d", findings__tsv=HEADER + "finding.zz\tsct\t49727002\t\tzz thing\t\t\n")
    assert any("has no display" in str(p) for p in check(nodisplay))


def test_an_overlay_that_breaks_conversion_is_a_mappings_error_before_any_document(tmp_path: Path):
    from fhirconv.pipeline import Pipeline

    over = _overlay(tmp_path / "o", subject__yaml="age:\n  - 'no'\n")         # an age pattern without its groups
    with pytest.raises(MappingsError, match="conversion fails on a test text"):
        Pipeline(load(over))
    assert any("conversion fails on a test text" in str(p) for p in check(over))
