"""Layer 4, bindings: required value-set bindings on code, Coding and CodeableConcept.

The value sets are expanded offline when the data is built (``bindings.json``, from R4
``valuesets.json``). Of those that cannot be expanded offline (listed in
``data/SOURCES.md``), mimetypes, currencies and ucum-units are checked by syntax (BCP 13
media type, ISO 4217 letters, UCUM grammar); the others are not checked. A CodeableConcept
passes when one of its codings is in the value set; text alone does not satisfy a required
binding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from ..model import Issue, Severity
from . import _data, _ucum
from ._walk import Context

LAYER = "binding"
UCUM = "http://unitsofmeasure.org"
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
# a parameter value may also be a bare URL: FHIR's own signature format is
# application/fhir+json;canonicalization=http://hl7.org/fhir/canonicalization/json
_MIME = re.compile(rf'^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=("[^"]*"|{_TOKEN}|[A-Za-z][A-Za-z0-9+.-]*:[^\s;"]+))*$')
_SHORTHAND = frozenset({"xml", "json", "ttl"})   # CapabilityStatement.format also allows these

# value sets that cannot be expanded offline, checked by the syntax of their codes instead:
# url -> (system of the codes, predicate)
SYNTAX: dict[str, tuple[str, Callable[[str], bool]]] = {
    "http://hl7.org/fhir/ValueSet/mimetypes":
        ("urn:ietf:bcp:13", lambda c: bool(_MIME.match(c)) or c in _SHORTHAND),
    "http://hl7.org/fhir/ValueSet/currencies":
        ("urn:iso:std:iso:4217", lambda c: len(c) == 3 and c.isascii() and c.isalpha() and c.isupper()),
    "http://hl7.org/fhir/ValueSet/ucum-units": (UCUM, _ucum.is_valid),
}


@cache
def allowed(url: str) -> frozenset[tuple[str, str]] | None:
    """(system, code) pairs of a required value set; None when it was not expanded."""
    vs = _data.bindings()["valueSets"].get(url)
    if vs is None:
        return None
    return frozenset((system, code) for system, codes in vs.items() for code in codes)


@cache
def allowed_codes(url: str) -> frozenset[str] | None:
    pairs = allowed(url)
    return None if pairs is None else frozenset(code for _system, code in pairs)


def _show(url: str) -> str:
    pairs = allowed(url) or frozenset()
    codes = sorted(code for _s, code in pairs)
    shown = "|".join(codes[:12]) + ("|..." if len(codes) > 12 else "")
    return f"{url} ({shown})"


def check(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    elements: dict[str, dict[str, str]] = _data.bindings()["elements"]
    for node in ctx.nodes:
        b = elements.get(node.path)
        if b is None:
            continue
        url, value = b["valueSet"], node.value
        kind = b["type"]
        syntax = SYNTAX.get(url)
        if syntax is not None:
            _check_syntax(node.loc, kind, value, url, *syntax, issues)
        elif kind == "code":
            codes = allowed_codes(url)
            if codes is not None and isinstance(value, str) and value not in codes:
                issues.append(Issue(Severity.ERROR, node.loc, f"code {value!r} is not in the required "
                                    f"value set {_show(url)}", LAYER, "code-invalid"))
        elif kind == "Coding":
            pairs = allowed(url)
            if pairs is not None and isinstance(value, dict) and not _coding_ok(value, pairs):
                issues.append(Issue(Severity.ERROR, node.loc, f"coding {_fmt(value)} is not in the "
                                    f"required value set {_show(url)}", LAYER, "code-invalid"))
        elif kind == "CodeableConcept":
            pairs = allowed(url)
            if pairs is None or not isinstance(value, dict):
                continue
            codings = [c for c in value.get("coding", []) or [] if isinstance(c, dict)]
            if not codings:
                issues.append(Issue(Severity.ERROR, node.loc, "no coding: a code from the required "
                                    f"value set {_show(url)} is needed", LAYER, "code-invalid"))
            elif not any(_coding_ok(c, pairs) for c in codings):
                shown = ", ".join(_fmt(c) for c in codings)
                issues.append(Issue(Severity.ERROR, node.loc, f"none of the codings ({shown}) is in the "
                                    f"required value set {_show(url)}", LAYER, "code-invalid"))
    return issues


def _check_syntax(loc: str, kind: str, value: Any, url: str, system: str,
                  ok: Callable[[str], bool], issues: list[Issue]) -> None:
    if kind == "code":
        if isinstance(value, str) and not ok(value):
            issues.append(Issue(Severity.ERROR, loc, f"{value!r} is not a valid code of {url}", LAYER,
                                "code-invalid"))
        return
    if not isinstance(value, dict):
        return
    if kind == "Coding":
        codings = [value]
    else:
        codings = [c for c in value.get("coding", []) or [] if isinstance(c, dict)]
    if not any(c.get("system") == system and isinstance(c.get("code"), str) and ok(c["code"])
               for c in codings):
        issues.append(Issue(Severity.ERROR, loc, f"a valid code of {url} (system {system}) is needed",
                            LAYER, "code-invalid"))


def _coding_ok(coding: dict[str, Any], pairs: frozenset[tuple[str, str]]) -> bool:
    return (coding.get("system"), coding.get("code")) in pairs


def _fmt(coding: dict[str, Any]) -> str:
    return f"{coding.get('system') or '(no system)'}|{coding.get('code') or '(no code)'}"
