"""Layer 4, bindings: required value-set bindings on code, Coding and CodeableConcept.

The value sets are expanded offline when the data is built (``bindings.json``, from R4
``valuesets.json``); the few that cannot be expanded offline (mimetypes, currencies,
ucum-units, ...: listed in ``data/SOURCES.md``) are not checked. A CodeableConcept passes
when one of its codings is in the value set; text alone does not satisfy a required binding.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..model import Issue, Severity
from . import _data
from ._walk import Context

LAYER = "binding"


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
        if kind == "code":
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


def _coding_ok(coding: dict[str, Any], pairs: frozenset[tuple[str, str]]) -> bool:
    return (coding.get("system"), coding.get("code")) in pairs


def _fmt(coding: dict[str, Any]) -> str:
    return f"{coding.get('system') or '(no system)'}|{coding.get('code') or '(no code)'}"
