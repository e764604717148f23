"""Read case-report inputs and turn them into :class:`~fhirconv.model.SourceDocument`.

Three steps:

1. **Decoding** (:func:`read_bytes`): UTF-8 (BOM stripped), UTF-16/UTF-32 with a BOM (or
   UTF-16 without one when the NUL pattern is unmistakable), then cp1252 and Latin-1 as
   fallbacks with a warning. Binary inputs (PDF, Office, images, NUL bytes, many control
   characters), empty inputs and undecodable inputs raise :class:`~fhirconv.errors.ReadError`.
2. **Record formats**: an EndNote/Refer record (``%0 … %T … %X …``, one tag per line or all
   on one line), a MEDLINE/PubMed record (``PMID- ``, ``TI  - ``, ``AB  - ``) or a RIS record
   (``TY  - ``) fills :class:`~fhirconv.model.Citation` and is reduced to title + abstract.
3. **Cleaning** of plain text and record fields: hard-wrapped lines are joined,
   hyphenated line breaks repaired, split superscripts (``18\\nF-FDG``, ``2\\n\\nnd``) glued,
   page numbers and running headers dropped, headings kept on their own line and
   run-together abstract headings (``disease.Case presentationCase 1``) split.

``SourceDocument.original`` is always the decoded text, untouched; ``text`` is the cleaned
text and ``offsets[i]`` the index in ``original`` of ``text[i]``. Every cleaning pass is a
list of ``(start, end, replacement)`` edits applied with slices, so offsets are carried
through without per-character Python work; characters a pass inserts map to the position
of what they replace (an insertion maps to the character that follows it).
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .errors import ReadError
from .model import Citation, SourceDocument

__all__ = ["MAX_CHARS", "TEXT_SUFFIXES", "expand_inputs", "read_bytes", "read_path", "read_text"]

#: File name endings that :func:`expand_inputs` picks up inside a folder (case-insensitive).
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".text", ".enw", ".ris", ".nbib", ".medline")

#: The longest text read as one document by default: a case report is rarely over 200,000 characters;
#: a file far larger is a corpus or not a case report, and must not stall a run (``--max-chars``).
MAX_CHARS = 2_000_000

_STDIN_NAME = "<stdin>"
# control bytes other than NUL and white space: with them, NULs are binary data, not a stray character
_BINARY_BYTES = re.compile(rb"[\x01-\x08\x0b\x0e-\x1f\x7f]")

# one edit of a cleaning pass: replace text[start:end] by the string (offsets ride along in a list
# with len(offs) == len(text) + 1)
_Edit = tuple[int, int, str]


# --------------------------------------------------------------------------- inputs


def expand_inputs(inputs: Iterable[str], *, skipped: list[tuple[str, str]] | None = None,
                  exclude: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Expand command-line inputs into the list of things to read.

    Files are kept as given; a folder is replaced by its text files (names ending in one of
    :data:`TEXT_SUFFIXES`), found recursively (a folder's own files, then its subfolders, each by
    name); hidden files and folders (``.name``) and the folders in ``exclude`` (the output
    folder) are passed over silently, every other file is appended to ``skipped`` as
    ``(path, why)``. ``"-"`` (standard input) is kept. A missing path, or a folder without
    text files, is kept as given so that the caller reports it: reading it raises
    :class:`ReadError`. Duplicates are dropped (first occurrence wins).
    """
    out: list[str] = []
    seen: set[str] = set()
    away = {os.path.realpath(e) for e in exclude}
    for item in inputs:
        expanded = [item]
        if item != "-" and os.path.isdir(item):
            files = _folder_text_files(item, skipped, away)
            if files:
                expanded = files
        for entry in expanded:
            if entry not in seen:
                seen.add(entry)
                out.append(entry)
    return out


def _skip_reason(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".pdf":
        return "a PDF: extract its text first (e.g. pdftotext) and convert the .txt"
    if suffix in (".doc", ".docx", ".odt", ".rtf", ".pages"):
        return "a word-processor file: save it as plain text (.txt) and convert that"
    return f"not a text file fhirconv reads ({', '.join(TEXT_SUFFIXES)})"


def _folder_text_files(folder: str, skipped: list[tuple[str, str]] | None = None,
                       away: set[str] | None = None) -> list[str]:
    """The text files under ``folder`` (recursively), sorted by path; symbolic links to folders are
    not followed (no loops)."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder, onerror=lambda _exc: None):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (away and os.path.realpath(os.path.join(root, d)) in away))
        for n in sorted(files):
            path = os.path.join(root, n)
            if n.startswith("."):
                continue
            if n.lower().endswith(TEXT_SUFFIXES) and os.path.isfile(path):
                found.append(path)
            elif skipped is not None:
                skipped.append((path, _skip_reason(n)))
    return found


def read_path(path: str | Path, *, max_chars: int | None = MAX_CHARS) -> SourceDocument:
    """Read one input file (``"-"`` reads standard input); a text of more than ``max_chars`` characters
    is refused (``None``: no limit) before it costs time or memory."""
    name = str(path)
    if name == "-":
        try:
            data = sys.stdin.buffer.read()
        except (OSError, AttributeError, ValueError) as exc:
            raise ReadError(f"{_STDIN_NAME}: cannot read standard input ({exc}); "
                            "pipe the text in or give a file name instead of '-'") from None
        return read_bytes(data, _STDIN_NAME, max_chars=max_chars)
    p = Path(path)
    if p.is_dir():
        n = len(_folder_text_files(name))
        if n == 0:
            raise ReadError(f"{name}: is a folder with no text files ({', '.join(TEXT_SUFFIXES)}); "
                            "put the case reports there as .txt files or name the files directly")
        raise ReadError(f"{name}: is a folder ({n} text files), not a file; "
                        "name the files or pass the folder to the convert command, which expands it")
    try:
        if max_chars is not None and p.stat().st_size > 4 * max_chars:     # UTF-8: at most 4 bytes a character
            _too_long(name, p.stat().st_size, max_chars, unit="bytes")
        data = p.read_bytes()
    except FileNotFoundError:
        raise ReadError(f"{name}: no such file; check the path and spelling "
                        "(use '-' to read standard input)") from None
    except PermissionError:
        raise ReadError(f"{name}: permission denied; make the file readable "
                        "(e.g. chmod u+r) or copy it to a place you can read") from None
    except IsADirectoryError:  # pragma: no cover - race with is_dir()
        raise ReadError(f"{name}: is a folder, not a file; name the files inside it") from None
    except OSError as exc:
        raise ReadError(f"{name}: cannot be read ({exc.strerror or exc}); "
                        "check that it is a regular, readable file") from None
    return read_bytes(data, name, max_chars=max_chars)


def _too_long(name: str, size: int, limit: int, unit: str = "characters") -> None:
    raise ReadError(f"{name}: {size:,} {unit}, over the limit of {limit:,} characters per document; "
                    "split it into its case reports, or raise the limit with --max-chars")


def read_bytes(data: bytes, name: str, *, max_chars: int | None = MAX_CHARS) -> SourceDocument:
    """Decode ``data`` and build the cleaned :class:`SourceDocument`."""
    if max_chars is not None and len(data) > 4 * max_chars:
        _too_long(name, len(data), max_chars, unit="bytes")
    text, encoding, warnings = _decode(data, name)
    if max_chars is not None and len(text) > max_chars:
        _too_long(name, len(text), max_chars)
    return _document(text, name, encoding, warnings)


def read_text(text: str, name: str = "<text>", *, max_chars: int | None = MAX_CHARS) -> SourceDocument:
    """Build the cleaned :class:`SourceDocument` of an already decoded text."""
    if max_chars is not None and len(text) > max_chars:
        _too_long(name, len(text), max_chars)
    warnings: list[str] = []
    if "\x00" in text:
        text = _stray_nuls(text, name, warnings)
    return _document(text, name, "utf-8", warnings)


def _stray_nuls(text: str, name: str, warnings: list[str]) -> str:
    """A few NUL characters in a text (a copy-paste, a broken export) are read as spaces; many mean
    binary data."""
    count = text.count("\x00")
    if count > max(2, len(text) // 100) or len(_CONTROL_RE.findall(text)) - count >= 3:
        raise ReadError(f"{name}: {count} NUL characters, so it is binary data, not text; "
                        "give the plain-text version of the case report")
    warnings.append(f"{count} NUL character(s) read as spaces")
    return text.replace("\x00", " ")


# --------------------------------------------------------------------------- decoding

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "is a PDF file, not text; extract its text first "
               "(e.g. `pdftotext report.pdf report.txt`) and convert the .txt file"),
    (b"PK\x03\x04", "is a ZIP archive (a .docx/.odt document?), not text; "
                    "save or export it as plain text (.txt) first"),
    (b"\xd0\xcf\x11\xe0", "is a Microsoft Office (.doc) file, not text; save it as plain text (.txt) first"),
    (b"{\\rtf", "is an RTF document; save it as plain text (.txt) first"),
    (b"\x89PNG", "is a PNG image, not text; run OCR on it or give the text version"),
    (b"\xff\xd8\xff", "is a JPEG image, not text; run OCR on it or give the text version"),
    (b"GIF8", "is a GIF image, not text; give the text version of the case report"),
    (b"\x1f\x8b", "is gzip-compressed; decompress it first (gunzip)"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),   # before UTF-16 LE: same first two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls other than \t \n \v \f \r, DEL, and (as decoded by Latin-1) C1 controls
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\x80-\x9f]")


def _decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    warnings: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig", warnings
        except UnicodeDecodeError as exc:
            raise ReadError(f"{name}: starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                            f"(bad byte at offset {exc.start + 3}); re-save it as UTF-8 text") from None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc), enc, warnings
            except UnicodeDecodeError as exc:
                raise ReadError(f"{name}: starts with a {enc.upper()} byte-order mark but cannot be "
                                f"decoded as {enc.upper()} ({exc.reason} at offset {exc.start}); "
                                "re-save it as UTF-8 text") from None
    for sig, message in _SIGNATURES:
        if data.startswith(sig):
            raise ReadError(f"{name}: {message}")
    sniffed = _sniff_utf16(data) if b"\x00" in data else None
    if b"\x00" in data and sniffed is None:
        nuls = data.count(b"\x00")
        if nuls > max(2, len(data) // 100) or len(_BINARY_BYTES.findall(data)) >= 3:
            raise ReadError(f"{name}: contains NUL bytes, so it is a binary file, not text; give the "
                            "plain-text version (for a PDF, extract its text first, e.g. with `pdftotext`)")
        # a few stray NULs in a text file: spaces (same length, so every offset holds)
        warnings.append(f"{nuls} NUL byte(s) read as spaces")
        data = data.replace(b"\x00", b" ")
    if sniffed is not None:
        enc = sniffed
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            raise ReadError(f"{name}: looks like {enc.upper()} without a byte-order mark but cannot be "
                            f"decoded ({exc.reason}); re-save it as UTF-8 text") from None
        warnings.append(f"no byte-order mark; decoded as {enc.upper()} from its NUL-byte pattern")
        return text, enc, warnings
    try:
        return data.decode("utf-8"), "utf-8", warnings
    except UnicodeDecodeError as exc:
        bad = exc.start
    try:
        text, enc = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, enc = data.decode("latin-1"), "latin-1"
    warnings.append(f"not valid UTF-8 (first bad byte at offset {bad}); decoded as {enc}: "
                    "check accented letters and symbols, or re-save the file as UTF-8")
    return text, enc, warnings


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without BOM: NULs in (nearly) every other byte and never in the rest."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    ne, no = even.count(0), odd.count(0)
    half = len(data) // 2
    if no > 0.3 * half and ne == 0:
        return "utf-16-le"
    if ne > 0.3 * half and no == 0:
        return "utf-16-be"
    return None


def _check_text(text: str, name: str) -> None:
    if not text.strip():
        raise ReadError(f"{name}: is empty (no text to convert); give a file that contains "
                        "the case-report text")
    controls = len(_CONTROL_RE.findall(text))
    if controls >= 3 and controls > 0.05 * len(text):
        raise ReadError(f"{name}: {controls} of {len(text)} characters are control characters, so it "
                        "looks like a binary file, not text; give the plain-text version "
                        "(for a PDF, extract its text first, e.g. with `pdftotext`)")


# --------------------------------------------------------------------------- document


def _document(original: str, name: str, encoding: str, warnings: list[str]) -> SourceDocument:
    _check_text(original, name)
    fmt, citation, text, offs = _parse_record(original, name, warnings)
    if fmt is None:
        text, offs, pdf = _clean(original, list(range(len(original) + 1)))
        fmt = "pdf-text" if pdf else "text"
        citation = _text_citation(text, original)
    if not text:
        raise ReadError(f"{name}: contains no readable text after cleaning; "
                        "give a file that contains the case-report text")
    offs[-1] = offs[-2] + 1  # the end maps just past the last character
    return SourceDocument(name=name, original=original, text=text, offsets=tuple(offs),
                          citation=citation, encoding=encoding, source_format=fmt,
                          warnings=tuple(warnings))


def _apply(text: str, offs: list[int], edits: list[_Edit]) -> tuple[str, list[int]]:
    """Apply sorted, non-overlapping edits; replacement characters map to ``offs[start]``."""
    if not edits:
        return text, offs
    parts: list[str] = []
    new: list[int] = []
    pos = 0
    for s, e, r in edits:
        if s > pos:
            parts.append(text[pos:s])
            new += offs[pos:s]
        if r:
            parts.append(r)
            new += [offs[s]] * len(r)
        pos = e
    parts.append(text[pos:])
    new += offs[pos:]
    return "".join(parts), new


def _concat(pieces: list[tuple[str, list[int]]], sep: str) -> tuple[str, list[int]]:
    """Join cleaned pieces with ``sep``, mapped to just after the piece before it (or, when
    the pieces are out of order in the original, to the start of the piece after it)."""
    texts: list[str] = []
    offs: list[int] = []
    for i, (t, o) in enumerate(pieces):
        if i:
            texts.append(sep)
            offs += [min(offs[-1] + 1, o[0])] * len(sep)
        texts.append(t)
        offs += o[:-1]
    offs.append(offs[-1] + 1 if offs else 0)
    return "".join(texts), offs


# --------------------------------------------------------------------------- cleaning

_HSPACE = "\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_WS_RE = re.compile(rf" [ {_HSPACE}]+|[{_HSPACE}][ {_HSPACE}]*")
_DROP_CHARS = r"[\x00-\x08\x0e-\x1f\x7f\u00ad\u200b-\u200d\u2060\ufeff]"
_DROP_ANY_RE = re.compile(_DROP_CHARS)      # (a bare class searches much faster than class+)
_DROP_RE = re.compile(_DROP_CHARS + "+")
_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# a sentence end, possibly followed by closing quotes/brackets and citation superscripts (".4,5")
_TERMINAL_RE = re.compile(r"[.!?][\"'”’)\]]*(?:\d{1,3}(?:[,–-]\d{1,3})*)?$")
# a line ending in one of these words cannot end a paragraph
_FUNC_WORDS = frozenset(
    "and or nor but of the a an with without within in into to for by from at on as than that which "
    "who whose was were is are be been had has have between after before including via per its their "
    "his her our this these those both either The".split()
)
_BULLET_RE = re.compile(r"[-–—•·*▪◦‣➢►✓]\s|[a-z][.)]\s")
_NUMBERED_RE = re.compile(r"\(?\d{1,2}[.)]\s")
_CAPTION_RE = re.compile(r"(?:Fig\.?|Figure|Table|Supplementary)\s*[A-Z]?\d", re.I)
_STARTS_NEW_RE = re.compile(r"[A-Z0-9\"'“‘(\[]")
_ORDINAL_RE = re.compile(r"st|nd|rd|th")
_SUPNUM_RE = re.compile(r"\d{1,3}m?")
_ELEMENT_RE = re.compile(r"[A-Z][a-z]?[-–]")   # isotope symbol after a split mass number: F-FDG, Tc-
_PAGENUM_RE = re.compile(
    r"\d{1,3}|[-–—]\s?\d{1,3}\s?[-–—]|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|\d{1,3}\s*(?:of|/)\s*\d{1,3}",
    re.I,
)
_HEAD_NUM_RE = re.compile(r"(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.)\s+")
_KNOWN_HEAD_RE = re.compile(
    r"abstract|summary|introduction|background|objectives?|aims?|purpose|"
    r"(?:materials|patients|subjects) and methods|methods?|results?|"
    r"case (?:reports?|presentations?|descriptions?|history|summary|series|\d{1,2})|cases?|"
    r"clinical (?:history|presentation|course|summary|case|details|features)|"
    r"(?:medical )?history|presentation|examination|investigations?|diagnosis|differential diagnosis|"
    r"treatment|management|therapy|interventions?|outcomes?(?: and follow[- ]up)?|follow[- ]up|"
    r"discussion|conclusions?|discussion and conclusions?|comments?|"
    r"learning points|teaching points?|key messages|keywords?|key words|references|"
    r"acknowledge?ments?|patient concerns|rationale|lessons|highlights|"
    r"(?:[a-z]+[ -]){0,2}(?:findings|features|results|investigations|course|studies)|"
    r"imaging|pathology|histopathology|figure legends?",
    re.I,
)
# prefixes written with a hyphen in running text ("non-tender", "well-defined"); the medical
# combining forms (hyper, hypo, peri, intra, sub, trans, poly ...) close up instead:
# "hyper-|tension" is "hypertension" unless the document spells it with a hyphen elsewhere
_PREFIXES = frozenset(
    "non anti pre post co re self well ill over under ex pro quasi cross long short high low mid "
    "half all follow fine first second third small large full part double single end day".split()
)
_HYPHEN_SECONDS = frozenset(
    "year years month months week weeks day days old like based free dependent positive negative "
    "guided term grade up weighted enhanced related induced associated type cell cells line "
    "specific shaped sized defined known fold dose".split()
)
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_ANY_WS_RE = re.compile(r"\s+")
_HYPHEN_FIRST_RE = re.compile(r"([A-Za-z0-9]+)-$")

_ABSTRACT_HEADS = (r"Background|Introduction|Objectives?|Aims?|Methods|Results|"
                   r"Case (?:presentation|report|description)s?|Discussion|Conclusions?")
# a structured-abstract heading glued to the sentence before and to its own text
_GLUED_HEAD_RE = re.compile(rf"[.!?:)\]\n]({_ABSTRACT_HEADS})(?=[A-Z])")
_GLUED_HEAD_START_RE = re.compile(rf"({_ABSTRACT_HEADS})(?=[A-Z])")
_GLUED_CASE_RE = re.compile(r"[.!?](Case \d{1,2} ?[:.] )")
# records only: "... crucial. Methods From January ..." (headings flattened into the abstract)
_SPACED_HEAD_RE = re.compile(rf"(?:[.!?] |\n)((?:[A-Z][a-z]+/)?(?:{_ABSTRACT_HEADS}))(?= [A-Z])")
_SPACED_HEAD_START_RE = re.compile(rf"((?:[A-Z][a-z]+/)?(?:{_ABSTRACT_HEADS}))(?= [A-Z])")


class _Line:
    """A non-blank line: content bounds in the current text and cached properties."""

    __slots__ = ("s", "e", "c", "blank", "glue", "term", "func", "low")

    def __init__(self, s: int, e: int, c: str, blank: bool) -> None:
        self.s, self.e, self.c, self.blank = s, e, c, blank
        self.glue = False                       # glued to the next line (split superscript)
        self.term = _TERMINAL_RE.search(c, max(0, len(c) - 16)) is not None   # ends a sentence
        self.func = c[c.rfind(" ") + 1:] in _FUNC_WORDS                        # ends in "and", "of", ...
        self.low = c[0].islower()                                                 # starts lowercase


def _clean(text: str, offs: list[int], record: bool = False) -> tuple[str, list[int], bool]:
    """Clean ``text`` (with its offsets); returns the new text, offsets, and a PDF-artefact flag."""
    text, offs = _spaces(text, offs)
    edits, pdf = _line_edits(text)
    text, offs = _apply(text, offs, edits)
    text, offs = _apply(text, offs, _heading_edits(text, record))
    return text, offs, pdf


def _spaces(text: str, offs: list[int]) -> tuple[str, list[int]]:
    text, offs = _apply(text, offs, _space_edits(text))
    if "  " in text:    # a dropped character sat between two spaces
        text, offs = _apply(text, offs, [(m.start(), m.end(), " ") for m in _WS_RE.finditer(text)])
    return text, offs


def _space_edits(text: str) -> list[_Edit]:
    """Runs of spaces/tabs/no-break spaces become one space; soft hyphens, zero-width
    characters and stray control characters are dropped."""
    edits: list[_Edit] = [(m.start(), m.end(), " ") for m in _WS_RE.finditer(text)]
    if _DROP_ANY_RE.search(text):   # (never overlaps a space run: the classes are disjoint)
        edits += [(m.start(), m.end(), "") for m in _DROP_RE.finditer(text)]
        edits.sort()
    return edits


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    blank = False
    for raw in text.splitlines(True):
        body = raw.rstrip(_LINE_ENDS)
        c = body.strip()
        if c:
            s = pos + len(body) - len(body.lstrip())
            lines.append(_Line(s, s + len(c), c, blank))
            blank = False
        elif lines:
            blank = True
        if raw.endswith("\x0c"):   # form feed: page break
            blank = True
        pos += len(raw)
    return lines


def _line_edits(text: str) -> tuple[list[_Edit], bool]:
    """Edits that rebuild the line structure; also tells whether the text looks PDF-extracted."""
    lines = _split_lines(text)
    if not lines:
        return [(0, len(text), "")], False
    n = len(lines)

    # split superscripts: "18\nF-FDG", "2\n\nnd"
    sup = 0
    for i in range(n - 1):
        a, b = lines[i].c, lines[i + 1].c
        ordinal = len(b) == 2 and _ORDINAL_RE.fullmatch(b) is not None
        if (ordinal and a[-1].isdigit()) or (
                len(a) <= 4 and _SUPNUM_RE.fullmatch(a) and (ordinal or _ELEMENT_RE.match(b))):
            lines[i].glue = True
            sup += 1

    # page furniture: bare page numbers, running headers/footers (same short line 3+ times)
    counts = Counter(ln.c for ln in lines if len(ln.c) <= 80)
    repeated = {c for c, k in counts.items() if k >= 3 and len(c) >= 3 and not _is_known_heading(c)}
    kept: list[_Line] = []
    drop_blank = False
    for i, ln in enumerate(lines):
        glued = ln.glue or (i > 0 and lines[i - 1].glue)
        if not glued and (ln.c in repeated or len(ln.c) <= 16 and _PAGENUM_RE.fullmatch(ln.c)):
            drop_blank = True
            continue
        if drop_blank and kept:
            ln.blank = True
        drop_blank = False
        kept.append(ln)
    lines = kept
    n = len(lines)
    if not n:
        return [(0, len(text), "")], False

    # hard-wrapped (PDF-extracted) text?
    singles = signals = 0
    for i in range(n - 1):
        la, lb = lines[i], lines[i + 1]
        if lb.blank:
            continue
        singles += 1
        if not la.term and (lb.low or la.c[-1] in ",-" or la.func):
            signals += 1
    pdf = sup > 0 or (signals >= 3 and signals >= 0.25 * singles)
    lengths = sorted(len(ln.c) for ln in lines)
    width = lengths[int(0.8 * (n - 1))] if pdf else 0

    heads = [_is_heading(lines, i, pdf, width) for i in range(n)]

    edits: list[_Edit] = []
    if lines[0].s > 0:
        edits.append((0, lines[0].s, ""))
    caption = _CAPTION_RE.match(lines[0].c) is not None   # the current paragraph is a figure caption
    for i in range(n - 1):
        la, lb = lines[i], lines[i + 1]
        a, b = la.c, lb.c
        gs = la.e
        if la.glue:
            sep = ""
        elif len(a) >= 2 and a[-1] == "-" and a[-2].isalnum() and b[0].isalnum() and not heads[i + 1]:
            sep = ""
            if not _keep_hyphen(a, b, text):
                gs -= 1
        elif caption and la.term and lb.low:
            sep = "\n\n"           # text that a figure caption interrupted resumes after it
        elif _continues(la, lb):
            sep = " "
        elif heads[i + 1]:
            sep = "\n\n"
        elif heads[i]:
            sep = "\n"
        elif lb.blank:
            sep = "\n\n"
        elif _BULLET_RE.match(b) or (_NUMBERED_RE.match(b) and (not pdf or la.term or a[-1] in ":;")):
            sep = "\n"
        elif not pdf:
            sep = "\n"
        elif la.term and _STARTS_NEW_RE.match(b) and (len(a) < 0.85 * width or _CAPTION_RE.match(b)):
            sep = "\n\n"
        elif len(a) < 0.6 * width and b[0].isupper() and a[-1] not in ",;":
            sep = "\n"
        else:
            sep = " "
        if "\n" in sep:
            caption = _CAPTION_RE.match(b) is not None
        if text[gs:lb.s] != sep:
            edits.append((gs, lb.s, sep))
    if lines[-1].e < len(text):
        edits.append((lines[-1].e, len(text), ""))
    return edits, pdf


def _continues(la: _Line, lb: _Line) -> bool:
    """Does line ``lb`` continue the sentence of line ``la`` (whatever lies between them)?"""
    b = lb.c
    if _BULLET_RE.match(b) or _CAPTION_RE.match(b):
        return False
    return lb.low or la.func or la.c[-1] == ","


def _keep_hyphen(a: str, b: str, text: str) -> bool:
    """At a hyphenated line break, is the hyphen part of the word ("non-tender", "Her-2")?"""
    if not b[0].islower():
        return True
    m = _HYPHEN_FIRST_RE.search(a, max(0, len(a) - 40))
    first = m.group(1) if m else ""
    wm = _WORD_RE.match(b)
    second = wm.group(0) if wm else ""
    if not first or any(ch.isdigit() for ch in first) or first.isupper():
        return True
    if first.lower() in _PREFIXES or second.lower() in _HYPHEN_SECONDS:
        return True
    return f"{first}-{second}" in text   # the document spells it with a hyphen elsewhere


def _is_known_heading(c: str) -> bool:
    m = _HEAD_NUM_RE.match(c)
    core = (c[m.end():] if m else c).rstrip(":. ")
    return bool(core) and _KNOWN_HEAD_RE.fullmatch(core) is not None


def _is_heading(lines: list[_Line], i: int, pdf: bool, width: int) -> bool:
    """A short line that looks like a section heading ("Case report", "DISCUSSION", "2. Methods")."""
    ln = lines[i]
    c = ln.c
    if len(c) > 80 or ln.glue or ln.func or ln.low:
        return False
    if i + 1 < len(lines) and lines[i + 1].low:
        return False
    if c[-1] in ",;-" or _BULLET_RE.match(c) or not (c[0].isupper() or c[0].isdigit()):
        return False
    m = _HEAD_NUM_RE.match(c)
    core = (c[m.end():] if m else c).rstrip(":. ")
    if not core:
        return False
    if _KNOWN_HEAD_RE.fullmatch(core):
        return True
    if i == 0 or c[-1] == "." or (_CAPTION_RE.match(c) and not c.endswith(":")):
        return False
    words = core.split()
    if len(words) > 8 or "," in core or ". " in core:
        return False
    if pdf and len(c) > 0.6 * width:
        return False
    letters = [ch for ch in core if ch.isalpha()]
    if len(letters) >= 3 and all(ch.isupper() for ch in letters):
        return True                               # ALL CAPS
    if m and core[0].isupper():
        return True                               # "2. Case presentation"
    if c.endswith(":") and len(words) <= 5:
        return True                               # "Imaging studies:"
    sig = [w for w in words if len(w) >= 4 and w[0].isalpha()]
    return bool(sig) and sum(w[0].isupper() for w in sig) * 2 > len(sig)   # Title Case


def _heading_edits(text: str, record: bool) -> list[_Edit]:
    """Split run-together structured-abstract headings onto their own line."""
    edits: list[_Edit] = []
    matches = list(_GLUED_HEAD_RE.finditer(text))
    m0 = _GLUED_HEAD_START_RE.match(text)
    for m in ([m0] if m0 else []) + matches:
        s = m.start(1)
        if s > 0 and text[s - 1] != "\n":
            edits.append((s, s, "\n\n"))
        edits.append((m.end(1), m.end(1), "\n"))
    for m in _GLUED_CASE_RE.finditer(text):
        edits.append((m.start(1), m.start(1), "\n\n"))
    if record:
        spaced = list(_SPACED_HEAD_RE.finditer(text))
        m0 = _SPACED_HEAD_START_RE.match(text)
        for m in ([m0] if m0 else []) + spaced:
            s = m.start(1)
            if s > 0 and text[s - 1] == " ":
                edits.append((s - 1, s, "\n\n"))
            edits.append((m.end(1), m.end(1) + 1, "\n"))
    edits.sort()
    return edits


# --------------------------------------------------------------------------- citations

_DOI_RE = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")    # (no leading \b: it makes the search 20x slower)
_PMID_RE = re.compile(r"PMID:?\s*(\d{1,9})(?!\d)")


def _clean_doi(value: str) -> str | None:
    for m in _DOI_RE.finditer(value):
        if m.start() == 0 or not (value[m.start() - 1].isalnum() or value[m.start() - 1] == "."):
            break
    else:
        return None
    doi = m.group(0)
    while doi and doi[-1] in ".,;:]'":
        doi = doi[:-1]
    if doi.endswith(")") and doi.count("(") < doi.count(")"):
        doi = doi[:-1]
    return doi or None


def _text_citation(text: str, original: str) -> Citation:
    first = text.split("\n", 1)[0]
    title = None
    if (3 <= len(first) <= 250 and " " in first and first[-1] not in ".,;:"
            and not first[0].islower() and not _BULLET_RE.match(first)
            and not _is_known_heading(first)):
        title = first
    pm = _PMID_RE.search(original) if "PMID" in original else None
    return Citation(title=title, doi=_clean_doi(original), pmid=pm.group(1) if pm else None)


def _collapse(value: str) -> str:
    return " ".join(value.split())


# --------------------------------------------------------------------------- record formats

_REFER_TAG_RE = re.compile(r"(?:^|(?<=\s))%([0-9A-Z@!#$&*+^~\]])(?=\s)")
_REFER_START_RE = re.compile(r"\s*%[0-9A-Z] ")
_TAGGED_LINE_RE = re.compile(r"([A-Z][A-Z0-9]{1,3}) {0,3}- ?")
_MEDLINE_START_RE = re.compile(r"\s*PMID- ?\d")
_RIS_START_RE = re.compile(r"\s*TY  - ")


def _parse_record(original: str, name: str, warnings: list[str]
                  ) -> tuple[str | None, Citation, str, list[int]]:
    if _REFER_START_RE.match(original):
        fields = _refer_fields(original, warnings)
        if fields is not None:
            return ("endnote", *_record_document(original, name, fields, _REFER_MAP, "EndNote",
                                                 warnings))
    if _MEDLINE_START_RE.match(original):
        fields = _tagged_fields(original, "PMID", warnings)
        if fields is not None:
            return ("medline", *_record_document(original, name, fields, _MEDLINE_MAP, "MEDLINE",
                                                 warnings))
    if _RIS_START_RE.match(original):
        fields = _tagged_fields(original, "TY", warnings)
        if fields is not None:
            return ("ris", *_record_document(original, name, fields, _RIS_MAP, "RIS", warnings))
    return None, Citation(), "", []


# tag -> (field) for each format; the first tag present wins for single-valued fields
_REFER_MAP = {"title": ("T",), "authors": ("A",), "journal": ("J", "B"), "date": ("D", "8"),
              "doi": ("R", "U"), "pmid": ("M",), "abstract": ("X",)}
_MEDLINE_MAP = {"title": ("TI",), "authors": ("AU", "FAU"), "journal": ("TA", "JT"), "date": ("DP",),
                "doi": ("LID", "AID"), "pmid": ("PMID",), "abstract": ("AB",)}
_RIS_MAP = {"title": ("TI", "T1"), "authors": ("AU", "A1"), "journal": ("JO", "JF", "T2", "JA"),
            "date": ("DA", "PY", "Y1"), "doi": ("DO",), "pmid": ("AN",), "abstract": ("AB", "N2")}

# a field value: the (start, end) spans in ``original`` of its pieces (one per line)
_Fields = dict[str, list[list[tuple[int, int]]]]


def _refer_fields(original: str, warnings: list[str]) -> _Fields | None:
    tags = list(_REFER_TAG_RE.finditer(original))
    if len(tags) < 2:
        return None
    fields: _Fields = {}
    for k, m in enumerate(tags):
        tag = m.group(1)
        if tag == "0" and k > 0:
            warnings.append(f"contains more than one EndNote record; only the first is read "
                            f"({sum(t.group(1) == '0' for t in tags)} records)")
            break
        end = tags[k + 1].start() if k + 1 < len(tags) else len(original)
        s, e = _strip_span(original, m.end(), end)
        if s < e:
            fields.setdefault(tag, []).append([(s, e)])
    return fields if ("T" in fields or "X" in fields) else None


def _tagged_fields(original: str, start_tag: str, warnings: list[str]) -> _Fields | None:
    """MEDLINE/RIS: ``TAG - value`` lines; other non-blank lines continue the previous value."""
    fields: _Fields = {}
    current: list[tuple[int, int]] | None = None
    pos = 0
    tagged = 0
    for raw in original.splitlines(True):
        line = raw.rstrip(_LINE_ENDS)
        m = _TAGGED_LINE_RE.match(line)
        if m:
            tag = m.group(1)
            if tag == start_tag and tagged:
                warnings.append("contains more than one record; only the first is read")
                break
            tagged += 1
            s, e = _strip_span(original, pos + m.end(), pos + len(line))
            current = [(s, e)] if s < e else []
            fields.setdefault(tag, []).append(current)
        elif line.strip() and current is not None:
            s, e = _strip_span(original, pos, pos + len(line))
            current.append((s, e))
        pos += len(raw)
    if tagged < 3 or not ({"TI", "T1", "AB", "N2"} & fields.keys()):
        return None
    return fields


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    """``(s, e)`` without leading and trailing white space (empty: ``start == end``)."""
    seg = text[s:e]
    stripped = seg.strip()
    if not stripped:
        return s, s
    start = s + len(seg) - len(seg.lstrip())
    return start, start + len(stripped)


def _record_document(original: str, name: str, fields: _Fields, tags: dict[str, tuple[str, ...]],
                     label: str, warnings: list[str]) -> tuple[Citation, str, list[int]]:
    def pick(key: str) -> list[list[tuple[int, int]]]:
        for t in tags[key]:
            if t in fields:
                return fields[t]
        return []

    def value(spans: list[tuple[int, int]]) -> str:
        return _collapse(" ".join(original[s:e] for s, e in spans))

    def first(key: str) -> str | None:
        vals = pick(key)
        return (value(vals[0]) or None) if vals else None

    pieces: list[tuple[str, list[int]]] = []
    title_vals, abstract_vals = pick("title"), pick("abstract")
    title_text = None
    if title_vals:
        t, o = _flow(original, title_vals[0], label)
        if t:
            pieces.append((t, o))
            title_text = t
    if abstract_vals:
        for spans in abstract_vals:
            t, o = _flow(original, spans, label, abstract=True)
            if t:
                pieces.append((t, o))
    else:
        warnings.append(f"{label} record has no abstract; only the title is available")
    if not pieces:
        raise ReadError(f"{name}: {label} record has neither a title nor an abstract; "
                        "export the record with its abstract, or give the article text")
    text, offs = _concat(pieces, "\n\n")

    doi = None
    for spans in (sp for t in tags["doi"] for sp in fields.get(t, ())):   # e.g. %R, then a doi.org %U
        doi = _clean_doi(value(spans))
        if doi:
            break
    pmid = None
    for spans in pick("pmid"):
        v = value(spans).removeprefix("PMID:").strip()
        if v.isdigit():
            pmid = v
            break
    authors = tuple(a for a in (value(s) for s in pick("authors")) if a)
    if title_text and title_text.endswith(".") and not title_text.endswith(".."):
        title_text = title_text[:-1]    # bibliographic titles without the closing full stop
    citation = Citation(title=title_text, authors=authors, journal=first("journal"),
                        date=first("date"), doi=doi, pmid=pmid)
    return citation, text, offs


def _flow(original: str, spans: list[tuple[int, int]], label: str,
          abstract: bool = False) -> tuple[str, list[int]]:
    """Text and offsets of one field value.

    EndNote values are cleaned like plain text (their lines may be hard-wrapped or
    paragraphs); MEDLINE/RIS continuation lines are wrapped lines of one paragraph.
    """
    if label == "EndNote":
        s, e = spans[0][0], spans[-1][1]
        text, offs = original[s:e], list(range(s, e + 1))
    else:
        text, offs = _concat([(original[s:e], list(range(s, e + 1))) for s, e in spans], " ")
    if abstract:
        text, offs, _ = _clean(text, offs, record=True)
        return text, offs
    text, offs = _spaces(text, offs)
    text, offs = _apply(text, offs, [(m.start(), m.end(), " ") for m in _ANY_WS_RE.finditer(text)
                                     if m.group(0) != " "])
    return _strip(text, offs)


def _strip(text: str, offs: list[int]) -> tuple[str, list[int]]:
    left, right = len(text) - len(text.lstrip()), len(text.rstrip())
    if left == 0 and right == len(text):
        return text, offs
    if right <= left:
        return "", [offs[left]]
    return text[left:right], offs[left:right] + [offs[right - 1] + 1]
