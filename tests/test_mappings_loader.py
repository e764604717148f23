"""The mappings loader and the dictionary matcher, on small tables written for these tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from fhirconv.errors import MappingsError
from fhirconv.mappings import Concept, Matcher, load, read_table
from fhirconv.mappings_check import check

HEADER = "key\tsystem\tcode\tdisplay\tterms\tattrs\tsource\n"


def concept(key: str, *terms: str) -> Concept:
    return Concept(key, "", "", key, terms, (), "", "t.tsv", 2)


def found(matcher: Matcher, text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(text[m.start:m.end], m.keys) for m in matcher.find(text)]


def test_whole_words_plurals_and_hyphens():
    m = Matcher([concept("finding.lump", "breast lump"), concept("disorder.ca", "cancer")])
    assert found(m, "two breast-lumps; cancers; precancerous") == [
        ("breast-lumps", ("finding.lump",)), ("cancers", ("disorder.ca",))]


def test_abbreviations_match_only_in_capitals():
    m = Matcher([concept("disorder.all", "ALL"), concept("modality.us", "US")])
    assert found(m, "all of us had ALL; US done") == [("ALL", ("disorder.all",)), ("US", ("modality.us",))]


def test_best_cover_prefers_more_text_over_leftmost():
    m = Matcher([concept("finding.tender", "tender"), concept("finding.tb", "tender breast"),
                 concept("finding.lump", "breast lump")])
    assert found(m, "a non-tender breast lump") == [("tender", ("finding.tender",)), ("breast lump", ("finding.lump",))]


def test_offsets_survive_normalisation():
    m = Matcher([concept("finding.x", "night sweats")])
    text = "had  Night\nSweats’ daily"
    (hit,) = m.find(text)
    assert text[hit.start:hit.end] == "Night\nSweats"


def test_overlay_replaces_and_adds(tmp_path: Path):
    (tmp_path / "mine.tsv").write_text(HEADER + "finding.fever\t\t\tPyrexia (local)\tpyrexia\t\tlocal\n"
                                       "finding.new_thing\t\t\tNew thing\tnew thing\t\tlocal\n", encoding="utf-8")
    base = load()
    maps = load(tmp_path)
    assert maps["finding.fever"].display == "Pyrexia (local)" and "finding.new_thing" in maps.concepts
    assert base["finding.fever"].display != "Pyrexia (local)"


@pytest.mark.parametrize("row, message", [
    ("finding.x\tsnowmed\t1\tX\tx\t\t\n", "unknown system"),
    ("finding.x\tsct\t\tX\tx\t\t\n", "system and code must be given together"),
    ("nodot\t\t\tX\tx\t\t\n", "must look like category.name"),
    ("finding.x\t\t\tX\tx\tbroken\t\n", "not name=value"),
])
def test_malformed_rows_name_file_and_line(tmp_path: Path, row: str, message: str):
    path = tmp_path / "bad.tsv"
    path.write_text(HEADER + row, encoding="utf-8")
    with pytest.raises(MappingsError, match=rf"bad.tsv:2: .*{message}"):
        list(read_table(path))


def test_check_reports_every_problem_at_once(tmp_path: Path):
    (tmp_path / "a.tsv").write_text(HEADER + "finding.a\tsct\t129766003\tA\ta\t\t\n"
                                    "finding.b\tloinc\t718-8\tB\tb\t\t\n"
                                    "finding.c\t\t\tC\tc\tsite=body_site.nowhere\t\n"
                                    "finding.a\t\t\tA again\ta2\t\t\n", encoding="utf-8")
    problems = [str(p) for p in check(tmp_path)]
    assert any("a.tsv:2" in p and "Verhoeff" in p for p in problems)
    assert any("a.tsv:3" in p and "check digit" in p for p in problems)
    assert any("a.tsv:4" in p and "body_site.nowhere" in p for p in problems)
    assert any("a.tsv:5" in p and "already on line 2" in p for p in problems)


def test_shipped_mappings_have_no_problems():
    assert [str(p) for p in check()] == []
