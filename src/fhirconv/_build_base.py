"""The builder's tables and shared helpers (build.py assembles the resources with them)."""

from __future__ import annotations

import html
import uuid
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from .errors import BuildError
from .mappings import Concept, Mappings
from .model import Fact

NAMESPACE = uuid.UUID("6f1c1c52-7d57-4a39-9d0e-1f1f7c0a5e01")
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


class BuilderBase:
    """The tables the builder reads (codings, identifier systems, extensions, narratives) and the
    helpers every resource uses: ids, CodeableConcepts, narratives, source spans, body sites, and
    the R4B model check of each built resource."""

    def __init__(self, mappings: Mappings, *, stages: bool = False) -> None:
        """``stages``: write the cancer stage groups the text gives (the mCODE profile's CancerStage);
        plain output does not carry them yet."""
        self.maps = mappings
        self.stages = stages
        self.staging: dict[str, Any] = mappings.rule("staging") or {}
        tpl = mappings.rule("templates") or {}
        if not tpl:
            raise BuildError("mappings file templates.yaml is missing; reinstall fhirconv or restore the file")
        self.codings: dict[str, dict[str, str]] = tpl.get("codings", {})
        self.clinical: dict[str, str] = tpl.get("clinical_status", {})
        self.verification: dict[str, str] = tpl.get("verification_status", {})
        self.ids: dict[str, str] = tpl.get("identifier_systems", {})
        self.ext: dict[str, str] = tpl.get("extensions", {})
        self.narr: dict[str, str] = tpl.get("narrative", {})
        self.modalities = {c.code: c for c in mappings.category("modality") if c.system == DCM}

    # ------------------------------------------------------------------ helpers
    def _id(self, doc_hash: str, *parts: Any) -> str:
        return str(uuid.uuid5(NAMESPACE, "|".join([doc_hash, *map(str, parts)])))

    def _fact_id(self, h: str, rtype: str, f: Fact) -> str:
        """One fact, one id: everything that tells two facts apart goes into it."""
        return self._id(h, rtype, f.patient, f.kind, f.concept, f.span.start, f.span.end, f.attr("body_site"),
                        f.attr("laterality"), f.attr("value"), f.attr("unit"))

    def _cc(self, concept: Concept | None, text: str | None = None) -> dict[str, Any]:
        cc: dict[str, Any] = {}
        coded = concept
        if concept is not None and not concept.coded and concept.attr("broader"):
            # no confirmed code for the concept itself: the confirmed broader concept codes it, the text keeps detail
            coded = self._concept(concept.attr("broader"))
        if coded is not None and coded.coded:
            cc["coding"] = [{"system": coded.system, "code": coded.code, "display": coded.display}]
        label = text or (concept.display if concept else None)
        if label:
            cc["text"] = label
        return cc

    def _concept(self, key: str | None) -> Concept | None:
        return self.maps.get(key) if key else None

    def _narrative(self, rtype: str, **fields: Any) -> dict[str, str]:
        template = self.narr.get(rtype, rtype)
        safe = {k: html.escape(str(v)) if v is not None else "" for k, v in fields.items()}
        try:
            body = template.format(**safe)
        except (KeyError, IndexError):
            body = html.escape(rtype)
        return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{body}</p></div>'}

    def _span_ext(self, fact: Fact, doc_ref: str) -> list[dict[str, Any]]:
        return [{"url": self.ext["source_span"], "extension": [
            {"url": "document", "valueReference": {"reference": doc_ref}},
            {"url": "start", "valueInteger": fact.span.start},
            {"url": "end", "valueInteger": fact.span.end},
        ]}]

    def _body_site(self, site_key: str | None, laterality: str | None) -> dict[str, Any] | None:
        site = self._concept(site_key)
        if site is None and not laterality:
            return None
        cc = self._cc(site)
        if laterality:
            lat = self._concept(f"qualifier.{laterality}")
            label = f"{laterality} {site.display.lower() if site else ''}".strip()
            cc["text"] = label
            if lat is not None and lat.coded:
                cc["extension"] = [{"url": self.ext["laterality"], "valueCodeableConcept": self._cc(lat, laterality)}]
        return cc or None

    @staticmethod
    def _validate(resource: dict[str, Any]) -> dict[str, Any]:
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except PydanticValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            raise BuildError(f"built an invalid {resource['resourceType']} ({where}: {first.get('msg')}); "
                             "this is a fhirconv bug: please report it with the input text") from exc
        return resource
