#!/usr/bin/env python3
"""Check the concept tables in ``mappings/*.tsv`` before they ship.

Always (no network, standard library only):

* header ``key system code display terms attrs source`` and one key per row;
* a key's category matches its file (``disorders.tsv`` holds ``disorder.*`` ...);
* ``system`` and ``code`` are given together; a coded row has a display and a source;
* SNOMED CT ids: 6-18 digits, concept partition (``00``/``10``), Verhoeff check digit;
* LOINC codes: ``NNNNN-C`` with the mod-10 check digit;
* DICOM modality codes: upper-case letters/digits; UCUM codes: non-empty, no spaces,
  balanced brackets and braces, only printable ASCII;
* ``attrs`` are ``name=value`` pairs with names the package knows (``fhirconv.mappings_check.KNOWN_ATTRS``
  when importable), and attrs naming another concept (``site``, ``secondary``, ``parent``, ``broader``,
  ``components``) point at an existing key; a text-only row with ``broader=`` points at a coded row;
* every concept row has terms (the extractor can never find a row without any);
* terms: no term (after the matcher's normalisation) names two different codes within one
  category, unless the rows are lab rows of the same ``analyte`` (same test, other property);
  a term written in capitals (matched case-sensitively) and one written otherwise must not
  normalise to the same string (the capitals would silently block the other spelling);
  the same term in two categories of the main matcher is reported too.

With the reference lists (``../shared/terminology/`` beside the repository, or ``--reference DIR``):
every coded SNOMED CT, LOINC and DICOM row is run through ``verify_codes.Reference.check``
(code in the primary lists, display one of the known terms); each row that is not
CONFIRMED is printed. Exit status 1 on any problem.

    python3 scripts/verify_mappings.py [--mappings DIR] [--reference DIR] [-q]
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("key", "system", "code", "display", "terms", "attrs", "source")
SYSTEMS = ("sct", "loinc", "dicom", "ucum", "")
FILE_CATEGORY = {
    "disorders.tsv": "disorder", "findings.tsv": "finding", "body_sites.tsv": "body_site",
    "qualifiers.tsv": "qualifier", "labs.tsv": "lab", "labs_loinc.tsv": "lab", "modalities.tsv": "modality",
    "procedures.tsv": "procedure", "medications.tsv": "medication", "units.tsv": "unit",
}
# categories whose terms are scanned together in running text (units are read after numbers only,
# body sites by their own matcher)
TEXT_CATEGORIES = {"disorder", "finding", "qualifier", "lab", "modality", "procedure", "medication"}
# categories whose rows need no terms (looked up by key, never found in text)
KEY_ONLY_CATEGORIES = {"observation", "report", "document", "qualifier"}
# attrs whose value is the key (or comma-separated keys) of another row, with the category it must have
LINK_ATTRS = {"site": "body_site", "secondary": "disorder", "parent": "body_site", "broader": None,
              "components": "lab"}
KNOWN_ATTRS_FALLBACK = {
    "neoplasm", "site", "secondary", "parent", "paired", "laterality", "class", "kind", "broader", "analyte",
    "units", "unit", "value", "category", "dim", "hybrid", "brand", "route", "panel", "component", "components",
    "note", "region", "type", "group", "system_name", "specimen", "sample", "generated", "refers",
}

# --- check digits -------------------------------------------------------------------------
_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def verhoeff_ok(digits: str) -> bool:
    """True when the Verhoeff check digit (the last digit) of ``digits`` is right."""
    if not digits.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def sctid_ok(code: str) -> bool:
    """A SNOMED CT concept id: 6-18 digits, no leading zero, partition 00 or 10, Verhoeff digit."""
    return (re.fullmatch(r"[1-9]\d{5,17}", code) is not None
            and code[-3:-1] in ("00", "10") and verhoeff_ok(code))


def loinc_ok(code: str) -> bool:
    """A LOINC code NNNNN-C whose check digit C is the mod-10 (Luhn-style) digit of NNNNN."""
    m = re.fullmatch(r"(\d{1,7})-(\d)", code)
    if not m:
        return False
    total = 0
    for i, ch in enumerate(reversed(m.group(1))):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n // 10 + n % 10
    return (10 - total % 10) % 10 == int(m.group(2))


def dicom_ok(code: str) -> bool:
    return re.fullmatch(r"[A-Z][A-Z0-9]{1,15}", code) is not None


def ucum_ok(code: str) -> bool:
    """Light UCUM syntax check: printable ASCII, no spaces, balanced [] and {}."""
    if not code or any(ch.isspace() for ch in code) or not all(33 <= ord(ch) < 127 for ch in code):
        return False
    depth = {"[": 0, "{": 0}
    pairs = {"]": "[", "}": "{"}
    for ch in code:
        if ch in depth:
            depth[ch] += 1
        elif ch in pairs:
            depth[pairs[ch]] -= 1
            if depth[pairs[ch]] < 0:
                return False
    return all(v == 0 for v in depth.values())


CODE_CHECKS = {"sct": sctid_ok, "loinc": loinc_ok, "dicom": dicom_ok, "ucum": ucum_ok}

# --- term normalisation (the matcher's rules; taken from fhirconv when it is importable) ---
_ABBREV = re.compile(r"^[A-Z0-9][A-Z0-9/+\-]*[A-Z0-9+]?$")
_NORM_DROP = str.maketrans({"’": "'", "‘": "'", "–": "-", "—": "-", "‐": "-", "µ": "u", "μ": "u"})


def _norm_term_local(term: str) -> str:
    low = term.translate(_NORM_DROP).lower().replace("-", " ")
    return re.sub(r"\s+", " ", low).strip()


KNOWN_ATTRS = set(KNOWN_ATTRS_FALLBACK)
try:  # keep in step with the loader when the package is installed
    sys.path.insert(0, str(ROOT / "src"))
    from fhirconv.mappings import _ABBREV as _ABBREV_PKG  # type: ignore
    from fhirconv.mappings import norm_term as _norm_term_pkg  # type: ignore
    norm_term = _norm_term_pkg
    _ABBREV = _ABBREV_PKG
    try:
        from fhirconv.mappings_check import KNOWN_ATTRS as _KNOWN_PKG  # type: ignore
        # the builder reads ``components`` (blood-pressure panel) even where the checker lists ``component``
        KNOWN_ATTRS = set(_KNOWN_PKG) | {"components"}
    except Exception:  # pragma: no cover
        pass
except Exception:  # pragma: no cover - standalone use
    norm_term = _norm_term_local
finally:
    if sys.path and sys.path[0] == str(ROOT / "src"):
        sys.path.pop(0)


def is_cased(term: str) -> bool:
    """A term written in capitals is matched case-sensitively by the loader."""
    return bool(_ABBREV.match(term)) and any(ch.isalpha() for ch in term)


# --- reading -------------------------------------------------------------------------------
class Row:
    __slots__ = ("file", "line", "key", "system", "code", "display", "terms", "attrs", "source")

    def __init__(self, file: str, line: int, values: list[str]) -> None:
        self.file, self.line = file, line
        self.key, self.system, self.code, self.display, terms, attrs, self.source = values
        self.terms = [t.strip() for t in terms.split("|") if t.strip()]
        self.attrs: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in attrs.split(";"))):
            k, _, v = part.partition("=")
            self.attrs[k.strip()] = v.strip() if _ else "\0"

    @property
    def category(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def read_rows(path: Path, problems: list[str]) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header[:7]) != COLUMNS:
            problems.append(f"{path.name}:1: header must be {' '.join(COLUMNS)}")
            return rows
        for lineno, raw in enumerate(reader, start=2):
            if not raw or not "".join(raw).strip() or raw[0].startswith("#"):
                continue
            if len(raw) > 7 and any(x.strip() for x in raw[7:]):
                problems.append(f"{path.name}:{lineno}: more than 7 columns (a tab inside a field?)")
            raw = (raw + [""] * 7)[:7]
            rows.append(Row(path.name, lineno, [x.strip() for x in raw]))
    return rows


def load_reference(folder: Path):
    """verify_codes.Reference from the reference folder, or None when it is not there."""
    script = folder / "verify_codes.py"
    if not script.is_file():
        return None
    spec = importlib.util.spec_from_file_location("verify_codes", script)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    assert spec and spec.loader
    spec.loader.exec_module(module)
    return module.Reference()


# --- checks --------------------------------------------------------------------------------
def check_rows(rows: list[Row]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, str] = {}
    for r in rows:
        if "." not in r.key:
            problems.append(f"{r.where}: key {r.key!r} must look like category.name")
        want = FILE_CATEGORY.get(r.file)
        if want and r.category != want:
            problems.append(f"{r.where}: key {r.key} does not belong in {r.file} (expects {want}.*)")
        if r.key in seen:
            problems.append(f"{r.where}: key {r.key} already defined at {seen[r.key]}")
        seen[r.key] = r.where
        if r.system not in SYSTEMS:
            problems.append(f"{r.where}: unknown system {r.system!r}")
            continue
        if bool(r.system) != bool(r.code):
            problems.append(f"{r.where}: system and code must be given together")
            continue
        if any(v == "\0" for v in r.attrs.values()):
            problems.append(f"{r.where}: attrs must be name=value pairs separated by ';'")
        unknown = sorted(k for k in r.attrs if k not in KNOWN_ATTRS)
        if unknown:
            problems.append(f"{r.where}: {r.key}: unknown attribute(s) {', '.join(unknown)}")
        if not r.terms and r.category not in KEY_ONLY_CATEGORIES:
            problems.append(f"{r.where}: {r.key} has no terms: the extractor can never find it")
        if not r.system:
            if not (r.terms or r.display):
                problems.append(f"{r.where}: text-only row {r.key} has neither terms nor display")
            continue
        if not CODE_CHECKS[r.system](r.code):
            problems.append(f"{r.where}: {r.key}: malformed {r.system} code {r.code!r}")
        if not r.display:
            problems.append(f"{r.where}: {r.key}: coded row without display")
        if not r.source:
            problems.append(f"{r.where}: {r.key}: coded row without source")
    by_key = {r.key: r for r in rows}
    for r in rows:
        for attr, category in LINK_ATTRS.items():
            for target in filter(None, (x.strip() for x in r.attrs.get(attr, "").split(","))):
                other = by_key.get(target)
                if other is None:
                    problems.append(f"{r.where}: {r.key}: {attr}={target} names no row")
                elif category and other.category != category:
                    problems.append(f"{r.where}: {r.key}: {attr}={target} is not a {category} row")
                elif attr == "broader" and not other.code:
                    problems.append(f"{r.where}: {r.key}: broader={target} has no code itself")
        if r.attrs.get("broader") and r.code:
            problems.append(f"{r.where}: {r.key}: a coded row needs no broader=")
    return problems


def term_collisions(rows: list[Row]) -> tuple[list[str], list[str]]:
    """(problems, notes) about terms shared by concepts or spelled in conflicting case."""
    problems: list[str] = []
    notes: list[str] = []
    by_cat: dict[str, dict[str, list[tuple[str, Row]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        for t in r.terms:
            n = norm_term(t)
            if n:
                by_cat[r.category][n].append((t, r))
    text_terms: dict[str, set[str]] = defaultdict(set)
    cased_any: dict[str, set[str]] = defaultdict(set)
    plain_any: dict[str, set[str]] = defaultdict(set)
    for cat, groups in by_cat.items():
        for n, items in groups.items():
            codes = {(r.system, r.code) for _, r in items if r.code}
            analytes = {r.attrs.get("analyte") for _, r in items}
            if len(codes) > 1 and not (cat == "lab" and len(analytes) == 1 and None not in analytes):
                problems.append(f"{cat}: term {n!r} names different codes: "
                                + ", ".join(sorted(f'{r.key}={r.code}' for _, r in items)))
            keys = {r.key for _, r in items}
            if len(keys) > 1 and len(codes) <= 1 and cat != "lab":
                notes.append(f"{cat}: term {n!r} shared by {', '.join(sorted(keys))}")
            if cat in TEXT_CATEGORIES:
                text_terms[n].add(cat)
            for t, r in items:
                slot = n if cat in TEXT_CATEGORIES else f"{cat}:{n}"
                (cased_any if is_cased(t) else plain_any)[slot].add(f"{r.key}:{t}")
    for n in sorted(set(cased_any) & set(plain_any)):
        problems.append(f"term {n!r} is written both in capitals ({', '.join(sorted(cased_any[n]))}) and "
                        f"otherwise ({', '.join(sorted(plain_any[n]))}); the capitals make the matcher "
                        "case-sensitive for both: keep one spelling")
    for n, cats in sorted(text_terms.items()):
        if len(cats) > 1:
            notes.append(f"term {n!r} appears in several categories: {', '.join(sorted(cats))}")
    return problems, notes


def reference_check(rows: list[Row], ref) -> tuple[list[str], int]:
    problems: list[str] = []
    checked = 0
    for r in rows:
        if r.system not in ("sct", "loinc", "dicom") or not r.code:
            continue
        checked += 1
        verdict, detail = ref.check(r.system, r.code, r.display)
        if verdict != "CONFIRMED":
            problems.append(f"{r.where}: {r.key} {r.system} {r.code} {r.display!r}: {verdict} ({detail})")
    return problems, checked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mappings", type=Path, default=ROOT / "mappings")
    ap.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "terminology",
                    help="folder holding verify_codes.py and the reference lists")
    ap.add_argument("-q", "--quiet", action="store_true", help="print problems and the summary only")
    args = ap.parse_args(argv)

    problems: list[str] = []
    rows: list[Row] = []
    paths = sorted(args.mappings.glob("*.tsv"))
    if not paths:
        print(f"no *.tsv in {args.mappings}")
        return 1
    per_file: dict[str, list[Row]] = {}
    for p in paths:
        got = read_rows(p, problems)
        per_file[p.name] = got
        rows += got
    problems += check_rows(rows)
    term_problems, notes = term_collisions(rows)
    problems += term_problems

    ref = load_reference(args.reference)
    if ref is None:
        print(f"reference folder {args.reference} not found: check digits and syntax only")
        checked = 0
    else:
        ref_problems, checked = reference_check(rows, ref)
        problems += ref_problems

    if not args.quiet:
        for n in notes:
            print(f"note: {n}")
        print(f"{'file':<18} {'rows':>5} {'coded':>6} {'text-only':>10}")
        for name, got in per_file.items():
            coded = sum(1 for r in got if r.code)
            print(f"{name:<18} {len(got):>5} {coded:>6} {len(got) - coded:>10}")
    for p in problems:
        print(f"PROBLEM: {p}")
    total_coded = sum(1 for r in rows if r.code)
    print(f"{len(rows)} rows, {total_coded} coded; "
          + (f"{checked} checked against the reference lists; " if ref is not None else "")
          + f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
