"""One typed pass over a resource, shared by the layers.

The walk follows the R4 element definitions (``elements.json``): every value in the
JSON becomes a :class:`Node` with its FHIRPath-like location, its element path in the
definitions (``Observation.referenceRange.low``, ``Quantity.code`` inside a datatype)
and its type (a datatype or primitive name, ``"@"`` for a backbone element, ``None``
when the definitions do not know the element: the schema layer reports those).
Resources nested in a resource (``contained``, ``Bundle.entry.resource``,
``Parameters.parameter.resource`` ...) become their own :class:`Res`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import _data


@dataclass(eq=False, slots=True)
class Res:
    """One resource of the input: the top one or a nested one."""

    type: str
    data: dict[str, Any]
    loc: str                          # "Bundle.entry[3].resource"
    root: dict[str, Any]              # %rootResource: the container of a contained resource, else itself
    contained: bool = False
    bundle: Res | None = None         # the Bundle whose entry holds this resource (or holds its container)
    full_url: str | None = None       # Bundle.entry.fullUrl of this resource (or of its container)
    entries: list[Res] = field(default_factory=list)   # for a Bundle: the resources of its entries


class Node(NamedTuple):
    loc: str
    path: str
    type: str | None
    value: Any
    res: Res


class Context:
    """The resources and typed nodes of one input, computed once for all layers."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.resources: list[Res] = []
        self.nodes: list[Node] = []
        self._types = _data.element_types()
        self._profiles: dict[str, str] = _data.elements()["profiles"]
        self._known = _data.resource_types()
        if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
            rtype = data["resourceType"]
            self._add(Res(rtype, data, rtype, data))

    def _add(self, res: Res) -> None:
        self.resources.append(res)
        self.nodes.append(Node(res.loc, res.type, res.type, res.data, res))
        if res.type in self._known:
            self._walk(res.data, res.loc, res.type, res)

    def _walk(self, obj: dict[str, Any], loc: str, base: str, res: Res) -> None:
        types = self._types
        nodes = self.nodes
        new = tuple.__new__
        for key, val in obj.items():
            if key == "resourceType" and obj is res.data:
                continue
            kloc = loc + "." + key
            path = base + "." + key
            typ = "Element" if key[:1] == "_" else types.get(path)
            if isinstance(val, list):
                if not val:
                    nodes.append(new(Node, (kloc, path, typ, val, res)))
                for i, item in enumerate(val):
                    if item is not None:
                        self._visit(item, f"{kloc}[{i}]", path, typ, res, obj)
            elif typ is None or (typ[0].islower() and not isinstance(val, dict)):
                nodes.append(new(Node, (kloc, path, typ, val, res)))     # a primitive (the common case)
            else:
                self._visit(val, kloc, path, typ, res, obj)

    def _visit(self, val: Any, loc: str, path: str, typ: str | None, res: Res,
               parent: dict[str, Any]) -> None:
        if typ is None:
            self.nodes.append(tuple.__new__(Node, (loc, path, None, val, res)))
            return
        if typ[0] == "#":
            path, typ = typ[1:], "@"
        if typ == "Resource":
            if isinstance(val, dict) and isinstance(val.get("resourceType"), str):
                if path.endswith(".contained"):
                    sub = Res(val["resourceType"], val, loc, res.root, True, res.bundle, res.full_url)
                elif path == "Bundle.entry.resource":
                    url = parent.get("fullUrl")
                    sub = Res(val["resourceType"], val, loc, val, False, res,
                              url if isinstance(url, str) else None)
                    res.entries.append(sub)
                else:
                    sub = Res(val["resourceType"], val, loc, val, False, res.bundle)
                self._add(sub)
            else:
                self.nodes.append(tuple.__new__(Node, (loc, path, typ, val, res)))
            return
        self.nodes.append(tuple.__new__(Node, (loc, path, typ, val, res)))
        if isinstance(val, dict):
            if typ == "@":
                self._walk(val, loc, path, res)
            elif typ[0].isupper():
                self._walk(val, loc, self._profiles.get(typ, typ), res)


def is_set(value: Any) -> bool:
    """FHIRPath ``exists()`` for one JSON value."""
    return value is not None and value != [] and value != {} and value != ""


def has_choice(obj: dict[str, Any], name: str) -> bool:
    """Whether a choice element ``name[x]`` (``valueQuantity``, ``valueString`` ...) is present."""
    n = len(name)
    for k, v in obj.items():
        if len(k) > n and k.startswith(name) and k[n].isupper() and is_set(v):
            return True
    return False
