"""Layer 5, references: resolution inside a Bundle and R4 target types.

* ``urn:uuid:``/``urn:oid:`` references must match the ``fullUrl`` of an entry: an error in a
  transaction, batch or document (nothing else can resolve them) and in fhirconv's own output;
  information elsewhere (a collection may point outside itself, as the HL7 validator reads R4).
* Relative ``Type/id`` references are looked for among the entries (by ``fullUrl`` against
  the base of the referring entry, or by resourceType/id); ``Type/id/_history/v`` must also
  match the entry's ``meta.versionId``. One that matches no entry may point outside the
  bundle, which the specification allows: information in a collection, searchset, message or
  response bundle (as the HL7 validator reports it), a warning in a transaction or batch (the
  resource must already be on the server) and in a document (whose Composition's references
  SHALL be included). In fhirconv's own output (``strict``) every reference must resolve.
* Absolute URLs that are no entry's ``fullUrl`` cannot be checked offline: warning.
* ``#id`` references to contained resources are checked by the ref-1 invariant.
* The target type (of the resolved entry, or read from the reference) must be one the R4
  definition allows (``references.json``): e.g. Observation.subject is
  Patient|Group|Device|Location in R4, so a Practitioner subject (allowed in R4B) is an error.
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Issue, Severity
from . import _data
from ._walk import Context, Node, Res

LAYER = "reference"
_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_ABSOLUTE = re.compile(r"^(https?://.+/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$")
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]+)\?.+")


class _Index:
    def __init__(self, bundle: Res) -> None:
        self.type = bundle.data.get("type")
        self.by_url: dict[str, Res] = {}
        self.by_rel: dict[str, Res] = {}
        for r in bundle.entries:
            if r.full_url:
                self.by_url.setdefault(r.full_url, r)
            rid = r.data.get("id")
            if isinstance(rid, str):
                self.by_rel.setdefault(f"{r.type}/{rid}", r)

    @property
    def server_side(self) -> bool:
        return self.type in ("transaction", "batch")


def literal_type(ref: str) -> str | None:
    """The resource type a literal reference names (``Patient/1``, ``https://x/fhir/Patient/1/_history/2``)."""
    m = _RELATIVE.match(ref) or _ABSOLUTE.match(ref)
    if m is None:
        return None
    return m.group(1) if m.re is _RELATIVE else m.group(2)


def check(ctx: Context, *, strict: bool = False) -> list[Issue]:
    issues: list[Issue] = []
    indexes: dict[int, _Index] = {}
    allowed_by_path = _data.references()
    known = _data.resource_types()
    for node in ctx.nodes:
        if node.type != "Reference" or not isinstance(node.value, dict):
            continue
        ref = node.value.get("reference")
        if not isinstance(ref, str) or not ref:
            continue
        bundle = node.res.bundle
        index = None
        if bundle is not None:
            index = indexes.get(id(bundle))
            if index is None:
                index = indexes[id(bundle)] = _Index(bundle)
        target = _resolve(node, ref, index, known, issues, strict)
        allowed = allowed_by_path.get(node.path)
        declared = node.value.get("type")
        if isinstance(declared, str) and declared in known:
            if target is not None and target != declared:
                issues.append(Issue(Severity.ERROR, node.loc + ".type", f"Reference.type is {declared} "
                                    f"but {ref!r} is a {target}", LAYER, "invalid"))
            target = target or declared
        if allowed and target is not None and target not in allowed:
            issues.append(Issue(Severity.ERROR, node.loc + ".reference",
                                f"{node.path} may refer to {'|'.join(allowed)} in R4, not {target}",
                                LAYER, "invalid"))
    return issues


def _resolve(node: Node, ref: str, index: _Index | None, known: frozenset[str],
             issues: list[Issue], strict: bool = False) -> str | None:
    """The type of the referenced resource when it can be told; adds resolution issues."""
    loc = node.loc + ".reference"
    if ref.startswith("#"):
        if ref == "#":
            t = node.res.root.get("resourceType")
            return t if isinstance(t, str) else None
        for c in node.res.root.get("contained", []) or []:
            if isinstance(c, dict) and c.get("id") == ref[1:]:
                t = c.get("resourceType")
                return t if isinstance(t, str) else None
        return None  # unresolved: reported by ref-1
    if ref.startswith(("urn:uuid:", "urn:oid:")):
        if index is None:
            issues.append(Issue(Severity.WARNING, loc, f"{ref!r} can only be resolved inside a Bundle",
                                LAYER, "not-found"))
            return None
        hit = index.by_url.get(ref)
        if hit is None:
            if strict or index.server_side or index.type == "document":
                # a server, or a document's reader, has nothing else to resolve it against
                issues.append(Issue(Severity.ERROR, loc, f"{ref!r} does not resolve: no entry has this fullUrl",
                                    LAYER, "not-found"))
            else:
                _unresolved(issues, loc, f"{ref!r} matches no entry's fullUrl", index, strict)
            return None
        return hit.type
    m = _RELATIVE.match(ref)
    if m:
        rtype = m.group(1)
        if rtype not in known:
            issues.append(Issue(Severity.ERROR, loc, f"{ref!r}: {rtype} is not an R4 resource type",
                                LAYER, "invalid"))
            return None
        if index is None:
            return rtype
        hit = _resolve_relative(node.res, f"{rtype}/{m.group(2)}", index)
        version = m.group(3)[len("/_history/"):] if m.group(3) else None
        if hit is not None and version is not None:
            meta = hit.data.get("meta")
            have = meta.get("versionId") if isinstance(meta, dict) else None
            if have != version:
                why = f"the entry for {rtype}/{m.group(2)} is " + (f"version {have}" if have else "unversioned")
                _unresolved(issues, loc, f"{ref!r} names version {version}, but {why}", index, strict)
                return rtype
        if hit is not None:
            return hit.type
        _unresolved(issues, loc, f"{ref!r} matches no entry of the Bundle", index, strict)
        return rtype
    m = _CONDITIONAL.match(ref)
    if m:
        if index is None or not index.server_side:
            issues.append(Issue(Severity.WARNING, loc, f"conditional reference {ref!r} is only resolved "
                                "by a server processing a transaction or batch", LAYER, "not-found"))
        return m.group(1) if m.group(1) in known else None
    if ref.startswith(("http://", "https://")):
        hit = index.by_url.get(ref) if index is not None else None
        if hit is not None:
            return hit.type
        issues.append(Issue(Severity.WARNING, loc, f"{ref!r} is not in the Bundle and cannot be "
                            "resolved offline", LAYER, "not-found"))
        am = _ABSOLUTE.match(ref)
        return am.group(2) if am and am.group(2) in known else None
    issues.append(Issue(Severity.ERROR, loc, f"{ref!r} is not a valid reference (expected Type/id, "
                        "urn:uuid:..., an absolute URL or #id)", LAYER, "invalid"))
    return None


def _unresolved(issues: list[Issue], loc: str, what: str, index: _Index, strict: bool) -> None:
    if strict:
        issues.append(Issue(Severity.ERROR, loc, f"{what}: every reference fhirconv writes must resolve",
                            LAYER, "not-found"))
    elif index.server_side:
        issues.append(Issue(Severity.WARNING, loc, f"{what} ({index.type}): it must already exist on the server",
                            LAYER, "not-found"))
    elif index.type == "document":
        issues.append(Issue(Severity.WARNING, loc, f"{what}: a document should include what it references",
                            LAYER, "not-found"))
    else:
        issues.append(Issue(Severity.INFORMATION, loc, f"{what}; it may point outside the Bundle "
                            f"({index.type or 'no type'}), which cannot be checked offline", LAYER, "not-found"))


def _resolve_relative(res: Res, rel: str, index: _Index) -> Res | None:
    """FHIR's rule: a relative reference is read against the base of the referring entry's fullUrl."""
    url: Any = res.full_url
    if isinstance(url, str):
        m = _ABSOLUTE.match(url)
        if m:
            hit = index.by_url.get(m.group(1) + rel)
            if hit is not None:
                return hit
    return index.by_url.get(rel) or index.by_rel.get(rel)
