"""Checks of mapping folders (``fhirconv mappings check``) and phrase look-ups (``fhirconv mappings lookup``).

Reports every problem at once, each with file and line, instead of stopping at the first.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import MappingsError
from .mappings import (
    COLUMNS,
    SAFE_LOADER,
    SYSTEMS,
    Concept,
    Mappings,
    default_folder,
    norm_term,
    read_table,
    read_text_file,
)
from .validate._terminology import dicom_problem, loinc_problem, sctid_problem

# attrs whose value names another concept
REFERENCE_ATTRS = {"site": "body_site.", "secondary": "disorder.", "parent": "body_site.", "broader": "",
                   "absent": "finding."}
KNOWN_ATTRS = {
    "neoplasm", "site", "sites", "absent", "secondary", "parent", "paired", "laterality", "class", "kind", "broader",
    "analyte",
    "units", "unit", "value", "category", "dim", "hybrid", "brand", "route", "panel", "component", "note",
    "region", "type", "group", "system_name", "specimen", "components", "sample", "generated", "refers",
    "lexicon",
}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def check(*folders: str | Path) -> list[Problem]:
    """Every problem in the given folders (the shipped defaults when none given), overlays applied in order."""
    dirs = [Path(f) for f in folders] or [default_folder()]
    problems: list[Problem] = []
    concepts: dict[str, Concept] = {}
    for folder in dirs:
        if not folder.is_dir():
            problems.append(Problem(str(folder), 0, "not a folder"))
            continue
        for path in sorted(folder.glob("*.tsv")):
            problems += _check_table(path, concepts)
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = yaml.load(read_text_file(path), Loader=SAFE_LOADER)
            except MappingsError as exc:
                problems.append(_problem_of(path, exc))
                continue
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                problems.append(Problem(path.name, (mark.line + 1) if mark else 0, f"not valid YAML: {exc}"))
                continue
            if not isinstance(data, dict):
                problems.append(Problem(path.name, 1, "must hold a mapping at the top level"))
    terms: dict[tuple[str, str], Concept] = {}
    for c in concepts.values():
        for attr, prefix in REFERENCE_ATTRS.items():
            target = c.attr(attr)
            if target and (target not in concepts or not target.startswith(prefix)):
                problems.append(Problem(c.file, c.line, f"{attr}={target} names no {prefix or 'known '}concept"))
        for term in c.terms:
            key = (c.category, norm_term(term))
            other = terms.get(key)
            if other is not None and other.key != c.key and (other.system, other.code) != (c.system, c.code) \
                    and c.category not in ("lab",):
                problems.append(Problem(c.file, c.line, f"term {term!r} also names {other.key} "
                                                        f"({other.file}:{other.line}) with another code"))
            terms.setdefault(key, c)
    return sorted(problems, key=lambda p: (p.file, p.line, p.message))


def _problem_of(path: Path, exc: MappingsError) -> Problem:
    """The Problem of a file the loader refused ("<path>:<line>: <message>")."""
    m = re.match(rf"{re.escape(str(path))}(?::(\d+))?: (.*)", str(exc), re.S)
    return Problem(path.name, int(m.group(1) or 0), m.group(2)) if m else Problem(path.name, 0, str(exc))


def _check_table(path: Path, concepts: dict[str, Concept]) -> list[Problem]:
    out: list[Problem] = []
    try:
        text = read_text_file(path)
    except MappingsError as exc:
        return [_problem_of(path, exc)]
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(h.strip() for h in rows[0][: len(COLUMNS)]) != COLUMNS:
        return [Problem(path.name, 1, f"header must be {' '.join(COLUMNS)} (tab-separated)")]
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if len(row) > len(COLUMNS):
            out.append(Problem(path.name, lineno, f"{len(row)} columns, expected {len(COLUMNS)} (a stray tab?)"))
        key, system, code = (row + [""] * 3)[:3]
        if key in seen:
            out.append(Problem(path.name, lineno, f"key {key} already on line {seen[key]}"))
        seen[key] = lineno
        if system not in SYSTEMS:
            out.append(Problem(path.name, lineno, f"unknown system {system!r} (use sct, loinc, dicom, ucum)"))
            continue
        problem = None
        if system == "sct" and code:
            problem = sctid_problem(code)
        elif system == "loinc" and code:
            problem = loinc_problem(code)
        elif system == "dicom" and code:
            problem = dicom_problem(code, True)
        if problem:
            out.append(Problem(path.name, lineno, f"code {code}: {problem}"))
    try:
        for c in read_table(path):
            for name, _ in c.attrs:
                if name not in KNOWN_ATTRS:
                    out.append(Problem(c.file, c.line, f"unknown attribute {name!r}"))
            if not c.terms and c.category not in ("observation", "report", "document", "qualifier"):
                out.append(Problem(c.file, c.line, f"{c.key} has no terms: the extractor can never find it"))
            concepts[c.key] = c
    except MappingsError as exc:
        msg = str(exc)
        where, _, rest = msg.partition(": ")
        line = int(where.rsplit(":", 1)[1]) if ":" in where and where.rsplit(":", 1)[1].isdigit() else 0
        out.append(Problem(path.name, line, rest or msg))
    return out


def lookup(mappings: Mappings, phrase: str) -> list[tuple[str, Concept, str]]:
    """What each term found in ``phrase`` maps to: (matched text, concept, why)."""
    cats = sorted({c.category for c in mappings.concepts.values()})
    found = []
    for m in mappings.matcher(*cats).find(phrase):
        for key in m.keys:
            c = mappings[key]
            why = f"term {m.term!r} in {c.file}:{c.line}"
            if not c.coded:
                broader = c.attr("broader")
                why += f"; no confirmed code{f', coded by broader {broader}' if broader else ' (text only)'}"
            found.append((phrase[m.start:m.end], c, why))
    return found
