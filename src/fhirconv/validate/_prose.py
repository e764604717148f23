"""Layer 6b, rules the R4 specification states in prose rather than as FHIRPath invariants, as the HL7
validator enforces them (each an error):

* ``Attachment.size`` is the size of ``Attachment.data`` once decoded (datatypes.html#Attachment);
* ``Bundle.entry.fullUrl`` is an absolute URL or a ``urn:uuid:`` / ``urn:oid:`` (bundle.html);
* a Bundle has each of the ``self``, ``first``, ``previous``/``prev``, ``next`` and ``last`` links at
  most once (http.html#paging);
* the resources of a searchset have ids (search results are resources on a server; an
  OperationOutcome about the search needs none);
* a ``urn:uuid:`` is a lower-case UUID (RFC 4122 as FHIR profiles it: datatypes.html#uuid);
* ``Coding.system`` is an absolute URI and names a code system, not a value set
  (``http://hl7.org/fhir/ValueSet/...``);
* the ``url`` of a canonical resource, and ``ValueSet.compose.include.system``, are absolute;
* a CodeSystem that ``supplements`` another has ``content`` ``supplement``; a ``composite``
  SearchParameter defines two or more components (codesystem.html, searchparameter.html);
* a narrative uses no named character entities besides XML's five (an XHTML fragment is parsed
  as XML without a DTD: ``&reg;`` must be ``&#174;``).
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache
from typing import Any

from ..model import Issue, Severity
from . import _data
from ._walk import Context

LAYER = "spec"
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = frozenset({"lt", "gt", "amp", "quot", "apos"})
_ONCE = ("self", "first", "previous", "prev", "next", "last")
_VALUE_SET_URL = "http://hl7.org/fhir/ValueSet/"


def _err(loc: str, message: str, code: str = "invalid") -> Issue:
    return Issue(Severity.ERROR, loc, message, LAYER, code)


def check(ctx: Context) -> list[Issue]:
    issues: list[Issue] = []
    for node in ctx.nodes:
        typ, value, loc = node.type, node.value, node.loc
        if typ == "Attachment" and isinstance(value, dict):
            issues += _attachment(loc, value)
        elif typ == "Coding" and isinstance(value, dict):
            system = value.get("system")
            if isinstance(system, str) and system:
                if not _ABSOLUTE.match(system):
                    issues.append(_err(loc + ".system", f"Coding.system {system!r} must be an absolute URI"))
                elif system.startswith(_VALUE_SET_URL):
                    issues.append(_err(loc + ".system", f"Coding.system {system!r} names a value set, not a "
                                                        "code system"))
        elif typ == "Narrative" and isinstance(value, dict) and isinstance(value.get("div"), str):
            bad = sorted({m.group(1) for m in _ENTITY.finditer(value["div"]) if m.group(1) not in _XML_ENTITIES})
            if bad:
                named = ", ".join(f"&{b};" for b in bad)
                issues.append(_err(loc + ".div", f"the narrative uses the entities {named}, which XML does not "
                                                 "define: write them as characters or numeric references (&#174;)"))
    for res in ctx.resources:
        data = res.data
        url = data.get("url")
        if isinstance(url, str) and url and res.type in _canonical_types() and not _ABSOLUTE.match(url):
            issues.append(_err(f"{res.loc}.url", f"the canonical URL {url!r} must be absolute"))
        if res.type == "ValueSet":
            for i, inc in enumerate(_items(data.get("compose"), "include")):
                system = inc.get("system") if isinstance(inc, dict) else None
                if isinstance(system, str) and system and not _ABSOLUTE.match(system):
                    issues.append(_err(f"{res.loc}.compose.include[{i}].system", f"{system!r} must be an absolute "
                                       "URI (a contained code system is named by its own url)"))
        if res.type == "Bundle":
            issues += _bundle(res.loc, data)
        elif res.type == "CodeSystem" and data.get("supplements") and data.get("content") != "supplement":
            issues.append(_err(f"{res.loc}.content", "a CodeSystem that supplements another has content "
                                                      "'supplement'"))
        elif res.type == "SearchParameter" and data.get("type") == "composite" and len(_items(data, "component")) < 2:
            issues.append(_err(res.loc, "a composite SearchParameter defines two or more components", "required"))
    return issues


def _items(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _attachment(loc: str, value: dict[str, Any]) -> list[Issue]:
    data, size = value.get("data"), value.get("size")
    if not isinstance(data, str) or not isinstance(size, int) or isinstance(size, bool):
        return []
    try:
        actual = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return []                       # not base64: the schema's pattern reports it
    if actual != size:
        return [_err(loc + ".size", f"Attachment.size is {size}, but the data is {actual} bytes")]
    return []


def _bundle(loc: str, bundle: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for i, link in enumerate(_items(bundle, "link")):
        relation = link.get("relation") if isinstance(link, dict) else None
        if relation in _ONCE:
            seen[relation] = seen.get(relation, 0) + 1
            if seen[relation] == 2:
                issues.append(_err(f"{loc}.link[{i}]", f"the link relation {relation!r} may occur only once"))
    for i, entry in enumerate(_items(bundle, "entry")):
        if not isinstance(entry, dict):
            continue
        full = entry.get("fullUrl")
        if isinstance(full, str) and full:
            if not _ABSOLUTE.match(full):
                issues.append(_err(f"{loc}.entry[{i}].fullUrl", f"fullUrl {full!r} must be an absolute URL or a "
                                                                 "urn:uuid: / urn:oid:"))
            elif full.lower().startswith("urn:uuid:") and not _UUID.match(full):
                issues.append(_err(f"{loc}.entry[{i}].fullUrl", f"{full!r} is not a lower-case UUID"))
        res = entry.get("resource")
        if bundle.get("type") == "searchset" and isinstance(res, dict) and not res.get("id") \
                and res.get("resourceType") != "OperationOutcome":      # an outcome of the search itself
            issues.append(_err(f"{loc}.entry[{i}].resource", "a search result must have an id", "required"))
    return issues


@cache
def _canonical_types() -> frozenset[str]:
    """The canonical resources: those the R4 definitions give a ``url`` and an ``experimental`` flag
    (the metadata pattern; Device's and Contract's ``url`` are addresses, not canonical URLs)."""
    types = _data.element_types()
    return frozenset(r for r in _data.resource_types() if f"{r}.url" in types and f"{r}.experimental" in types)
