"""Concept recognition: dictionary matches in a sentence, with the text's own abbreviations and
coordinated heads ("estrogen and progesterone receptor" names two tests)."""

from __future__ import annotations

import re

from ..mappings import Mappings, Match

CATEGORIES = ("disorder", "finding", "body_site", "lab", "modality", "procedure", "medication")
# a word right after these is the end of a prepositional phrase, not a modifier of what follows
_ENDS_PHRASE = re.compile(r"\b(?:in|of|on|at|to|from|into|within)\s+(?:the\s+|both\s+|his\s+|her\s+)?"
                          r"(?:left|right|bilateral)?\s*$", re.I)
_DEFINED = re.compile(r"\(([A-Z][A-Za-z0-9-]{1,9})\)|(?<=\w)/([A-Z]{2,6})\b")
_DETERMINERS = ("a", "an", "the", "his", "her", "their", "its", "some")
_TREATMENT_RIVALS = frozenset({"procedure", "medication", "lab", "modality"})


def long_form_start(before: str, short: str) -> int | None:
    """Where the long form of ``short`` begins in the text just before it (Schwartz & Hearst 2003):
    the letters of the short form, in order, within the last few words, the first one starting a
    word. None when they do not spell it."""
    letters = [ch.lower() for ch in short if ch.isalnum()]
    words = list(re.finditer(r"[A-Za-z0-9]+", before))[-(min(len(letters) + 5, 2 * len(letters))):]
    if not letters or not words:
        return None
    li = len(letters) - 1
    pos = len(before)
    for w in reversed(words):
        token = w.group(0).lower()
        i = len(token) - 1
        while i >= 0 and li >= 0:
            if token[i] == letters[li] and (li > 0 or i == 0):
                li -= 1
            i -= 1
        pos = w.start()
        if li < 0:
            return pos
    return None


class ConceptFinder:
    """Finds the mappings' terms in a sentence; read-only, shared across documents."""

    def __init__(self, mappings: Mappings) -> None:
        self.maps = mappings
        # the lexicon's procedures and substances are matched apart ("excision of the breast lump" is a
        # procedure and still a breast lump); a curated term of any kind is never shadowed by one
        apart = tuple(mappings.rules.get("lexicon", {}).get("matched_apart") or ())
        # body sites are matched on their own: they sit inside disease names ("breast cancer")
        self.matcher = mappings.matcher(*(c for c in CATEGORIES if c != "body_site"), apart=apart)
        self.apart_matcher = mappings.matcher(*apart, only_lexicon=True) if apart else None
        self.site_matcher = mappings.matcher("body_site")
        org = mappings.rules.get("context", {}).get("organisation_names") or {}
        heads = "|".join(re.escape(w) for w in org.get("heads", []))
        lower = "|".join(re.escape(w) for w in org.get("lower_heads", []))
        self._name_after = re.compile(rf"(?:\s+[A-Z][\w'’-]*|\s*,\s*[A-Z][\w'’-]*|\s+&|\s+and){{0,4}}\s+(?:{heads})\b"
                                      if heads else r"(?!)")
        self._name_before = re.compile(rf"\b(?:{heads})\s+(?:of|for|on)\s+(?:the\s+)?"
                                       rf"(?:[A-Z][\w'’-]*,?\s+|&\s+|and\s+){{0,4}}$" if heads else r"(?!)")
        self._lower_after = re.compile(rf"\s+(?:{lower})\b" if lower else r"(?!)")
        not_mentions = mappings.rules.get("context", {}).get("not_mentions") or []
        self._not_mentions = re.compile("|".join(f"(?:{p})" for p in not_mentions) or r"(?!)", re.I)
        places = mappings.rules.get("context", {}).get("places") or {}
        self._places = frozenset(places.get("words", []))
        self._place_before = re.compile(rf"(?:{places['before']})\s*$" if places.get("before") else r"(?!)", re.I)
        rel = mappings.rules.get("relations", {})
        self._genus = re.compile(rf"(?:{rel['binomial_genus']})\s*$" if rel.get("binomial_genus") else r"(?!)")
        self._genus_keeps = frozenset(t.lower() for t in rel.get("binomial_keeps", []))
        self._epithet = re.compile(rel.get("binomial_epithet") or r"(?!)")

    def category(self, mt: Match) -> str:
        """The category a match is read as when its term names concepts of several."""
        return self.maps.preferred(mt.keys).split(".", 1)[0]

    def key(self, mt: Match, cat: str) -> str:
        """The concept of ``cat`` a match names, a coded one first."""
        return self.maps.preferred(mt.keys, cat)

    def find(self, text: str, abbrev: dict[str, tuple[str, ...]]) -> list[Match]:
        """Every concept match of a sentence, sorted; ``abbrev`` (the document's definitions) grows."""
        blocked = [(m.start(), m.end()) for m in self._not_mentions.finditer(text)]
        matches = [self._after_non(text, mt) for mt in self.matcher.find(text)
                   if not self._in_name(text, mt) and not self._in_binomial(text, mt) and not self._is_place(text, mt)
                   and not any(a <= mt.start and mt.end <= b for a, b in blocked)]
        # "squamous cell lung cancer (SCLC)": the text's own definition beats the dictionary's
        for m in _DEFINED.finditer(text):
            short = m.group(1) or m.group(2)
            prev = [mt for mt in matches if mt.end <= m.start() and m.start() - mt.end <= 2]
            if m.group(2) and prev and long_form_start(text[prev[-1].start:m.start()], short) != 0:
                continue        # "ER/PR", "PE/DVT": two terms; "total bilirubin/TB" spells its definition
            if not prev and m.group(1):
                # "computed tomography of the brain (CTB)": the long form the letters spell out
                start = long_form_start(text[:m.start()], short)
                prev = [mt for mt in matches if start is not None and mt.start == start]
                if start is not None and not prev:
                    # "endotracheal tube (ET)", "acne fulminans (AF)": the text's own abbreviation for
                    # something the dictionary does not name; its other sense ("AF" atrial
                    # fibrillation) is not what the text means by it
                    abbrev.setdefault(short, ())
            if prev:
                abbrev[short] = prev[-1].keys
        if abbrev:
            matches = self._with_abbreviations(text, matches, abbrev)
        if self.apart_matcher is not None:
            # a lexicon procedure or substance where no curated procedure, medication, test or modality is
            matches = matches + [a for a in self.apart_matcher.find(text) if not any(
                mt.start < a.end and a.start < mt.end and self.category(mt) in _TREATMENT_RIVALS for mt in matches)]
        matches = matches + self.site_matcher.find(text)
        return sorted(matches + self._coordinated(text, matches), key=lambda m: (m.start, -m.end))

    def _after_non(self, text: str, mt: Match) -> Match:
        """"non-ruptured ectopic pregnancy" is an ectopic pregnancy, not a denied ruptured one: after a
        "non-" prefix, a term whose first word the prefix negates gives way to the term of its other
        words, when they name one."""
        if text[max(0, mt.start - 4):mt.start].lower() not in ("non-", "non "):
            return mt
        first = re.match(r"[\w'’]+[\s-]+", text[mt.start:mt.end])
        if first is None:
            return mt
        start = mt.start + first.end()
        found = self.matcher.find(text[start:mt.end])
        if found and found[0].start == 0 and found[0].end == mt.end - start:
            return Match(start, mt.end, found[0].term, found[0].keys)
        return mt

    def _is_place(self, text: str, mt: Match) -> bool:
        """"presented to the ER": a ward's or a department's abbreviation, not the test it also spells."""
        return text[mt.start:mt.end] in self._places and bool(
            self._place_before.search(text, max(0, mt.start - 30), mt.start))

    def _in_binomial(self, text: str, mt: Match) -> bool:
        """Is the match an organism's species name ("Propionibacterium acnes", "H. influenza")?"""
        word = text[mt.start:mt.end]
        if word.lower() in self._genus_keeps:
            return False
        genus = self._genus.search(text, max(0, mt.start - 40), mt.start)
        return genus is not None and (genus.group(0).rstrip().endswith(".") or bool(self._epithet.match(word)))

    def _in_name(self, text: str, mt: Match) -> bool:
        """Is the match part of an organisation's or a journal's name ("Intercommunity Hospital Stroke
        Center", "Journal of Endocrinology, Diabetes & Obesity", "the infectious diseases committee")?"""
        if self._lower_after.match(text, mt.end):
            return True
        words = text[mt.start:mt.end].split()
        if not words or not all(w[0].isupper() for w in words if w[0].isalpha()):
            return False
        return bool(self._name_after.match(text, mt.end) or self._name_before.search(text, 0, mt.start))

    @staticmethod
    def _with_abbreviations(text: str, matches: list[Match], abbrev: dict[str, tuple[str, ...]]) -> list[Match]:
        redone = []
        for mt in matches:
            word = text[mt.start:mt.end]
            if word in abbrev and abbrev[word] != mt.keys:
                if not abbrev[word]:
                    continue
                mt = Match(mt.start, mt.end, mt.term, abbrev[word])
            redone.append(mt)
        known = {(mt.start, mt.end) for mt in redone}
        for word, keys in abbrev.items():
            if not keys:
                continue
            for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
                if not any(a <= m.start() < b for a, b in known):
                    redone.append(Match(m.start(), m.end(), word.lower(), keys))
        return redone

    def _coordinated(self, text: str, matches: list[Match]) -> list[Match]:
        """Modifiers sharing one head: 'mediastinal and hilar lymphadenopathy', 'right cervical and
        left supraclavicular lymph nodes', 'estrogen and progesterone receptor'."""
        extra = []
        for mt in matches:
            head = mt.term.split(" ")
            before = text[max(0, mt.start - 40):mt.start]
            if len(head) < 2:
                cm = re.search(r"\b([A-Za-z-]+)\s*(?:and|or|,)\s*([A-Za-z-]+)\s+$", before)
                if cm and cm.group(2).lower() not in _DETERMINERS and not _ENDS_PHRASE.search(before[:cm.start(1)]):
                    for g in (1, 2):
                        cand = f"{cm.group(g)} {mt.term}"
                        found = self.matcher.find(cand)
                        if found and found[0].start == 0 and found[0].end == len(cand):
                            start = mt.start - len(before) + cm.start(g)
                            end = mt.end if g == 2 else start + len(cm.group(g))
                            extra.append(Match(start, end, found[0].term, found[0].keys))
                continue
            cm = re.search(r"\b([A-Za-z0-9-]+)\s*(?:and|or|,|/)\s*(?:(?:left|right)\s+)?$", before)
            if not cm:
                continue
            if _ENDS_PHRASE.search(before[:cm.start(1)]):
                continue   # "a lump in the left breast and bone pain": 'breast' ends its own phrase
            cand = cm.group(1) + " " + " ".join(head[1:])
            matcher = self.site_matcher if self.category(mt) == "body_site" else self.matcher
            found = matcher.find(cand)
            if found and found[0].start == 0 and found[0].end == len(cand):
                start = mt.start - len(before) + cm.start(1)
                extra.append(Match(start, start + len(cm.group(1)), found[0].term, found[0].keys))
        return extra
