"""Resources → Bundles (transaction or collection) and NDJSON, byte-for-byte deterministic.

Transaction entries are ``PUT Type/id`` with the deterministic id: re-sending the same
bundle updates the same resources instead of creating copies (the Microsoft
FHIR-Converter pattern), and the ids always contain a letter or hyphen as HAPI requires.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from ._build_base import NAMESPACE

BUNDLE_TYPES = ("transaction", "collection")


def make_bundle(resources: list[dict[str, Any]], doc_hash: str, bundle_type: str = "transaction", *,
                profile: str | None = None) -> dict[str, Any]:
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError(f"bundle type must be one of {', '.join(BUNDLE_TYPES)}")
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
        if bundle_type == "transaction":
            entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle",
                              "id": str(uuid.uuid5(NAMESPACE, f"{doc_hash}|Bundle|{bundle_type}"))}
    if profile:
        bundle["meta"] = {"profile": [profile]}
    bundle["type"] = bundle_type
    bundle["entry"] = entries
    return bundle


def dumps(resource: dict[str, Any]) -> str:
    """Stable JSON text: fixed key order (as built), UTF-8, two-space indent, final newline."""
    return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"


def ndjson_lines(resources: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """Resources grouped by type as NDJSON lines (the FHIR Bulk Data layout: one file per type)."""
    out: dict[str, list[str]] = {}
    for r in resources:
        out.setdefault(r["resourceType"], []).append(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
    return out
