"""How the profile layer reads JSON at a profile's element paths and compares what it finds: element
ids as path segments, the children of a JSON object for an element name (choices and primitive
extensions included), pattern containment, value-set membership, and the matchers a slice's
discriminators become (a pattern, a required binding, a type, a profile)."""

from __future__ import annotations

from functools import cache
from typing import Any

from . import _data


@cache
def value_set(url: str) -> frozenset[tuple[str, str]] | None:
    """(system, code) pairs of a value set a profile binds to (required), None if not expanded offline."""
    vs = _data.profiles()["valueSets"].get(url)
    return None if vs is None else frozenset((system, code) for system, codes in vs.items() for code in codes)


@cache
def _codes(pairs: frozenset[tuple[str, str]]) -> frozenset[str]:
    return frozenset(code for _s, code in pairs)


def in_value_set(value: Any, pairs: frozenset[tuple[str, str]]) -> bool | None:
    """Whether a code, Coding or CodeableConcept is in the value set; None if it is none of those."""
    if isinstance(value, str):
        return value in _codes(pairs)
    if not isinstance(value, dict):
        return None
    if "coding" in value or "text" in value:
        codings = value.get("coding")
        return any(in_value_set(c, pairs) for c in codings) if isinstance(codings, list) else False
    if "code" in value or "system" in value:
        return (value.get("system"), value.get("code")) in pairs
    return None


def segments(element_id: str) -> list[tuple[str, str | None]]:
    out = []
    for part in element_id.split(".")[1:]:
        name, _, slice_name = part.partition(":")
        out.append((name, slice_name or None))
    return out


def children(items: list[tuple[Any, str]], name: str) -> list[tuple[Any, str, str]]:
    """(value, location, choice type suffix) of the ``name`` children of each item."""
    out: list[tuple[Any, str, str]] = []
    for obj, loc in items:
        if not isinstance(obj, dict):
            continue
        stem = name[:-3] if name.endswith("[x]") else name
        keys = [k for k in obj if k.lstrip("_").startswith(stem) and k.lstrip("_")[len(stem):][:1].isupper()] \
            if name.endswith("[x]") else [k for k in (name, "_" + name) if k in obj]
        if len(keys) == 2 and not name.endswith("[x]"):
            keys = [name]                   # a primitive and its extensions: one element
        keys = [k for k in keys if not (k.startswith("_") and k[1:] in obj)]
        for key in keys:
            bare = key.lstrip("_")
            suffix = bare[len(stem):] if name.endswith("[x]") else ""
            value = obj[key]
            if isinstance(value, list):
                out.extend((v, f"{loc}.{key}[{i}]", suffix) for i, v in enumerate(value))
            else:
                out.append((value, f"{loc}.{key}", suffix))
    return out


def contains(value: Any, pattern: Any) -> bool:
    if isinstance(value, list) and not isinstance(pattern, list):
        return any(contains(v, pattern) for v in value)     # a path that gives a collection
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and contains(value[k], p) for k, p in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(v, p) for v in items) for p in pattern)
    return bool(value == pattern)


class OfType:
    """A slice discriminated by type: an item belongs if it (or its resource) is of one of these types."""

    def __init__(self, types: tuple[str, ...]) -> None:
        self.types = types


class Conforms:
    """A slice discriminated by profile: an item belongs if its resource (or, with ``resolve``, the
    resource its reference points to) meets one of these profiles."""

    def __init__(self, urls: tuple[str, ...], resolve: bool = False) -> None:
        self.urls, self.resolve = urls, resolve


class CannotJudge(Exception):
    """An item's slice cannot be told offline (its reference points outside the input)."""


RESOLVE = ("resolve()", "$this.resolve()", "reference.resolve()")


class InValueSet:
    """A slice discriminated by a required binding: an item belongs if its value is in the value set."""

    def __init__(self, pairs: frozenset[tuple[str, str]]) -> None:
        self.pairs = pairs


def matches(value: Any, want: Any) -> bool:
    if isinstance(want, InValueSet):
        items = value if isinstance(value, list) else [value]
        return any(in_value_set(v, want.pairs) for v in items)
    return contains(value, want)


def type_suffix(code: str) -> str:

    return code[:1].upper() + code[1:]


def at(value: Any, path: str) -> Any:

    """The values at a dotted discriminator path, as FHIRPath gives them (a collection)."""
    if path == "$this":
        return value
    items = [value]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in items:
            got = item.get(part) if isinstance(item, dict) else None
            nxt.extend(got if isinstance(got, list) else [] if got is None else [got])
        items = nxt
    return items
