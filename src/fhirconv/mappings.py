"""The one door to terms, codes and context cues.

Everything clinical that fhirconv knows lives in reviewable files under ``mappings/``
(shipped inside the wheel as ``fhirconv/mappings``); this module only loads, checks
and indexes them. Users overlay their own folder with ``--mappings DIR``: a row with
the same key replaces the default one, new keys are added, and an overlay row *claims*
its terms: a shipped row (or lexicon form) with the same normalised term no longer
matches it, whatever its key or category. An overlay is checked when it is loaded
(``fhirconv mappings check``'s checks): a problem in it is a MappingsError, not a
surprise in the output.

Concept tables are TSV with the columns ``key system code display terms attrs source``:

* ``key``: stable id ``category.name`` (e.g. ``disorder.breast_cancer``).
* ``system``: ``sct``, ``loinc``, ``dicom``, ``ucum`` or empty (text-only concept).
* ``terms``: ``|``-separated surface forms. Matching is case-insensitive and on whole
  words; a term written in capitals (``ALL``, ``CT``) matches only in capitals.
* ``attrs``: ``name=value`` pairs separated by ``;`` (kind-specific, e.g. ``class=primary``).
* ``source``: where the code was confirmed (reference list or public source).
"""

from __future__ import annotations

import bisect
import csv
import gc
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import ahocorasick
import yaml

from .errors import MappingsError

SYSTEMS = {
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "dicom": "http://dicom.nema.org/resources/ontology/DCM",
    "ucum": "http://unitsofmeasure.org",
    "": "",
}
COLUMNS = ("key", "system", "code", "display", "terms", "attrs", "source")
# libyaml's safe loader when PyYAML was built with it (10x faster on the rule files), else the pure-Python one:
# both construct only plain data (never arbitrary objects)
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ABBREV = re.compile(r"^[A-Z0-9][A-Z0-9/+\-]*[A-Z0-9+]?$")
# the category a term is read as when it names concepts of several (first wins)
CATEGORY_PRECEDENCE = ("disorder", "finding", "lab", "procedure", "medication", "modality", "body_site")
_RANK = {c: i for i, c in enumerate(CATEGORY_PRECEDENCE)}
def _folded_letters() -> dict[str, str]:
    """Latin letters with diacritics and their base letter, one character for one ("Behçet" reads as
    "Behcet", "Sjögren" as "Sjogren"), so that offsets into the text stay valid."""
    out = {}
    for cp in range(0xC0, 0x250):
        ch = chr(cp)
        parts = unicodedata.normalize("NFD", ch)
        if len(parts) > 1 and parts[0].isascii() and parts[0].isalpha() \
                and all(unicodedata.combining(x) for x in parts[1:]):
            out[ch] = parts[0]
    return out


_NORM_DROP = str.maketrans({"’": "'", "‘": "'", "–": "-", "—": "-", "‐": "-", "µ": "u", "μ": "u",
                            **_folded_letters()})


@dataclass(frozen=True, slots=True)
class Concept:
    """One row of a concept table."""

    key: str
    system: str          # canonical system URL, "" for text-only concepts
    code: str
    display: str
    terms: tuple[str, ...]
    attrs: tuple[tuple[str, str], ...]
    source: str
    file: str
    line: int

    @property
    def category(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def coded(self) -> bool:
        return bool(self.system and self.code)

    def attr(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.attrs:
            if k == name:
                return v
        return default


@dataclass(frozen=True, slots=True)
class Match:
    """A term found in a text: [start, end) in that text, and the concepts it names."""

    start: int
    end: int
    term: str
    keys: tuple[str, ...]


def normalize(text: str) -> tuple[str, list[int]]:
    """Lower-case, unify quotes/dashes/micro, fold diacritics, turn hyphens into spaces, collapse white space.

    Returns the normalised string and, for each of its characters, the index in ``text`` (a
    shared list: do not modify it). Cached: each sentence is read by several matchers and the
    context engine.
    """
    return _normalize(text)


@lru_cache(maxsize=8192)     # sentences, and the curated terms (read by the lexicon merge and the matchers)
def _normalize(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    idx: list[int] = []
    prev_space = True
    low = text.translate(_NORM_DROP).lower()
    for i, ch in enumerate(low):
        if ch.isspace() or ch == "-":
            if prev_space:
                continue
            out.append(" ")
            idx.append(i)
            prev_space = True
        else:
            out.append(ch)
            idx.append(i)
            prev_space = False
    return "".join(out), idx


def norm_term(term: str) -> str:
    return normalize(term)[0].strip()


def _is_word(ch: str) -> bool:
    return ch.isalnum()


class Matcher:
    """Aho-Corasick dictionary scan: cost grows with the text, not with the number of terms."""

    def __init__(self, concepts: Iterable[Concept], uncountable: Iterable[str] = ()) -> None:
        self._auto = ahocorasick.Automaton()
        # terms whose last word ends so ("weakness", "stiffness") take no plural: "weaknesses" are a
        # method's flaws, not a symptom
        self._uncountable = tuple(uncountable)
        table: dict[str, tuple[set[str], set[str]]] = {}
        no_case: set[str] = set()
        for c in concepts:
            key = c.key
            if c.file == LEXICON_FILE:
                # the lexicon's own concepts: forms normalised when the file was built, lower case
                # except curated abbreviations (matched in capitals)
                for term in c.terms:
                    if term.islower():
                        entry = table.get(term)
                        if entry is None:
                            table[term] = ({key}, no_case)
                        else:
                            entry[0].add(key)
                    else:
                        keys, cased = table.setdefault(term.lower(), (set(), set()))
                        if cased is no_case:
                            cased = set()
                            table[term.lower()] = (keys, cased)
                        keys.add(key)
                        cased.add(term)
                continue
            for term in c.terms:
                if term.islower() and not _NEEDS_NORM.search(term):
                    # already normalised (the lexicon's forms) and no capitals to match: the fast path
                    keys, _ = table.setdefault(term, (set(), no_case))
                    keys.add(key)
                    continue
                n = norm_term(term)
                if not n:
                    continue
                keys, cased = table.setdefault(n, (set(), set()))
                if cased is no_case:        # made by the fast path: give it a set of its own
                    cased = set()
                    table[n] = (keys, cased)
                keys.add(key)
                if _ABBREV.match(term) and any(ch.isalpha() for ch in term):
                    cased.add(term)
        for n, (keys, cased) in table.items():
            self._auto.add_word(n, (n, tuple(keys) if len(keys) == 1 else tuple(sorted(keys)),
                                    tuple(sorted(cased)) if cased else ()))
        self.size = len(table)
        if table:
            self._auto.make_automaton()

    def find(self, text: str) -> list[Match]:
        """Longest non-overlapping whole-word matches (a trailing plural -s/-es is allowed)."""
        if not self.size:
            return []
        norm, idx = normalize(text)
        cands: list[tuple[int, int, str, tuple[str, ...]]] = []
        for end, (term, keys, cased) in self._auto.iter(norm):
            start = end - len(term) + 1
            if start > 0 and _is_word(norm[start - 1]):
                continue
            stop = end + 1
            for suffix in ("",) if self._uncountable and term.endswith(self._uncountable) else ("", "s", "es"):
                j = stop + len(suffix)
                if norm.startswith(suffix, stop) and (j >= len(norm) or not _is_word(norm[j])):
                    stop = j
                    break
            else:
                continue
            o_start, o_end = idx[start], idx[stop - 1] + 1
            if cased and all(text[o_start:o_start + len(c)] != c for c in cased):
                continue
            cands.append((o_start, o_end, term, keys))
        return [Match(s, e, term, keys) for s, e, term, keys in _best_cover(cands)]


def _best_cover(cands: list[tuple[int, int, str, tuple[str, ...]]]) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """The non-overlapping matches covering the most text (weighted interval scheduling).

    Leftmost-longest would read "non-tender breast lump" as "tender breast" + nothing; the best
    cover reads it as "tender" + "breast lump". Ties keep the earlier, longer match.
    """
    if not cands:
        return []
    cands = sorted(set(cands), key=lambda m: (m[1], m[0]))
    ends = [c[1] for c in cands]
    best = [0] * (len(cands) + 1)
    take = [False] * len(cands)
    prev = [0] * len(cands)
    for i, (s, e, _, _) in enumerate(cands):
        j = bisect.bisect_right(ends, s, 0, i)  # candidates ending at or before s
        prev[i] = j
        with_it = best[j] + (e - s)
        take[i] = with_it > best[i]
        best[i + 1] = with_it if take[i] else best[i]
    out = []
    i = len(cands) - 1
    while i >= 0:
        if take[i]:
            out.append(cands[i])
            i = prev[i] - 1
        else:
            i -= 1
    return out[::-1]


@dataclass
class Mappings:
    """All concept tables and rule files, indexed."""

    concepts: dict[str, Concept] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    _matchers: dict[str, Matcher] = field(default_factory=dict, repr=False)
    _codes: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _by_category: dict[str, list[Concept]] | None = field(default=None, repr=False, compare=False)
    _indexed: int = field(default=0, repr=False, compare=False)
    # objects compiled from these mappings by later stages (the extractor's rules), built once
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # normalised term -> (overlay key that claimed it, the earlier keys that lost it)
    claimed: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict, repr=False, compare=False)

    def preferred(self, keys: Iterable[str], category: str | None = None) -> str:
        """The concept a match naming ``keys`` is read as: the category first in
        ``CATEGORY_PRECEDENCE`` (or ``category``), then a coded row before a text-only one, then key order."""
        ks = sorted(keys)
        cat = category or min({k.split(".", 1)[0] for k in ks}, key=lambda c: (_RANK.get(c, 99), c))
        own = [k for k in ks if k.split(".", 1)[0] == cat]
        coded = [k for k in own if self.concepts[k].coded]
        return (coded or own)[0]

    def __getitem__(self, key: str) -> Concept:
        return self.concepts[key]

    def get(self, key: str) -> Concept | None:
        return self.concepts.get(key)

    def category(self, name: str) -> Iterator[Concept]:
        """The concepts of one category (indexed once: the lexicon makes the table large)."""
        if self._by_category is None or self._indexed != len(self.concepts):
            index: dict[str, list[Concept]] = {}
            for c in self.concepts.values():
                index.setdefault(c.category, []).append(c)
            self._by_category, self._indexed = index, len(self.concepts)
        return iter(self._by_category.get(name, ()))

    def matcher(self, *categories: str, only_lexicon: bool = False, apart: Iterable[str] = ()) -> Matcher:
        """A matcher over the terms of the given categories (cached). ``only_lexicon``: only the rows the
        compiled lexicon added; ``apart``: categories whose lexicon rows are left out (matched apart)."""
        away = frozenset(apart)
        name = ",".join(sorted(categories)) + f"|{only_lexicon}|{','.join(sorted(away))}"
        if name not in self._matchers:
            with paused_gc():
                self._matchers[name] = Matcher(
                    (c for cat in sorted(set(categories)) for c in self.category(cat)
                     if (c.file == LEXICON_FILE or not only_lexicon) and not (cat in away and c.file == LEXICON_FILE)),
                    uncountable=(self.rules.get("lexicon") or {}).get("uncountable_endings", ()))
        return self._matchers[name]

    def known_code(self, system: str, code: str) -> bool:
        """True when (system URL, code) is a code of some concept in these mappings."""
        if not self._codes:
            self._codes = {(c.system, c.code) for c in self.concepts.values() if c.coded}
        return (system, code) in self._codes

    def rule(self, name: str) -> Any:
        return self.rules.get(name)


def default_folder() -> Path:
    """The shipped mappings: inside the wheel, or the repository's ``mappings/`` in a checkout."""
    packaged = resources.files("fhirconv").joinpath("mappings")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "mappings"


def _parse_attrs(raw: str, where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        if "=" not in part:
            raise MappingsError(f"{where}: attribute {part!r} is not name=value; fix the attrs column")
        k, v = part.split("=", 1)
        out.append((k.strip(), v.strip()))
    return tuple(out)


def read_text_file(path: Path) -> str:
    """A mapping file's text; a file that is not UTF-8 (saved as cp1252 by a spreadsheet) is a
    MappingsError naming the line, not a crash."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingsError(f"{path}: cannot open ({exc.strerror}); check the --mappings folder") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise MappingsError(f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
                            "(in a spreadsheet: 'CSV UTF-8' or 'Unicode text')") from None


def read_table(path: Path) -> Iterator[Concept]:
    """Rows of one concept table; raises MappingsError naming the file and line."""
    for item in table_rows(path):
        if isinstance(item, MappingsError):
            raise item
        yield item


def table_rows(path: Path) -> Iterator[Concept | MappingsError]:
    """Each row of a concept table as a Concept, or the MappingsError that row is (file:line), so that a
    checker can report every bad row and a loader stop at the first. A bad header ends the table."""
    text = read_text_file(path)
    with io.StringIO(text, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header[: len(COLUMNS)]) != COLUMNS:
            yield MappingsError(f"{path}:1: header must be {' '.join(COLUMNS)} (tab-separated)")
            return
        for lineno, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            try:
                yield _row(path, lineno, row)
            except MappingsError as exc:
                yield exc


def _row(path: Path, lineno: int, row: list[str]) -> Concept:
    where = f"{path.name}:{lineno}"
    if len(row) < len(COLUMNS):
        row = row + [""] * (len(COLUMNS) - len(row))
    key, system, code, display, terms, attrs, source = (x.strip() for x in row[: len(COLUMNS)])
    if "." not in key:
        raise MappingsError(f"{where}: key {key!r} must look like category.name")
    if system not in SYSTEMS:
        raise MappingsError(f"{where}: unknown system {system!r}; use one of sct, loinc, dicom, ucum")
    if bool(system) != bool(code):
        raise MappingsError(f"{where}: system and code must be given together (or both empty)")
    return Concept(key, SYSTEMS[system], code, display,
                   tuple(t.strip() for t in terms.split("|") if t.strip()),
                   _parse_attrs(attrs, where), source, path.name, lineno)


def _load_folder(folder: Path, concepts: dict[str, Concept], rules: dict[str, Any], overlay: bool,
                 claimed: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> None:
    if not folder.is_dir():
        raise MappingsError(f"{folder}: not a folder of mappings; pass an existing directory to --mappings")
    earlier = dict(concepts)
    for path in sorted(folder.glob("*.tsv")):
        seen: set[str] = set()
        for c in read_table(path):
            if c.key in seen:
                raise MappingsError(f"{path.name}:{c.line}: key {c.key} appears twice in this file")
            seen.add(c.key)
            if c.key in concepts and not overlay and concepts[c.key].file != c.file:
                raise MappingsError(f"{path.name}:{c.line}: key {c.key} is already defined in {concepts[c.key].file}")
            concepts[c.key] = c
    if overlay and claimed is not None:
        _claim(concepts, earlier, claimed)
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(read_text_file(path), Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            raise MappingsError(f"{path}: not valid YAML ({exc}); fix the file") from exc
        if not isinstance(data, dict):
            raise MappingsError(f"{path}: must hold a mapping at the top level")
        if overlay and path.stem in rules and isinstance(rules[path.stem], dict):
            data = _merged(rules[path.stem], data)
        rules[path.stem] = data


def _merged(shipped: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """An overlay's mapping merged into the shipped one: its keys add to or replace the shipped keys,
    recursively for mappings; a list or a value replaces the shipped one whole. So an overlay can
    change one template or one sample pattern without restating the rest, and cannot drop a key
    the engine needs."""
    out = dict(shipped)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _claim(concepts: dict[str, Concept], earlier: dict[str, Concept],
           claimed: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """An overlay's rows take their terms from the rows loaded before them (see the module docstring)."""
    own = {norm_term(t): c.key for c in concepts.values() if earlier.get(c.key) is not c for t in c.terms}
    own.pop("", None)
    losers: dict[str, list[str]] = {}
    for key, c in earlier.items():
        if concepts.get(key) is not c:      # replaced by the overlay
            continue
        kept = tuple(t for t in c.terms if norm_term(t) not in own or own[norm_term(t)] == key)
        if len(kept) != len(c.terms):
            for t in c.terms:
                if t not in kept:
                    losers.setdefault(norm_term(t), []).append(key)
            concepts[key] = replace(c, terms=kept)
    for n, keys in losers.items():
        claimed[n] = (own[n], tuple(sorted(keys)))
    for n, key in own.items():
        claimed.setdefault(n, (key, ()))


def load(*overlays: str | Path) -> Mappings:
    """Load the shipped mappings, then each overlay folder in order."""
    return _load(tuple(str(Path(o).resolve()) for o in overlays))


@contextmanager
def paused_gc() -> Iterator[None]:
    """Build long-lived tables without the cyclic collector: tens of thousands of new objects, none of
    them garbage, would otherwise trigger full collections that rescan them all (~0.1 s of start-up)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=8)
def _load(overlays: tuple[str, ...]) -> Mappings:
    with paused_gc():
        return _load_all(overlays)


def _load_all(overlays: tuple[str, ...]) -> Mappings:
    concepts: dict[str, Concept] = {}
    rules: dict[str, Any] = {}
    claimed: dict[str, tuple[str, tuple[str, ...]]] = {}
    base = default_folder()
    _load_folder(base, concepts, rules, overlay=False)
    if overlays:
        from .mappings_check import check

        problems = check(*overlays, compile_rules=False)
        if problems:
            shown = "\n".join(f"  {p}" for p in problems[:10])
            more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
            raise MappingsError(f"the mappings overlay has {len(problems)} problem(s):\n{shown}{more}\n"
                                f"fix them (fhirconv mappings check {' '.join(overlays)} lists them all)")
    for o in overlays:
        _load_folder(Path(o), concepts, rules, overlay=True, claimed=claimed)
    if rules.get("lexicon", {}).get("routing"):
        _add_lexicon(concepts, rules["lexicon"], rules.get("relations") or {}, set(claimed))
    return Mappings(concepts=concepts, rules=rules, folders=(str(base), *overlays), claimed=claimed)


SCT = SYSTEMS["sct"]
LEXICON_FILE = "lexicon.tsv.gz"       # Concept.file of the rows the lexicon adds
_FROM_LEXICON = (("lexicon", "1"),)
_LEXICON_ATTRS = ("neoplasm", "class")      # the lexicon's attributes the extractor reads
_NEEDS_NORM = re.compile(r"[-\u2010\u2013\u2014\u2018\u2019\u00b5\u03bc\u00c0-\u024f\t\n\r\f\v]|  |^ | $")


def _rows_with_words(forms: list[str], words: set[str]) -> set[int]:
    """The indices of the forms that contain one of ``words`` as a whole word: one Aho-Corasick pass over
    all of them, each form and each word padded with spaces so that only whole words match (a regular
    expression, or a split per form, costs several times more at start-up)."""
    if not words:
        return set()
    auto = ahocorasick.Automaton()
    for w in words:
        auto.add_word(f" {w} ", 0)
    auto.make_automaton()
    text = " " + "  ".join(forms).lower() + " "
    starts = [0]
    for f in forms:
        starts.append(starts[-1] + len(f) + 2)
    return {bisect.bisect_right(starts, end) - 1 for end, _ in auto.iter(text)}


def _add_lexicon(concepts: dict[str, Concept], rules: dict[str, Any], relations: dict[str, Any],
                 claimed: Iterable[str] = ()) -> None:
    """The compiled SNOMED CT lexicon under the curated tables (``mappings/lexicon.yaml``, ``routing``).

    A form that is already a curated term stays that term's; the forms of a concept that a curated
    row codes become more terms of that row; every other concept becomes a row ``<category>.sct_<id>``
    with the lexicon's attributes (``neoplasm``, ``class``) and ``lexicon=1``. Only concepts of the
    shipped SNOMED CT reference are in the lexicon (``scripts/build_lexicon.py``).
    """
    from .lexicon import blocked_forms, columns

    routing: dict[str, str] = rules["routing"]
    skip = {str(w).lower() for w in rules.get("skip_words", [])} | {
        str(w).lower() for w in relations.get("metastasis_strong", [])}
    by_category = {cat: {str(w).lower() for w in words}
                   for cat, words in (rules.get("category_skip_words") or {}).items()}
    curated_terms = {norm_term(t) for c in concepts.values() if c.category in routing.values() for t in c.terms}
    by_code: dict[str, str] = {}
    for c in concepts.values():
        if c.system == SYSTEMS["sct"] and c.category in routing.values():
            by_code.setdefault(c.code, c.key)
    blocked = blocked_forms(rules)
    extra: dict[str, list[str]] = {}
    made: dict[str, tuple[str, str, str]] = {}
    forms, codes, categories, displays, _, attrs, _ = columns()
    skipped = {forms[i] for i in _rows_with_words(forms, skip)} | curated_terms | blocked | set(claimed)
    skipped_in = {cat: {forms[i] for i in _rows_with_words(forms, words) if categories[i] == cat}
                  for cat, words in by_category.items()}
    for form, code, category, display, attr in zip(forms, codes, categories, displays, attrs, strict=True):
        target = routing.get(category)
        if target is None or form in skipped or (not form.islower() and form.lower() in skipped) \
                or form in skipped_in.get(category, ()):
            continue
        key = by_code.get(code) or f"{target}.sct_{code}"
        if key in extra:
            extra[key].append(form)
            continue
        extra[key] = [form]
        if key not in concepts:
            made[key] = (code, display, attr)
    for key, terms in extra.items():
        if key in concepts:
            c = concepts[key]
            concepts[key] = replace(c, terms=c.terms + tuple(f for f in terms if f not in c.terms))
        else:
            code, display, attr = made[key]
            kept = tuple((k, v) for k, _, v in (p.partition("=") for p in attr.split(";")) if k in _LEXICON_ATTRS)
            concepts[key] = Concept(key, SCT, code, display, tuple(terms), kept + _FROM_LEXICON,
                                    "SNOMED CT lexicon (shipped reference)", LEXICON_FILE, 0)
