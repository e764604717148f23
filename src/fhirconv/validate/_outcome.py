"""Issues as FHIR R4 OperationOutcome resources, the form validation results take between tools
(what a server's ``$validate`` returns): one OperationOutcome per validated input, and a collection
Bundle of them for several inputs.

Each issue: ``severity``, ``code`` (R4 issue-type), ``details.text`` (the message), ``expression``
(the FHIRPath-like location), the fhirconv layer that found it in an extension, and, for a
profile's finding, the profile (``url|version``) in another.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..model import Issue

BASE = "https://fhirconv.readthedocs.io/fhir/StructureDefinition/"
LAYER_URL = BASE + "validation-layer"
SOURCE_URL = BASE + "validated-input"
PROFILE_URL = BASE + "validation-profile"
ISSUE_TYPES = frozenset("""invalid structure required value invariant security login unknown expired forbidden
suppressed processing not-supported duplicate multiple-matches not-found deleted too-long code-invalid extension
too-costly business-rule conflict transient lock-error no-store exception timeout incomplete throttled
informational""".split())
_NS = uuid.UUID("3f1c2d6e-7a0b-5c8e-9f41-6d2b8a0c4e17")


def _issue(i: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "extension": [{"url": LAYER_URL, "valueCode": i["layer"] or "read"}],
        "severity": i["severity"],
        "code": i["code"] if i["code"] in ISSUE_TYPES else "processing",
        "details": {"text": i["message"]},
    }
    if i.get("profile"):
        out["extension"].append({"url": PROFILE_URL, "valueCanonical": i["profile"]})
    if i["location"]:
        out["expression"] = [i["location"]]
    return out


def operation_outcome(issues: list[Issue] | list[dict[str, str]], source: str | None = None) -> dict[str, Any]:
    """The OperationOutcome of one input (``source``: its name, kept in an extension)."""
    rows = [i.to_dict() if isinstance(i, Issue) else i for i in issues]
    outcome: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if source is not None:
        outcome["extension"] = [{"url": SOURCE_URL, "valueString": source}]
    outcome["issue"] = [_issue(i) for i in rows] or [
        {"severity": "information", "code": "informational", "details": {"text": "no issues found"}}]
    return outcome


def outcomes_bundle(results: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """A collection Bundle holding one OperationOutcome per input, in input order."""
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid5(_NS, name)}", "resource": operation_outcome(issues, name)}
                      for name, issues in results.items()]}
