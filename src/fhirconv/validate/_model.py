"""Layer 1, model: resource types, required elements, choice elements, empty values,
dates, and (for foreign input) the ``fhir.resources.R4B`` pydantic models.

The package root ``fhir.resources`` is R5 and is never used. ``fhir.resources.R4B``
matches R4 for the types fhirconv emits (Patient, Condition, Observation, ImagingStudy,
DiagnosticReport, Procedure, MedicationStatement, DocumentReference, Provenance, Bundle);
for other types its findings are downgraded to warnings because R4B differs from R4 in places.

The pydantic pass costs ~5 ms per 50 resources, half the fast-path budget, so
``foreign=False`` runs only the cheap checks here (unknown type, required elements from
the R4 definitions, one value per choice element, empty values, calendar dates); the
schema layer covers the rest of the structure.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..model import Issue, Severity
from . import _data
from ._walk import Context, Res

LAYER = "model"
VERIFIED_R4B = frozenset({"Patient", "Condition", "Observation", "ImagingStudy", "DiagnosticReport",
                          "Procedure", "MedicationStatement", "DocumentReference", "Provenance", "Bundle"})
# pydantic error types already covered by the definition-based required check
_MISSING = frozenset({"missing", "model_field_validation.missing"})


def check(ctx: Context, *, foreign: bool) -> list[Issue]:
    issues: list[Issue] = []
    if not ctx.resources:
        issues.append(Issue(Severity.ERROR, "", "not a FHIR resource: a JSON object with a "
                            "string resourceType is expected", LAYER, "structure"))
        return issues
    known = _data.resource_types()
    for res in ctx.resources:
        if res.type not in known:
            issues.append(Issue(Severity.ERROR, res.loc + ".resourceType",
                                f"unknown resourceType {res.type!r}: not an R4 resource type",
                                LAYER, "not-supported"))
    _structure(ctx, issues)
    if foreign:
        seen = {i.location for i in issues}
        more: list[Issue] = []
        for res in ctx.resources:
            if res.type in known:
                _pydantic(res, more)
        issues += [i for i in more if i.location not in seen]
    return issues


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_DATE_TYPES = frozenset({"date", "dateTime", "instant"})


def _structure(ctx: Context, issues: list[Issue]) -> None:
    """Cheap checks from the R4 definitions: empty values, required children, one choice
    per ``[x]`` element, real calendar dates."""
    elements = _data.elements()
    required: dict[str, list[str]] = elements["required"]
    choices: dict[str, list[str]] = elements["choices"]
    profiles: dict[str, str] = elements["profiles"]
    types = _data.element_types()
    for node in ctx.nodes:
        typ, value = node.type, node.value
        if value == "" or value == [] or value == {}:
            issues.append(Issue(Severity.ERROR, node.loc, "empty value: FHIR JSON never has empty "
                                "strings, arrays or objects; leave the element out", LAYER, "value"))
            continue
        if typ is None:
            continue
        if typ == "Resource":  # the walk keeps only what is not a resource as such a node
            issues.append(Issue(Severity.ERROR, node.loc, "a nested resource must be an object with a "
                                "resourceType", LAYER, "structure"))
            continue
        if not isinstance(value, dict):
            if typ in _DATE_TYPES and isinstance(value, str):
                _check_date(node.loc, value, issues)
            continue
        if typ == "@" or typ == node.res.type and node.loc == node.res.loc:
            base = node.path
        elif typ[0].isupper():
            base = profiles.get(typ, typ)
        else:
            continue
        for name in required.get(base, ()):
            if name.endswith("[x]"):
                stem = name[:-3]
                n = len(stem)
                ok = any(len(k) > n and k.startswith(stem) and k[n].isupper() for k in value)
            else:
                ok = name in value or "_" + name in value
            if not ok:
                issues.append(Issue(Severity.ERROR, f"{node.loc}.{name}",
                                    f"{base}.{name} is required (min 1) but missing", LAYER, "required"))
        for stem in choices.get(base, ()):
            n = len(stem)
            under = "_" + stem
            if sum(1 for k in value if k.startswith(stem) or k.startswith(under)) < 2:
                continue
            present = sorted({k.lstrip("_") for k in value
                              if k.lstrip("_").startswith(stem) and len(k.lstrip("_")) > n
                              and k.lstrip("_")[n].isupper() and f"{base}.{k.lstrip('_')}" in types})
            if len(present) > 1:
                issues.append(Issue(Severity.ERROR, node.loc, f"only one of {base}.{stem}[x] may be "
                                    f"present, found {', '.join(present)}", LAYER, "structure"))


def _check_date(loc: str, value: str, issues: list[Issue]) -> None:
    m = _DATE.match(value)
    if not m:
        return  # partial dates; the format itself is the schema's business
    try:
        date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        issues.append(Issue(Severity.ERROR, loc, f"{value!r} is not a calendar date", LAYER, "value"))


def _loc(base: str, loc: tuple[Any, ...]) -> str:
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += "." + str(part)
    return out


def _strip_nested(value: Any, path: str, types: dict[str, str]) -> Any:
    """Copy of a resource without its nested resources (they are validated on their own)."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        p = path + "." + k
        t = types.get(p)
        if t == "Resource":
            continue
        if t == "@" or (t is not None and t[0] == "#"):
            sub = t[1:] if t[0] == "#" else p
            if isinstance(v, list):
                out[k] = [_strip_nested(x, sub, types) for x in v]
            else:
                out[k] = _strip_nested(v, sub, types)
        else:
            out[k] = v
    return out


def _pydantic(res: Res, issues: list[Issue]) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        cls = get_fhir_model_class(res.type)
    except (ValueError, KeyError, ImportError):
        issues.append(Issue(Severity.INFORMATION, res.loc, f"no R4B model for {res.type}; "
                            "checked by the R4 schema only", LAYER, "informational"))
        return
    data = _strip_nested(res.data, res.type, _data.element_types())
    try:
        cls.model_validate(data)
    except ValidationError as exc:
        severity = Severity.ERROR if res.type in VERIFIED_R4B else Severity.WARNING
        for err in exc.errors():
            if err.get("type") in _MISSING:
                continue
            msg = str(err.get("msg", "invalid"))
            if severity is Severity.WARNING:
                msg += " (R4B model)"
            issues.append(Issue(severity, _loc(res.loc, tuple(err.get("loc", ()))), msg, LAYER))
    except (TypeError, ValueError) as exc:  # defensive: a model that chokes on odd input
        issues.append(Issue(Severity.ERROR, res.loc, f"R4B model rejected the resource: {exc}", LAYER))
