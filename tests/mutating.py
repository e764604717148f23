"""Mutants of a resource that break one rule of a profile it claims: the profile layer's own test bed.

Each mutant breaks exactly one rule the profile states, taken from the shipped profile data (not
hand-written per example): a required element removed, a pattern (a category) or a fixed value
changed, a code outside a required binding, the items of a required slice removed, a profile
constraint broken (an element it reads removed, judged by fhirpathpy, the oracle). Used by
``tests/test_validate_profile_mutations.py`` and ``scripts/profile_mutations.py`` (the README's
detection table).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, NamedTuple

from fhirconv.validate import _elements, _profiles

KINDS = ("missing required element", "wrong pattern (category)", "wrong fixed value", "code outside a binding",
         "missing slice member", "broken constraint")


class Mutant(NamedTuple):
    kind: str
    profile: str
    rule: str            # the element id or constraint key the mutant breaks
    resource: dict[str, Any]


def _locate(resource: dict[str, Any], element_id: str) -> tuple[dict[str, Any], str] | None:
    """The first place an unsliced element (``Patient.identifier.system``) occurs in the resource: the
    object holding it and its JSON key (``valueQuantity`` for ``value[x]``), or None."""
    if ":" in element_id:
        return None
    parts = element_id.split(".")[1:]
    holder: Any = resource
    for i, name in enumerate(parts):
        if not isinstance(holder, dict):
            return None
        key = _json_key(holder, name)
        if key is None:
            return None
        if i == len(parts) - 1:
            return holder, key
        holder = holder[key]
        if isinstance(holder, list):
            holder = holder[0] if holder else None
    return None


def _json_key(holder: dict[str, Any], name: str) -> str | None:
    if name.endswith("[x]"):
        stem = name[:-3]
        return next((k for k in holder if k.startswith(stem) and k[len(stem):][:1].isupper()), None)
    return name if name in holder else None


def mutants(resource: dict[str, Any]) -> Iterator[Mutant]:
    """Every single-rule mutant of ``resource`` for each shipped profile it claims."""
    claims = resource.get("meta", {}).get("profile", []) if isinstance(resource.get("meta"), dict) else []
    for claim in claims:
        url = _profiles.resolve(claim)
        if url is None:
            continue
        profile = _profiles.profiles()[url]
        yield from _element_mutants(resource, url, profile)
        yield from _constraint_mutants(resource, url, profile)


def _element_mutants(resource: dict[str, Any], url: str, profile: dict[str, Any]) -> Iterator[Mutant]:
    for e in profile["elements"][1:]:
        if ":" in e["id"]:
            if e["id"].count(".") == 1 and e.get("min", 0) >= 1 and "sliceName" in e:
                yield from _slice_mutant(resource, url, e)
            continue
        if _locate(resource, e["id"]) is None:
            continue

        def mutant(change: Any, element_id: str = e["id"]) -> dict[str, Any] | None:
            m = copy.deepcopy(resource)
            found = _locate(m, element_id)
            assert found is not None
            return m if change(*found) is not False else None

        def remove(holder: dict[str, Any], key: str) -> None:
            del holder[key]
            holder.pop("_" + key, None)

        def recode(holder: dict[str, Any], key: str) -> bool:
            if isinstance(holder[key], str):
                holder[key] = "changed-" + holder[key]
                return True
            return _recode(holder[key])

        made = []
        if e["min"] >= 1:
            made.append((KINDS[0], mutant(remove)))
        if "pattern" in e:
            made.append((KINDS[1], mutant(recode)))
        if "fixed" in e:
            made.append((KINDS[2], mutant(recode)))
        if "binding" in e and _elements.value_set(e["binding"]) is not None:
            made.append((KINDS[3], mutant(recode)))
        for kind, m in made:
            if m is not None:
                yield Mutant(kind, url, e["id"], m)


def _slice_mutant(resource: dict[str, Any], url: str, s: dict[str, Any]) -> Iterator[Mutant]:
    """The items a required slice of a top-level list matches, recoded so that they match it no more."""
    name = s["path"].split(".")[1]
    items = resource.get(name)
    if not isinstance(items, list) or not items or name == "extension":
        return
    m = copy.deepcopy(resource)
    changed = False
    for item in m[name]:
        changed |= _recode(item)
    if changed:
        yield Mutant(KINDS[4], url, s["id"], m)


def _recode(value: Any) -> bool:
    """Change every ``code`` inside a Coding/CodeableConcept (a pattern or a slice no longer matches)."""
    changed = False
    if isinstance(value, list):
        for v in value:
            changed |= _recode(v)
    elif isinstance(value, dict):
        if isinstance(value.get("code"), str):
            value["code"] = "changed-" + value["code"]
            changed = True
        for k in ("coding", "valueCodeableConcept"):
            if k in value:
                changed |= _recode(value[k])
    return changed


def _constraint_mutants(resource: dict[str, Any], url: str, profile: dict[str, Any]) -> Iterator[Mutant]:
    """For each resource-level constraint that holds, the first single top-level element whose removal
    makes fhirpathpy judge it false."""
    from fhirconv.validate._invariants import evaluate_fhirpath

    rtype = resource.get("resourceType", "")
    for c in profile["constraints"]:
        if c["id"] != rtype:
            continue
        try:
            if evaluate_fhirpath(c, resource, rtype, resource, resource) != [True]:
                continue
        except Exception:  # noqa: BLE001 - fhirpathpy cannot evaluate it: no oracle, no mutant
            continue
        for key in [k for k in resource if k not in ("resourceType", "id", "meta")]:
            m = copy.deepcopy(resource)
            del m[key]
            try:
                broken = evaluate_fhirpath(c, m, rtype, m, m) == [False]
            except Exception:  # noqa: BLE001
                continue
            if broken:
                yield Mutant(KINDS[5], url, c["key"], m)
                break
