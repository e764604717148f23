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
_REQUIRED = re.compile(r'^"(\w+)" is a required property$')


@cache
def _definitions() -> dict[str, Any]:
    defs = apply_errata(_data.schema()["definitions"], _data.schema_errata())
    defs["ResourceList"] = {"type": "object"}
    return defs


def apply_errata(definitions: dict[str, Any], errata: dict[str, Any]) -> dict[str, Any]:
    """The schema's definitions with its known bugs fixed (``data/schema_errata.json`` says which and
    why); the shipped schema file stays byte-identical to the official one."""
    defs = {name: dict(d) for name, d in definitions.items()}
    for d in defs.values():
        if "properties" in d:
            d["properties"] = dict(d["properties"])
    for name, pattern in errata.get("patterns", {}).items():
        if not name.startswith("_") and name in defs:
            defs[name]["pattern"] = pattern
    for where, values in errata.get("enum_add", {}).items():
        if where.startswith("_"):
            continue
        name, prop = where.split(".")
        spec = dict(defs[name]["properties"][prop])
        if "items" in spec:
            spec["items"] = dict(spec["items"], enum=[*spec["items"]["enum"], *values])
        else:
            spec["enum"] = [*spec["enum"], *values]
        defs[name]["properties"][prop] = spec
    for where, type_name in errata.get("open_enums", {}).items():
        if not where.startswith("_"):
            name, prop = where.split(".")
            defs[name]["properties"][prop] = {"$ref": f"#/definitions/{type_name}"}
    types = set(errata.get("primitive_extensions", {}).get("types", []))
    element = {"$ref": "#/definitions/Element"}
    for d in defs.values():
        props = d.get("properties")
        if not props:
            continue
        for prop, spec in list(props.items()):
            ref = spec.get("$ref") or (spec.get("items") or {}).get("$ref") or ""
            if ref.rsplit("/", 1)[-1] in types and f"_{prop}" not in props:
                props[f"_{prop}"] = {"type": "array", "items": element} if "items" in spec else element
    if "complex_types_are_objects" in errata:
        for d in defs.values():
            if "properties" in d and "type" not in d:
                d["type"] = "object"
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
            loc = _loc(res.loc, err.instance_path)
            missing = _REQUIRED.match(err.message)
            if missing:         # located at the missing element, where the model layer reports it too
                loc += "." + missing.group(1)
            issues.append(Issue(Severity.ERROR, loc, err.message, LAYER, "structure"))
    return issues
