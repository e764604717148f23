"""Layer 3, invariants: the FHIRPath constraints of the R4 StructureDefinitions.

Constraints are looked up by the element path and type of each node of the walk, so only
the invariants of the types and elements actually present are evaluated.

* A constraint with a plain-Python predicate in ``_predicates`` (all those of the types fhirconv
  emits, the DomainResource, Bundle and datatype ones every resource meets) uses it, for foreign
  input too: the predicates agree with fhirpathpy on every node of the published examples
  (tests/test_validate_predicates.py) and cost a fraction. Any other constraint is evaluated
  compiled to Python by ``_fhirpath`` when it is in that module's subset (most are), else with
  fhirpathpy (parsed once, cached); a compiled one hands data it cannot judge to fhirpathpy.

Left out or worked around, because of fhirpathpy 2.2.4:

* ``hasValue()`` and ``htmlChecks()`` are not implemented: per-1, age-1, cnt-3, bdl-10, txt-1
  and txt-2 (marked ``skip`` in ``invariants.json``) are evaluated by the Python predicates of
  ``_predicates_more``, and ele-1 (dropped when the data is built) in ``check`` itself: an
  element object holding nothing but its ``id``.
* dom-3 raises "Expected singleton on left side of 'as'" whenever ``contained`` is present
  (``descendants().as(canonical)``); it is evaluated with ``ofType()`` instead, the
  formulation later FHIR versions use.
* rng-2 compares Quantities, which fhirpathpy cannot: the Python predicate is used always.
* que-12 is written ``enableWhen.count() > 2`` while its text (and R4B, and the HL7 validator) say
  "more than one": it is evaluated as ``> 1``.

A constraint holds only when it evaluates to true: ``false`` fails, and so does an empty result
(as the HL7 validator converts it), except in expressions that test types, which plain JSON cannot
answer the way the HL7 validator's typed model does.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from ..model import Issue, Severity
from . import _data
from ._fhirpath import Fallback, compile_expression
from ._predicates import PREDICATES, PYTHON_ONLY
from ._walk import Context, Node

LAYER = "invariant"
_FIXUPS = {"dom-3": (".descendants().as(", ".descendants().ofType("),
           # R4's que-12 counts "> 2" where its text says "more than one"; the HL7 validator (and R4B)
           # read it as written in words
           "que-12": ("enableWhen.count() > 2", "enableWhen.count() > 1")}
_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING}
# R4 writes txt-1 and txt-2 both as htmlChecks(), which the HL7 validator evaluates as the element
# and attribute check only: a whitespace-only narrative (published in HL7's own examples) is a
# warning here, not an error
_DOWNGRADED = {"txt-2": Severity.WARNING}


def _expression(constraint: dict[str, str]) -> str:
    """The constraint's expression, with the fixups fhirpathpy needs."""
    expression = constraint["expression"]
    if constraint["key"] in _FIXUPS:
        old, new = _FIXUPS[constraint["key"]]
        expression = expression.replace(old, new)
    return expression


@cache
def _parsed(key: str, expression: str) -> Any:
    from fhirpathpy.parser import parse

    return parse(_expression({"key": key, "expression": expression}))


@cache
def _model() -> Any:
    from fhirpathpy.models import models

    return models["r4"]


def _noop(*_args: Any) -> None:
    return None


_cache: dict[tuple[str, str | None], tuple[dict[str, str], ...]] = {}


def _applicable(path: str, typ: str | None) -> tuple[dict[str, str], ...]:
    k = (path, typ)
    got = _cache.get(k)
    if got is None:
        invs = _data.invariants()
        keys: list[str] = []
        if typ is not None and typ != "@" and typ[0].isupper():
            keys.extend(_data.type_chain(typ))
        if path not in keys:
            keys.append(path)
        got = tuple(c for key in keys for c in invs.get(key, ()) if "skip" not in c or c["key"] in PYTHON_ONLY)
        _cache[k] = got
    return got


def _base(node: Node) -> str:
    typ = node.type
    if typ is None or typ == "@" or not typ[0].isupper():
        return node.path
    profiles: dict[str, str] = _data.elements()["profiles"]
    return profiles.get(typ, typ)


def evaluate(constraint: dict[str, str], value: Any, base: str, resource: dict[str, Any],
             root: dict[str, Any]) -> list[Any]:
    """A constraint's result: compiled by ``_fhirpath`` when it can judge the data, else fhirpathpy
    (whose plain Exceptions on what it cannot evaluate reach the caller)."""
    compiled = _compiled(constraint["key"], constraint["expression"])
    if compiled is not None:
        try:
            return compiled(value, resource, root)
        except Fallback:
            pass
    return evaluate_fhirpath(constraint, value, base, resource, root)


@cache
def _compiled(key: str, expression: str) -> Any:
    return compile_expression(_expression({"key": key, "expression": expression}))


def evaluate_fhirpath(constraint: dict[str, str], value: Any, base: str,
                      resource: dict[str, Any], root: dict[str, Any]) -> list[Any]:
    """Evaluate one constraint with fhirpathpy (the oracle the predicates are tested against)."""
    from fhirpathpy import apply_parsed_path
    from fhirpathpy.engine.nodes import ResourceNode

    parsed = _parsed(constraint["key"], constraint["expression"])
    result: list[Any] = apply_parsed_path(
        ResourceNode.create_node(value, base), parsed,
        {"resource": resource, "rootResource": root}, _model(), {"traceFn": _noop})
    return result


_TYPED = re.compile(r"\b(as|is|ofType)\b")


def empty_fails(expression: str) -> bool:
    """A constraint holds only when it evaluates to true (the HL7 validator's reading), so an empty
    result fails too: ``telecom or endpoint`` with neither. Not where the expression tests types: plain
    JSON does not tell a dateTime from a string, so ``($this as dateTime)`` is empty here where it is
    not for the HL7 validator."""
    return not _TYPED.search(expression)


def check(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    cache = _cache
    for node in ctx.nodes:
        loc, path, typ, value, res = node
        if typ is None:
            continue
        if isinstance(value, dict) and value and value.keys() <= {"id"} and "resourceType" not in value:
            issues.append(Issue(Severity.ERROR, loc, "ele-1: All FHIR elements must have a @value or children "
                                "(this one has only an id)", LAYER, "invariant"))
        constraints = cache.get((path, typ))
        if constraints is None:
            constraints = _applicable(path, typ)
        if not constraints:
            continue
        if not isinstance(value, dict) and (typ == "@" or typ[0].isupper()):
            continue  # a complex element that is not an object: the schema reports it
        for c in constraints:
            key = c["key"]
            pred = PREDICATES.get(key)
            if pred is not None:
                ok = pred(value, res.data, res.root)
            else:
                try:
                    result = evaluate(c, value, _base(node), res.data, res.root)
                    ok = result != [False] and (result != [] or not empty_fails(c["expression"]))
                except Exception as exc:  # fhirpathpy raises plain Exceptions on what it cannot do
                    issues.append(Issue(Severity.INFORMATION, loc,
                                        f"{key} could not be evaluated ({exc.__class__.__name__}: "
                                        f"{str(exc)[:120]}); not checked", LAYER, "informational"))
                    continue
            if not ok:
                issues.append(Issue(_DOWNGRADED.get(key) or _SEVERITY.get(c["severity"], Severity.ERROR), loc,
                                    f"{key}: {c['human']}", LAYER, "invariant"))
    return issues
