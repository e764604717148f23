"""Layer 2, schema: the official FHIR R4 JSON schema, checked with jsonschema-rs.

Each resource (the top one, every Bundle entry, every contained resource) is validated
against its own type's definition, so error locations are precise and the schema's
``ResourceList`` (a ``oneOf`` over 147 types, whose errors say nothing useful) is never
used: it is replaced by "any object" and nested resources are validated on their own.
A validator per type is compiled once (2–4 ms each) from the definitions that type reaches.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema_rs

from ..model import Issue, Severity
from . import _data
from ._walk import Context

LAYER = "schema"
_REF = re.compile(r'"#/definitions/([^"]+)"')


@cache
def _definitions() -> dict[str, Any]:
    defs = dict(_data.schema()["definitions"])
    defs["ResourceList"] = {"type": "object"}
    return defs


@cache
def _refs() -> dict[str, frozenset[str]]:
    import json

    return {name: frozenset(_REF.findall(json.dumps(d))) for name, d in _definitions().items()}


@cache
def validator(rtype: str) -> Any:
    """The compiled validator of one resource type, or None if the schema has no such type."""
    defs = _definitions()
    if rtype not in defs or "resourceType" not in defs[rtype].get("properties", {}):
        return None
    refs = _refs()
    seen: set[str] = set()
    todo = [rtype]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(refs.get(name, frozenset()) - seen)
    sub = {"$schema": "http://json-schema.org/draft-06/schema#",
           "definitions": {n: defs[n] for n in sorted(seen) if n in defs},
           "$ref": f"#/definitions/{rtype}"}
    return jsonschema_rs.Draft6Validator(sub)


def _loc(base: str, path: Any) -> str:
    out = base
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else "." + str(part)
    return out


def check(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    for res in ctx.resources:
        v = validator(res.type)
        if v is None:
            continue  # unknown type: reported by the model layer
        if v.is_valid(res.data):
            continue
        for err in v.iter_errors(res.data):
            issues.append(Issue(Severity.ERROR, _loc(res.loc, err.instance_path), err.message,
                                LAYER, "structure"))
    return issues
