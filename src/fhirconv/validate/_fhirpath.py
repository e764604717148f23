"""A compiler for the subset of FHIRPath the R4 invariants mostly use, to plain Python closures.

fhirpathpy interprets its parse tree node by node on every evaluation; most R4 constraints are
short boolean combinations of paths and a dozen functions (``binding.empty() or type.code.empty()``),
which compile to closures two orders of magnitude cheaper. ``compile_expression`` returns None for
an expression outside the subset (``descendants()``, ``resolve()``, type operators ...), and a
compiled expression raises ``Fallback`` on data it cannot judge as fhirpathpy would (a primitive
carrying extensions, a date comparison, a non-boolean where a boolean is due): the caller then
evaluates with fhirpathpy. ``tests/test_validate_fhirpath.py`` compares every compiled invariant
with fhirpathpy on every node of the published examples and on mutated ones.

Collections are Python lists of JSON values; ``$this``, ``%resource``, ``%rootResource`` and
``%ucum`` are supported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

Env = dict[str, Any]
Expr = Callable[[list[Any], Env], list[Any]]
UCUM = "http://unitsofmeasure.org"
_QUANTITY_KINDS = ("Age", "Count", "Distance", "Duration", "Money")    # types that are Quantities too
_DATEISH = re.compile(r"^\d{4}(-\d\d(-\d\d)?)?(T|$)")


class Fallback(Exception):
    """This evaluation is left to fhirpathpy."""


class Unsupported(Exception):
    """The expression is outside the compiled subset."""


def _members(focus: list[Any], name: str) -> list[Any]:
    out: list[Any] = []
    n = len(name)
    for item in focus:
        if not isinstance(item, dict):
            continue
        if "_" + name in item:
            raise Fallback                          # a primitive with extensions
        if name in item:
            v = item[name]
            if isinstance(v, list):
                out.extend(x for x in v if x is not None)
            elif v is not None:
                out.append(v)
            continue
        for k, v in item.items():                   # a choice element: value -> valueQuantity ...
            if len(k) > n and k.startswith(name) and k[n].isupper():
                if k[0] == "_":
                    raise Fallback
                out.extend(v if isinstance(v, list) else [v])
            elif k.startswith("_" + name) and len(k) > n + 1 and k[n + 1].isupper():
                raise Fallback
    return out


def _bool(coll: list[Any]) -> bool | None:
    """Singleton evaluation as a Boolean: [] -> None; one Boolean -> it; one other item -> True."""
    if not coll:
        return None
    if len(coll) > 1:
        raise Fallback
    v = coll[0]
    return v if isinstance(v, bool) else True


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _comparable(a: Any, b: Any) -> None:
    for v in (a, b):
        if isinstance(v, str) and _DATEISH.match(v):
            raise Fallback                          # date/time comparison rules: fhirpathpy's
        if isinstance(v, (dict, list)):
            raise Fallback


def _equal(a: list[Any], b: list[Any]) -> list[Any]:
    if not a or not b:
        return []
    if len(a) != len(b):
        return [False]
    for x, y in zip(a, b, strict=True):
        _comparable(x, y)
        if isinstance(x, bool) != isinstance(y, bool) or x != y:
            return [False]
    return [True]


def _order(op: str, a: list[Any], b: list[Any]) -> list[Any]:
    if not a or not b:
        return []
    if len(a) > 1 or len(b) > 1:
        raise Fallback
    x, y = a[0], b[0]
    _comparable(x, y)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
    if not (numbers or (isinstance(x, str) and isinstance(y, str))):
        raise Fallback
    return [{"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]]


# ------------------------------------------------------------------ compiling
def _child(node: dict[str, Any], i: int = 0) -> dict[str, Any]:
    children = node.get("children") or []
    if len(children) <= i:
        raise Unsupported(node.get("type"))
    child: dict[str, Any] = children[i]
    return child


def _op(node: dict[str, Any]) -> str:
    ops = node.get("terminalNodeText") or []
    return str(ops[0]) if ops else ""


def _compile(node: dict[str, Any]) -> Expr:
    kind = node.get("type")
    if kind is None or kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm", "LiteralTerm"):
        if kind == "LiteralTerm":
            return _literal(_child(node))
        if kind == "InvocationTerm":
            return _invocation(None, _child(node))
        return _compile(_child(node))
    if kind == "ExternalConstantTerm":
        name = _child(_child(node)).get("text")
        if name in ("resource", "rootResource"):
            key = str(name)
            return lambda focus, env: [env[key]]
        if name == "ucum":
            return lambda focus, env: [UCUM]
        raise Unsupported(f"%{name}")
    if kind == "InvocationExpression":
        typed = _of_type(node)
        if typed is not None:
            return typed
        return _invocation(_compile(_child(node, 0)), _child(node, 1))
    if kind in ("OrExpression", "AndExpression", "ImpliesExpression", "XorExpression"):
        return _logic(_op(node), _compile(_child(node, 0)), _compile(_child(node, 1)))
    if kind == "EqualityExpression":
        a, b, op = _compile(_child(node, 0)), _compile(_child(node, 1)), _op(node)
        if op == "=":
            return lambda f, e: _equal(a(f, e), b(f, e))
        if op == "!=":
            def ne(f: list[Any], e: Env) -> list[Any]:
                r = _equal(a(f, e), b(f, e))
                return [not r[0]] if r else []
            return ne
        raise Unsupported(op)
    if kind == "InequalityExpression":
        a, b, op = _compile(_child(node, 0)), _compile(_child(node, 1)), _op(node)
        return lambda f, e: _order(op, a(f, e), b(f, e))
    if kind == "UnionExpression":
        a, b = _compile(_child(node, 0)), _compile(_child(node, 1))

        def union(f: list[Any], e: Env) -> list[Any]:
            out, seen = [], set()
            for v in a(f, e) + b(f, e):
                k = _key(v)
                if k not in seen:
                    seen.add(k)
                    out.append(v)
            return out
        return union
    if kind == "MembershipExpression" and _op(node) == "in":
        a, b = _compile(_child(node, 0)), _compile(_child(node, 1))

        def member(f: list[Any], e: Env) -> list[Any]:
            left = a(f, e)
            if not left:
                return []
            if len(left) > 1:
                raise Fallback
            right = b(f, e)
            return [any(_equal(left, [r]) == [True] for r in right)]
        return member
    raise Unsupported(kind)


def _identifier(node: dict[str, Any]) -> str | None:
    """The name a bare identifier expression spells (``Quantity``), else None."""
    while node.get("type") in ("TermExpression", "InvocationTerm", "Expression", None) and node.get("children"):
        node = _child(node)
    if node.get("type") == "MemberInvocation":
        return str(_child(node).get("text")).strip("`")
    return None


def _of_type(node: dict[str, Any]) -> Expr | None:
    """``value.ofType(Quantity)`` on a choice element: the ``valueQuantity`` member (JSON names the type
    in the key); anything else is the general path (and ofType there is outside the subset)."""
    call = _child(node, 1)
    if call.get("type") != "FunctionInvocation":
        return None
    fn = _child(call)
    if str(_child(fn).get("text")) != "ofType" or len(fn.get("children") or []) < 2:
        return None
    params = _child(fn, 1).get("children") or []
    type_name = _identifier(params[0]) if len(params) == 1 else None
    target = _child(node, 0)
    if type_name is None:
        return None
    if target.get("type") == "InvocationExpression" and _child(target, 1).get("type") == "MemberInvocation":
        parent: Expr = _compile(_child(target, 0))
        member = str(_child(_child(target, 1)).get("text")).strip("`")
    else:
        member = _identifier(target) or ""
        if not member:
            return None
        parent = lambda focus, env: list(focus)         # noqa: E731 - the focus itself
    key = member + type_name[:1].upper() + type_name[1:]

    def typed(f: list[Any], e: Env) -> list[Any]:
        out: list[Any] = []
        for item in parent(f, e):
            if not isinstance(item, dict):
                continue
            if member in item or "_" + key in item or (type_name == "Quantity" and any(
                    member + sub in item for sub in _QUANTITY_KINDS)):
                raise Fallback          # not a choice element, a primitive's extensions, or a kind of Quantity
            v = item.get(key)
            if v is not None:
                out.extend(v if isinstance(v, list) else [v])
        return out
    return typed


def _literal(node: dict[str, Any]) -> Expr:
    kind, text = node.get("type"), str(node.get("text"))
    if kind == "StringLiteral":
        value: Any = text[1:-1].replace("\\'", "'")
        if "\\" in value:
            raise Unsupported("escape")
    elif kind == "BooleanLiteral":
        value = text == "true"
    elif kind == "NumberLiteral":
        value = float(text) if "." in text else int(text)
    else:
        raise Unsupported(kind)
    constant = [value]
    return lambda focus, env: list(constant)


def _logic(op: str, a: Expr, b: Expr) -> Expr:
    def run(f: list[Any], e: Env) -> list[Any]:
        x = _bool(a(f, e))
        if op == "or":
            if x is True:
                return [True]
            y = _bool(b(f, e))
            return [True] if y is True else ([False] if x is False and y is False else [])
        if op == "and":
            if x is False:
                return [False]
            y = _bool(b(f, e))
            return [False] if y is False else ([True] if x is True and y is True else [])
        if op == "xor":
            y = _bool(b(f, e))
            return [] if x is None or y is None else [x != y]
        if op == "implies":
            if x is False:
                return [True]
            y = _bool(b(f, e))
            if x is True:
                return [] if y is None else [y]
            return [True] if y is True else []
        raise Unsupported(op)
    if op not in ("or", "and", "implies", "xor"):
        raise Unsupported(op)
    return run


def _invocation(target: Expr | None, node: dict[str, Any]) -> Expr:
    kind = node.get("type")
    if kind == "ThisInvocation":
        if target is not None:
            raise Unsupported("$this")
        return lambda focus, env: list(focus)
    if kind == "MemberInvocation":
        name = str(_child(node).get("text"))
        if name.startswith("`"):
            name = name.strip("`")
        if target is None:
            return lambda focus, env: _members(focus, name)
        return lambda focus, env: _members(target(focus, env), name)
    if kind == "FunctionInvocation":
        fn = _child(node)
        name = str(_child(fn).get("text"))
        params = [_compile(p) for p in (_child(fn, 1).get("children") or [])] if len(fn.get("children") or []) > 1 \
            else []
        base: Expr = target if target is not None else (lambda focus, env: list(focus))
        return _function(name, base, params)
    raise Unsupported(kind)


def _each(param: Expr, item: Any, env: Env) -> list[Any]:
    return param([item], env)


def _function(name: str, base: Expr, params: list[Expr]) -> Expr:
    n = len(params)
    if name == "exists" and n <= 1:
        if n == 0:
            return lambda f, e: [bool(base(f, e))]
        crit = params[0]
        return lambda f, e: [any(_bool(_each(crit, i, e)) is True for i in base(f, e))]
    if name == "empty" and n == 0:
        return lambda f, e: [not base(f, e)]
    if name == "count" and n == 0:
        return lambda f, e: [len(base(f, e))]
    if name == "not" and n == 0:
        def not_(f: list[Any], e: Env) -> list[Any]:
            coll = base(f, e)
            if len(coll) != 1:
                return []
            if not isinstance(coll[0], bool):
                raise Fallback
            return [not coll[0]]
        return not_
    if name == "where" and n == 1:
        crit = params[0]
        return lambda f, e: [i for i in base(f, e) if _bool(_each(crit, i, e)) is True]
    if name == "all" and n == 1:
        crit = params[0]
        return lambda f, e: [all(_bool(_each(crit, i, e)) is True for i in base(f, e))]
    if name == "select" and n == 1:
        proj = params[0]
        return lambda f, e: [v for i in base(f, e) for v in _each(proj, i, e)]
    if name == "isDistinct" and n == 0:
        def distinct(f: list[Any], e: Env) -> list[Any]:
            coll = base(f, e)
            return [len({_key(v) for v in coll}) == len(coll)]
        return distinct
    if name == "first" and n == 0:
        return lambda f, e: base(f, e)[:1]
    if name == "tail" and n == 0:
        return lambda f, e: base(f, e)[1:]
    if name == "trace" and n >= 1:
        return base
    if name in ("startsWith", "contains", "matches") and n == 1:
        arg = params[0]

        def string_fn(f: list[Any], e: Env) -> list[Any]:
            coll, what = base(f, e), arg(f, e)
            if not coll or not what:
                return []
            if len(coll) > 1 or len(what) > 1 or not isinstance(coll[0], str) or not isinstance(what[0], str):
                raise Fallback
            s, w = coll[0], what[0]
            if name == "startsWith":
                return [s.startswith(w)] if s else [False]
            if name == "contains":
                return [w in s]
            return [re.search(_regex(w), s) is not None]
        return string_fn
    raise Unsupported(f"{name}() with {n} argument(s)")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.DOTALL)


@cache
def compile_expression(expression: str) -> Callable[[Any, dict[str, Any], dict[str, Any]], list[Any]] | None:
    """The expression as ``fn(node, resource, root) -> collection``, or None outside the subset."""
    from fhirpathpy.parser import parse

    try:
        body = _compile(parse(expression))
    except (Unsupported, KeyError, IndexError, TypeError, ValueError):
        return None

    def run(node: Any, resource: dict[str, Any], root: dict[str, Any]) -> list[Any]:
        return body([node], {"resource": resource, "rootResource": root})
    return run
