"""Sections and sentences: where in the document a sentence sits decides what it may assert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# end punctuation, optionally followed by a citation number ("tumours.4 Conforming", "differentiation.1,2 It")
_SENT_END = re.compile(r"[.!?](?=[\s\"')\]]*(?:\s+|$))|(?<=[a-z)])\.\d{1,3}(?:[,–-]\d{1,3})*(?=\s+[A-Z])")
_ABBREV = {"fig", "figs", "dr", "mr", "mrs", "ms", "vs", "e.g", "i.e", "al", "approx", "no", "st", "etc",
           "ca", "resp", "prof", "inc", "ltd", "jr", "sr", "vol", "pp", "cf", "viz", "min", "max"}


_INLINE_LABEL = re.compile(r"^([A-Z][A-Za-z /]{2,30}):\s+(?=\S)")
_RUN_IN_LABEL = re.compile(r"(?<=[.!?])\s+([A-Z][A-Za-z /]{2,30}):\s+(?=\S)")


@dataclass(frozen=True, slots=True)
class Section:
    kind: str       # title | body | abstract | case | general | discussion | skip | figure
    heading: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    text: str
    section: str
    index: int
    heading: str = ""       # the heading of its section ("Discussion", "Conclusions")


@lru_cache(maxsize=16)
def _compile(rules_id: int, headings: tuple[tuple[str, str], ...],
             figure: str) -> tuple[list[tuple[str, re.Pattern[str]]], re.Pattern[str]]:
    return [(k, re.compile(p, re.I)) for k, p in headings], re.compile(figure, re.I)


@dataclass(frozen=True, slots=True)
class _RunIn:
    """Headings run into the text: after a sentence end (strict), anywhere (loose), and the headings
    whose content is a list without stops, so that the next heading ends them wherever it stands."""

    strict: re.Pattern[str]
    loose: re.Pattern[str]
    lists: re.Pattern[str] | None


@lru_cache(maxsize=16)
def _compile_run_in(pattern: str, lists: str) -> _RunIn | None:
    # case-sensitive on purpose: a heading run into the text is told from a sentence by its capital
    # and by the capital that follows it ("... joint. Discussion SAPHO syndrome is ...")
    if not pattern:
        return None
    head = r"(" + pattern + r")\s+(?=[A-Z0-9(])"
    return _RunIn(re.compile(r"(?:(?<=[.!?\])\]])|(?<=[.!?]\d)|^)\s*" + head),
                  re.compile(r"(?:(?<=\s)|^)" + head),
                  re.compile(r"(?:" + lists + r")\W*$", re.I) if lists else None)


def _run_in(rules: dict[str, Any]) -> _RunIn | None:
    return _compile_run_in(rules.get("run_in_headings", ""), rules.get("run_in_list_headings", ""))


def section_patterns(rules: dict[str, Any]) -> tuple[list[tuple[str, re.Pattern[str]]], re.Pattern[str]]:
    """The compiled heading patterns (kind, pattern) and the figure-caption pattern (cached)."""
    heads = tuple((h["kind"], h["pattern"]) for h in rules.get("headings", []))
    _run_in(rules)
    return _compile(id(rules), heads, rules.get("figure", r"^$"))


def split_sections(text: str, rules: dict[str, Any]) -> list[Section]:
    """Cut the text at heading lines; figure captions become sections of their own."""
    patterns, figure = section_patterns(rules)
    sections: list[Section] = []
    kind, heading, start = "body", "", 0
    resume: tuple[str, str] | None = None   # the section a figure caption interrupted
    unknown_label = rules.get("unknown_label_kind")
    labelled = False                        # the current section was opened by an inline label
    first = True
    for line_start, line, pos in _segments(text, patterns, _run_in(rules)):
        stripped = line.strip()
        if not stripped:
            if resume is not None:  # a caption ends at the paragraph break
                if line_start > start:
                    sections.append(Section(kind, heading, start, line_start))
                kind, heading = resume
                start, resume = pos, None
            continue
        label = stripped.rstrip(":").strip()
        new_kind = None
        inline = _INLINE_LABEL.match(stripped)
        if inline and not first:
            # "Patient concerns: We present ..." — a structured-abstract label opening its own paragraph
            found = next((k for k, p in patterns if p.match(inline.group(1).strip())), None)
            if found is None and labelled and kind == "general" and unknown_label:
                found = unknown_label   # "Purpose: ... Observations: The first case ..."
            if found is not None:
                if line_start > start:
                    sections.append(Section(kind, heading, start, line_start))
                offset = line.index(inline.group(0)) + len(inline.group(0))
                kind, heading, start, resume, labelled = found, inline.group(1), line_start + offset, None, True
                continue
        if len(label) <= 60 and not label.endswith("."):
            for k, p in patterns:
                if p.match(label):
                    new_kind = k
                    break
        if first:
            first = False
            if new_kind is None and len(stripped) < 200 and not stripped.endswith(".") \
                    and not stripped.startswith("%"):
                sections.append(Section("title", stripped, line_start, line_start + len(line)))
                start = pos
                continue
        if new_kind is None and figure.match(stripped):
            if line_start > start:
                sections.append(Section(kind, heading, start, line_start))
            if resume is None:
                resume = (kind, heading)
            kind, heading, start = "figure", stripped[:40], line_start
            continue
        if new_kind is not None:
            if line_start > start:
                sections.append(Section(kind, heading, start, line_start))
            kind, heading, start, resume, labelled = new_kind, label, pos, None, False
    if len(text) > start:
        sections.append(Section(kind, heading, start, len(text)))
    return [s for s in sections if text[s.start:s.end].strip()]


def _segments(text: str, patterns: list[tuple[str, re.Pattern[str]]],
              run_in: _RunIn | None = None) -> Iterator[tuple[int, str, int]]:
    """(start, line, start of what follows) for each line, a line cut where a structured abstract's
    label runs on after a sentence ("... patients. Case presentation: A 26-year-old ...", the
    form abstracts take in bibliographic records), and where a heading runs on with no colon, as
    in a web page or a PDF flattened to one line ("... mobility. Discussion SAPHO syndrome is ..."):
    the heading then stands as a line of its own."""
    pos = 0
    for line in text.split("\n"):
        line_start, pos = pos, pos + len(line) + 1
        cuts: list[tuple[int, int, int]] = []    # (start of label, end of label or -1, start of what follows)
        for m in _RUN_IN_LABEL.finditer(line):
            label = m.group(1).strip()
            if label.isupper() and len(label) >= 4 or any(p.match(label) for _, p in patterns):
                cuts.append((m.start(1), -1, m.end()))
        if run_in is not None:
            cuts.extend(_run_in_cuts(line, run_in, cuts))
        cut = 0
        for start, label_end, after in sorted(cuts):
            if start < cut:
                continue
            if start > cut:
                yield line_start + cut, line[cut:start], line_start + start
            if label_end >= 0:
                # the heading alone, then the text after it opens the next line
                yield line_start + start, line[start:label_end], line_start + after
                start = after
            cut = start
        yield line_start + cut, line[cut:], pos


def _run_in_cuts(line: str, run_in: _RunIn, labels: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Headings with no colon in a line: after a sentence end; right after another heading (a
    page's list of contents, "Abstract Introduction Case presentation ..."); and anywhere after a
    list such as the keywords, which ends with no stop ("Keywords Vasculitis Asthma Introduction ...")."""
    found = [(m.start(1), m.end(1), m.end()) for m in run_in.strict.finditer(line)
             if not any(c[0] <= m.start(1) < c[0] + 40 for c in labels)]
    # a page's table of contents, or an abstract's first label after its heading: two or more headings
    # in a row with nothing between them ("Abstract Introduction Case presentation ...", "Abstract Background")
    run: list[tuple[int, int, int]] = []
    for m in [*run_in.loose.finditer(line), None]:
        if m is not None and run and not _between(line, run[-1][2], m.start(1)):
            run.append((m.start(1), m.end(1), m.end()))
            continue
        if len(run) >= 2:
            found.extend(c for c in run if all(f[0] != c[0] for f in found))
        run = [(m.start(1), m.end(1), m.end())] if m is not None else []
    todo = [*labels, *found]
    seen = {c[0] for c in todo}
    while todo:
        start, label_end, after = todo.pop()
        label = line[start:label_end] if label_end >= 0 else line[start:after]
        is_list = run_in.lists is not None and bool(run_in.lists.match(label.strip()))
        m = run_in.loose.search(line, after)
        while m is not None and m.start(1) in seen:
            m = run_in.loose.search(line, m.end())
        if m is None or not (is_list or not _between(line, after, m.start(1))):
            continue
        seen.add(m.start(1))
        new = (m.start(1), m.end(1), m.end())
        found.append(new)
        todo.append(new)
    return found


def _between(line: str, start: int, end: int) -> str:
    """What stands between two headings, spaces and separators aside."""
    return line[start:end].strip(" \t\u2003\u00a0:;,.-–—|")


_LAST_WORD = re.compile(r"([A-Za-z.]+)$")
_UNIT_END = re.compile(r"[/\d]")


def split_sentences(text: str, sections: list[Section]) -> list[Sentence]:
    """Rule-based sentence split: end punctuation not after an abbreviation, and line breaks."""
    out: list[Sentence] = []
    for sec in sections:
        for para_start, para in _lines(text, sec.start, sec.end):
            cut = 0
            for m in _SENT_END.finditer(para):
                end = m.end()
                # the word before the stop, looked for in a short window: searching back to the last
                # cut would be quadratic in a paragraph whose stops are all skipped
                w0 = max(cut, m.start() - 64)
                word = _LAST_WORD.search(para, w0, m.start())
                # a single letter is an initial ("J. Smith") unless it ends a unit ("5.2 mmol/L.")
                initial = word is not None and len(word.group(1)) == 1 \
                    and not (word.start() > cut and _UNIT_END.match(para, word.start() - 1))
                if word and (word.group(1).lower().rstrip(".") in _ABBREV or initial):
                    continue
                nxt = para[end:end + 3].lstrip()
                if nxt and nxt[0].islower():
                    continue
                _add(out, text, para_start + cut, para_start + end, sec)
                cut = end
            if cut < len(para):
                _add(out, text, para_start + cut, para_start + len(para), sec)
    return out


def _lines(text: str, start: int, end: int) -> list[tuple[int, str]]:
    res = []
    pos = start
    for line in text[start:end].split("\n"):
        if line.strip():
            res.append((pos, line))
        pos += len(line) + 1
    return res


#: a "sentence" longer than this is a run of text with no usable stops (a table flattened by a
#: PDF extractor, a list without punctuation): it is cut into pieces of at most this length, at a
#: semicolon, a comma or a space, so that the per-sentence steps (cue scopes, lists, relations)
#: stay linear in the document's length. Real sentences in case reports stay far below it.
MAX_SENTENCE = 1000


def _add(out: list[Sentence], text: str, start: int, end: int, sec: Section) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > MAX_SENTENCE:
        cut = _piece_end(text, start, start + MAX_SENTENCE)
        _add(out, text, start, cut, sec)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        out.append(Sentence(start, end, text[start:end], sec.kind, len(out), sec.heading))


def _piece_end(text: str, start: int, limit: int) -> int:
    """Where to cut an over-long sentence: after the last ';', else ',', else space in its second half."""
    half = start + (limit - start) // 2
    for mark in (";", ",", " "):
        k = text.rfind(mark, half, limit)
        if k >= 0:
            return k + 1
    return limit
