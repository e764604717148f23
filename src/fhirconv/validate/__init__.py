"""Offline, layered validation of any FHIR R4 (4.0.1) resource or bundle.

    >>> issues = validate_resource(bundle)                       # foreign input: every layer
    >>> issues = validate_resource(bundle, mappings=m, foreign=False)  # fhirconv's own output

Layers (each an ``Issue.layer``):

1. ``model``: resource types, required elements, empty values; for foreign input also the
   ``fhir.resources.R4B`` pydantic models, entry by entry.
2. ``schema``: the official R4 JSON schema (jsonschema-rs), resource by resource.
3. ``invariant``: the FHIRPath constraints of the R4 StructureDefinitions (fhirpathpy for
   foreign input; plain-Python predicates for the types fhirconv emits on the fast path).
4. ``binding``: required value-set bindings on code, Coding and CodeableConcept.
5. ``reference``: references resolve inside the Bundle and point at R4-allowed types.
6. ``terminology``: SNOMED CT / LOINC check digits (and the ids of SNOMED CT expressions),
   DICOM modalities, UCUM syntax, and (with ``mappings``) codes absent from fhirconv's mappings.
7. ``profile``: the shipped IG profiles (mCODE 4.0.0, IPS 2.0.0) a resource claims in
   ``meta.profile`` or is asked to meet (``profiles=``): cardinality, fixed and pattern values,
   choice types, slices by value/pattern, the profiles' own constraints (see ``_profiles``);
   any other claim is named as not validated (information).

The official schema's known bugs are fixed by ``data/schema_errata.json`` as it loads. A problem
two layers see at one location is reported once (the schema's).

All definitions are shipped in ``data/`` (see ``data/SOURCES.md``); nothing is fetched.
Locations are FHIRPath-like (``Bundle.entry[3].resource.code.coding[0].system``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._json import MAX_DEPTH
from .._json import depth as json_depth
from ..errors import ValidationError
from ..model import Issue, Severity
from . import _bindings, _invariants, _model, _profiles, _prose, _references, _schema, _terminology
from ._walk import Context

if TYPE_CHECKING:
    from ..mappings import Mappings

__all__ = ["validate_resource", "has_errors", "LAYERS"]

LAYERS = ("model", "schema", "invariant", "binding", "reference", "terminology")
_BLOCKING = (Severity.FATAL, Severity.ERROR)
_INDEX = re.compile(r"\[(\d+)\]")


def _sort_key(issue: Issue) -> tuple[str, str, str]:
    """Location with list indices compared as numbers (entry[2] before entry[10])."""
    loc = _INDEX.sub(lambda m: f"[{int(m.group(1)):08d}]", issue.location)
    return loc, issue.message, issue.layer


def validate_resource(data: dict[str, Any], *, mappings: Mappings | None = None,
                      foreign: bool = True, profiles: tuple[str, ...] = ()) -> list[Issue]:
    """Validate one FHIR R4 JSON resource (typically a Bundle) and return its issues.

    ``foreign=True`` runs every layer (the R4B pydantic pass included);
    ``foreign=False`` is the fast path for fhirconv's own output (no pydantic pass,
    invariants as Python predicates, codes missing from ``mappings`` are errors).
    ``profiles``: URLs of shipped IG profiles every resource of their type must also meet (besides
    the ones it claims in ``meta.profile``; see ``profile_url``). Issues are sorted by location,
    then message.
    """
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str) or not data["resourceType"]:
        return [Issue(Severity.FATAL, "", "not a FHIR resource: a JSON object with a non-empty string "
                                          "resourceType is expected", "model", "structure")]
    depth = json_depth(data)
    if depth > MAX_DEPTH:
        return [Issue(Severity.FATAL, "", f"nested {depth} levels deep (more than {MAX_DEPTH}): not a plausible "
                                          "FHIR resource; not validated further", "model", "too-costly")]
    ctx = Context(data)
    issues = _guarded("model", lambda: _model.check(ctx, foreign=foreign))
    if ctx.resources:
        schema_issues = _guarded("schema", lambda: _schema.check(ctx))
        # what the schema already reports (an empty string, a bad code in a required `code`
        # binding) is not repeated by the model and binding layers
        flagged = {i.location for i in schema_issues}
        issues = [i for i in issues if i.location not in flagged] + schema_issues
        issues += _guarded("invariant", lambda: _invariants.check(ctx))
        issues += [i for i in _guarded("binding", lambda: _bindings.check(ctx)) if i.location not in flagged]
        issues += _guarded("reference", lambda: _references.check(ctx, strict=not foreign))
        issues += _guarded("terminology", lambda: _terminology.check(ctx, mappings=mappings, foreign=foreign))
        issues += _guarded("spec", lambda: _prose.check(ctx))
        issues += _guarded("profile", lambda: _profiles.check(ctx, profiles))
    issues.sort(key=_sort_key)
    return issues


def profile_url(name: str) -> str:
    """The shipped profile a URL or name means (``mcode-primary-cancer-condition``, a canonical URL), or
    a whole guide (``us-core``, ``mcode``, ``ips``); ValidationError naming the choices when there is none."""
    if name.lower() in _profiles.GUIDES:
        return _profiles.GUIDE_PREFIX + name.lower()
    url = _profiles.resolve(name)
    if url is None:
        known = ", ".join(sorted(p["name"] for p in _profiles.profiles().values())[:12])
        raise ValidationError(f"no shipped profile {name!r}: give us-core, mcode or ips, or a canonical URL or "
                              f"name of a US Core 6.1.0, mCODE 4.0.0 or IPS 2.0.0 profile (e.g. {known}, ...)")
    return url


def _guarded(layer: str, run: Callable[[], list[Issue]]) -> list[Issue]:
    """A layer that cannot read a malformed resource reports it as an issue: a validator's input is
    arbitrary JSON, and it must answer, not raise (the schema layer says where the types are wrong)."""
    try:
        return run()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        return [Issue(Severity.ERROR, "", f"the {layer} checks could not read this resource "
                                          f"({exc.__class__.__name__}: a value of an unexpected JSON type); "
                                          "see the schema issues for where", layer, "structure")]


def has_errors(issues: list[Issue]) -> bool:
    """Whether any issue is an error (or fatal)."""
    return any(i.severity in _BLOCKING for i in issues)
