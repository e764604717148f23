"""Checks of mapping folders (``fhirconv mappings check``) and phrase look-ups (``fhirconv mappings lookup``).

Reports every problem at once, each with file and line, instead of stopping at the first.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    read_text_file,
    table_rows,
)
from .validate._terminology import dicom_problem, loinc_problem, sctid_problem

# attrs whose value names another concept
REFERENCE_ATTRS = {"site": "body_site.", "secondary": "disorder.", "parent": "body_site.", "broader": "",
                   "absent": "finding.", "morphology": "morphology."}
KNOWN_ATTRS = {
    "neoplasm", "site", "sites", "absent", "secondary", "parent", "paired", "laterality", "class", "kind", "broader",
    "analyte", "implied_unit",
    "units", "unit", "value", "category", "dim", "hybrid", "brand", "route", "panel", "component", "note",
    "region", "type", "group", "system_name", "specimen", "components", "sample", "generated", "refers",
    "lexicon", "morphology",
}


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def check(*overlays: str | Path, compile_rules: bool = True) -> list[Problem]:
    """Every problem in the shipped mappings and the given overlay folders, applied in that order (what
    ``--mappings`` loads). An overlay is checked against the shipped files: its rows may name shipped
    concepts, its YAML keys must have the shipped types, and a term it gives a new code is its documented
    override, not a conflict; then (``compile_rules``) the merged rules are compiled and tried on a test
    text as conversion does (a pattern that does not compile or lacks its groups). Each problem is
    reported once."""
    problems = _check(*overlays)
    if compile_rules and overlays and not problems:
        from .mappings import load
        from .pipeline import Pipeline

        try:
            Pipeline(load(*overlays))      # compiles the rules and converts a test text with them
        except MappingsError as exc:
            problems.append(Problem(str(overlays[-1]), 0, str(exc)))
    return problems


def _check(*overlays: str | Path) -> list[Problem]:
    base = default_folder()
    dirs = [base] + [Path(f) for f in overlays if Path(f).resolve() != base.resolve()]
    problems: list[Problem] = []
    concepts: dict[str, Concept] = {}
    layer_of: dict[str, int] = {}
    shipped_cats: dict[str, set[str]] = {}
    shipped_rules: dict[str, Any] = {}
    for layer, folder in enumerate(dirs):
        if not folder.is_dir():
            problems.append(Problem(str(folder), 0, "not a folder"))
            continue
        for path in sorted(folder.glob("*.tsv")):
            rows = _check_table(path, problems)
            if layer == 0:
                shipped_cats[path.name] = {c.category for c in rows}
            else:
                problems += _check_categories(path, rows, shipped_cats)
            for c in rows:
                concepts[c.key] = c
                layer_of[c.key] = layer
        for path in sorted(folder.glob("*.yaml")):
            data = _check_yaml(path, problems, None if layer == 0 else shipped_rules)
            if layer == 0 and data is not None:
                shipped_rules[path.stem] = data
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
                    and c.category not in ("lab",) and layer_of[other.key] == layer_of[c.key]:
                problems.append(Problem(c.file, c.line, f"term {term!r} also names {other.key} "
                                                        f"({other.file}:{other.line}) with another code"))
            terms.setdefault(key, c)
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.message))


def _check_categories(path: Path, rows: list[Concept], shipped: dict[str, set[str]]) -> list[Problem]:
    """An overlay row whose category is unknown, or not the one its (shipped) file name holds."""
    known = set().union(*shipped.values()) if shipped else set()
    out = []
    for c in rows:
        if c.category not in known:
            out.append(Problem(c.file, c.line, f"unknown category {c.category!r} in key {c.key}; "
                                               f"use one of {', '.join(sorted(known))}"))
        elif path.name in shipped and c.category not in shipped[path.name]:
            home = sorted(f for f, cats in shipped.items() if c.category in cats)
            out.append(Problem(c.file, c.line, f"key {c.key} is a {c.category} but {path.name} holds "
                                               f"{', '.join(sorted(shipped[path.name]))} rows; move it to "
                                               f"{' or '.join(home)}"))
    return out


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "empty"}.get(type(value), type(value).__name__)


def _check_yaml(path: Path, problems: list[Problem], shipped: dict[str, Any] | None) -> dict[str, Any] | None:
    """A rule file's problems; for an overlay (``shipped`` given), unknown files and keys and values of
    another type than the shipped file's (the overlay's top-level keys replace the shipped ones)."""
    try:
        text = read_text_file(path)
        data = yaml.load(text, Loader=SAFE_LOADER)
    except MappingsError as exc:
        problems.append(_problem_of(path, exc))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(path.name, (mark.line + 1) if mark else 0, f"not valid YAML: {exc}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path.name, 1, "must hold a mapping at the top level"))
        return None
    if shipped is None:
        return data
    if path.stem not in shipped:
        problems.append(Problem(path.name, 1, f"fhirconv reads no rule file {path.name}; use one of "
                                              f"{', '.join(sorted(f'{k}.yaml' for k in shipped))}"))
        return data
    lines = _node_lines(text)
    for key, value in data.items():
        line = lines.get((str(key),), 1)
        if key not in shipped[path.stem]:
            problems.append(Problem(path.name, line, f"unknown key {key!r}: fhirconv reads no such rule in "
                                                     f"{path.name}"))
            continue
        if value is None:
            problems.append(Problem(path.name, line, f"{key} is empty: give it a value (an empty list [] "
                                                     "or mapping {} where the shipped one is a list or mapping)"))
            continue
        for where, want, got in _shape(value, shipped[path.stem][key], (str(key),)):
            shown = ".".join(where[:1]) + "".join(f"[{w}]" if w.isdigit() else f".{w}" for w in where[1:])
            hint = (" (quote it: YAML reads yes/no/true/false/on/off unquoted as true/false)" if isinstance(got, bool)
                    else " (give a value, or remove the line)" if got is None else "")
            problems.append(Problem(path.name, _line_of(lines, where), f"{shown} must be {want} (as in the "
                                                                       f"shipped {path.name}), not "
                                                                       f"{_type_name(got)}{hint}"))
    return data


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "bool" if isinstance(value, bool) else "null"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _shape(value: Any, want: Any, where: tuple[str, ...]) -> list[tuple[tuple[str, ...], str, Any]]:
    """Where ``value`` differs in type from the shipped ``want``, recursively: a list's items are
    held to the shipped items' types, a mapping's values to the shipped value under the same key
    (or, for a key the shipped mapping lacks, to its values' type when they all share one)."""
    if _kind(value) != _kind(want):
        return [(where, _type_name(want), value)]
    out: list[tuple[tuple[str, ...], str, Any]] = []
    if isinstance(value, list) and want:
        kinds = {_kind(w): w for w in want}
        for i, item in enumerate(value):
            model = kinds.get(_kind(item))
            if model is None:
                names = " or ".join(sorted({_type_name(w) for w in kinds.values()}))
                out.append(((*where, str(i)), names, item))
            else:
                out.extend(_shape(item, model, (*where, str(i))))
    elif isinstance(value, dict) and want:
        shared = {_kind(w) for w in want.values()}
        for key, item in value.items():
            model = want.get(key, next(iter(want.values())) if len(shared) == 1 else None)
            if model is not None:
                out.extend(_shape(item, model, (*where, str(key))))
    return out


def _node_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of every key and list item of a YAML document, by its path."""
    try:
        root = yaml.compose(text, Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                out[(*where, str(k.value))] = k.start_mark.line + 1
                stack.append((v, (*where, str(k.value))))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                out[(*where, str(i))] = v.start_mark.line + 1
                stack.append((v, (*where, str(i))))
    return out


def _line_of(lines: dict[tuple[str, ...], int], where: tuple[str, ...]) -> int:
    while where and where not in lines:
        where = where[:-1]
    return lines.get(where, 1)


def _problem_of(path: Path, exc: MappingsError) -> Problem:
    """The Problem of a file the loader refused ("<path>:<line>: <message>" or "<name>:<line>: ...")."""
    for prefix in (str(path), path.name):
        m = re.match(rf"{re.escape(prefix)}(?::(\d+))?: (.*)", str(exc), re.S)
        if m:
            return Problem(path.name, int(m.group(1) or 0), m.group(2))
    return Problem(path.name, 0, str(exc))


def _check_table(path: Path, problems: list[Problem]) -> list[Concept]:
    """The rows of one table that parse; each problem of the table appended once, with its line."""
    out: list[Problem] = []
    try:
        text = read_text_file(path)
    except MappingsError as exc:
        problems.append(_problem_of(path, exc))
        return []
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(h.strip() for h in rows[0][: len(COLUMNS)]) != COLUMNS:
        problems.append(Problem(path.name, 1, f"header must be {' '.join(COLUMNS)} (tab-separated)"))
        return []
    seen: dict[str, int] = {}
    bad_lines: set[int] = set()
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if len(row) > len(COLUMNS):
            out.append(Problem(path.name, lineno, f"{len(row)} columns, expected {len(COLUMNS)} (a stray tab?)"))
        key, system, code = (x.strip() for x in (row + [""] * 3)[:3])
        if key in seen:
            out.append(Problem(path.name, lineno, f"key {key} already on line {seen[key]}"))
        seen[key] = lineno
        if system not in SYSTEMS:
            out.append(Problem(path.name, lineno, f"unknown system {system!r} (use sct, loinc, dicom, ucum)"))
            bad_lines.add(lineno)
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
        display = row[3].strip() if len(row) > 3 else ""
        if system and code and not display:
            out.append(Problem(path.name, lineno, f"code {code} has no display: give the code system's term "
                                                  "(a Coding's display cannot be empty)"))
    concepts: list[Concept] = []
    for item in table_rows(path):
        if isinstance(item, MappingsError):
            p = _problem_of(path, item)
            if p.line not in bad_lines:
                out.append(p)
            continue
        c = item
        for name, _ in c.attrs:
            if name not in KNOWN_ATTRS:
                out.append(Problem(c.file, c.line, f"unknown attribute {name!r}"))
        if not c.terms and c.category not in ("observation", "report", "document", "qualifier"):
            out.append(Problem(c.file, c.line, f"{c.key} has no terms: the extractor can never find it"))
        concepts.append(c)
    problems.extend(out)
    return concepts


def lookup(mappings: Mappings, phrase: str) -> list[tuple[str, Concept, str]]:
    """What each term found in ``phrase`` maps to: (matched text, concept, why), the row the extractor
    reads first and marked "wins", then the rows it passes over, each saying to which and why."""
    cats = sorted({c.category for c in mappings.concepts.values()})
    found = []
    for m in mappings.matcher(*cats).find(phrase):
        text = phrase[m.start:m.end]
        winner = mappings.preferred(m.keys)
        w = mappings[winner]
        for key in sorted(m.keys, key=lambda k: (k != winner, k)):
            c = mappings[key]
            why = f"term {m.term!r} in {c.file}:{c.line}"
            if not c.coded:
                broader = c.attr("broader")
                why += f"; no confirmed code{f', coded by broader {broader}' if broader else ' (text only)'}"
            labs = [k for k in m.keys if k.startswith("lab.")]
            if c.category == "lab" and winner.startswith("lab.") and len(labs) > 1:
                why = f"one of {len(labs)} lab rows: the result's unit and sample choose; " + why
            elif len(m.keys) > 1:
                why = ("wins: " if key == winner else f"loses to {winner}: {_reason(w, c)}; ") + why
            found.append((text, c, why))
        claim = mappings.claimed.get(m.term)
        if claim is None:
            continue
        owner = mappings[claim[0]]
        for key in claim[1]:
            lost = mappings.get(key)
            if lost is not None and key not in m.keys:
                found.append((text, lost, f"overridden: the overlay row {owner.key} ({owner.file}:{owner.line}) "
                                          f"claims the term {m.term!r}"))
    return found


def _reason(winner: Concept, loser: Concept) -> str:
    if winner.category != loser.category:
        return f"a {winner.category} is read before a {loser.category}"
    if winner.coded and not loser.coded:
        return "a coded row is read before a text-only one"
    return "the first key in order is read"
