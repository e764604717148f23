"""A compact syntax checker for UCUM unit expressions (case-sensitive ``c/s`` codes).

Grammar (UCUM §2, "The Unified Code for Units of Measure", Regenstrief Institute)::

    main-term   ::= "/" term | term
    term        ::= component ( ("." | "/") component )*
    component   ::= annotatable annotation? | annotation | factor | "(" term ")"
    annotatable ::= simple-unit exponent?
    simple-unit ::= ATOM | PREFIX metric-ATOM
    exponent    ::= ("+" | "-")? digits
    factor      ::= digits
    annotation  ::= "{" ASCII 33..126 except braces "}"

Atoms (with their metric flag) and prefixes are data (``data/ucum_atoms.json``, from the
UCUM essence), not code. Only syntax and the atom/prefix vocabulary are checked, not
dimensions or semantics.
"""

from __future__ import annotations

from functools import cache

from . import _data

_STOP = frozenset("./(){}+-0123456789")


@cache
def _vocab() -> tuple[dict[str, bool], tuple[str, ...]]:
    data = _data.ucum()
    atoms: dict[str, bool] = data["atoms"]
    prefixes = tuple(sorted(data["prefixes"], key=len, reverse=True))
    return atoms, prefixes


class UcumError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.atoms, self.prefixes = _vocab()

    def fail(self, why: str) -> UcumError:
        return UcumError(f"{why} at position {self.i}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> None:
        if not self.s:
            raise self.fail("empty unit")
        if self.peek() == "/":
            self.i += 1
        self.term()
        if self.i != len(self.s):
            raise self.fail(f"unexpected {self.peek()!r}")

    def term(self) -> None:
        self.component()
        while self.peek() in (".", "/"):
            self.i += 1
            self.component()

    def component(self) -> None:
        c = self.peek()
        if not c:
            raise self.fail("unit expected")
        if c == "(":
            self.i += 1
            self.term()
            if self.peek() != ")":
                raise self.fail("')' expected")
            self.i += 1
            return
        if c == "{":
            self.annotation()
            return
        if c.isdigit():
            if self.s.startswith(("10*", "10^"), self.i):
                self.i += 3
                self.exponent()
                if self.peek() == "{":
                    self.annotation()
                return
            while self.peek().isdigit():
                self.i += 1
            return
        self.simple_unit()
        self.exponent()
        if self.peek() == "{":
            self.annotation()

    def exponent(self) -> None:
        start = self.i
        if self.peek() in ("+", "-"):
            self.i += 1
        if not self.peek().isdigit():
            if self.i != start:
                raise self.fail("digits expected after the exponent sign")
            return
        while self.peek().isdigit():
            self.i += 1

    def annotation(self) -> None:
        end = self.s.find("}", self.i + 1)
        if end < 0:
            raise self.fail("unclosed '{'")
        body = self.s[self.i + 1:end]
        if any(not (33 <= ord(ch) <= 126) or ch == "{" for ch in body):
            raise self.fail("annotation may only hold printable ASCII without spaces or braces")
        self.i = end + 1

    def simple_unit(self) -> None:
        start = self.i
        s = self.s
        while self.i < len(s):
            ch = s[self.i]
            if ch == "[":
                end = s.find("]", self.i + 1)
                if end < 0:
                    raise self.fail("unclosed '['")
                self.i = end + 1
            elif ch in _STOP or ch == "]" or ch.isspace():
                break
            else:
                self.i += 1
        symbol = s[start:self.i]
        if not symbol:
            raise self.fail(f"unexpected {self.peek()!r}")
        if symbol in self.atoms:
            return
        for p in self.prefixes:
            if symbol.startswith(p) and self.atoms.get(symbol[len(p):]):
                return
        self.i = start
        raise self.fail(f"unknown unit {symbol!r}")


def check(code: str) -> str | None:
    """None when ``code`` is a syntactically valid UCUM expression, else why not."""
    try:
        _Parser(code).parse()
    except UcumError as exc:
        return str(exc)
    return None


def is_valid(code: str) -> bool:
    return check(code) is None
