"""Facts → FHIR R4 resources.

Resources are assembled as plain dicts from the concept tables and ``templates.yaml``, then
parsed by the ``fhir.resources.R4B`` model of their type (R4B = R4 for every type emitted
here; never the R5 package root), so a structurally wrong resource fails here, at build
time, with the fact that caused it. Ids are uuid5 of the document's content hash and the
fact, so the same text always gives the same ids.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ._build_base import DCM, UCUM
from ._build_staging import StagingBuilder
from ._version import __version__
from .model import Assertion, Extraction, Fact, PatientFacts

RELEASE_TIMESTAMP = "2026-11-21T00:00:00Z"
# an uncertain or planned finding is not an observation of the patient: it is not written
_FINDING_ASSERTIONS = (Assertion.PRESENT, Assertion.HISTORICAL, Assertion.NEGATED, Assertion.REFUTED)


@dataclass
class Built:
    """The resources for one document, in a stable order, with their ids."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # what the resources do not say but an output profile needs (conform.py): resource id -> facts
    # (a Condition's tumour role, neoplasm kind and site, a lab's analyte, a procedure's kind and site)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        key = (resource["resourceType"], resource["id"])
        if key in self._seen:
            # the same fact reached twice: one resource (the id is the fact's identity)
            self.warnings.append(f"{key[0]}/{key[1]} built twice; kept once")
            return resource
        self._seen.add(key)
        self.resources.append(resource)
        return resource


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded_timestamp() -> str:
    """Provenance time: SOURCE_DATE_EPOCH when set (reproducible builds), else this release's date.

    A wall-clock time would make two runs differ; the document hash already says *what* was converted.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return RELEASE_TIMESTAMP


class Builder(StagingBuilder):
    """Facts → resources, one document at a time (the tables and helpers: BuilderBase; stages and
    TNM categories: StagingBuilder)."""

    # ------------------------------------------------------------------ document
    def build(self, ex: Extraction) -> Built:
        doc = ex.document
        h = content_hash(doc.original)
        out = Built()
        doc_id = self._id(h, "DocumentReference")
        doc_ref = f"urn:uuid:{doc_id}"
        patient_refs: list[str] = []
        for p in ex.patients:
            patient_refs.append(f"urn:uuid:{self._id(h, 'Patient', p.index)}")
        out.add(self._document(ex, doc_id, h, patient_refs))
        for p, pref in zip(ex.patients, patient_refs, strict=True):
            self._patient(ex, p, pref, h, doc_ref, out)
        targets = [r for r in out.resources]
        out.add(self._provenance(h, doc_ref, targets))
        for r in out.resources:
            self._validate(r)
        return out

    def _document(self, ex: Extraction, doc_id: str, h: str, patients: list[str]) -> dict[str, Any]:
        doc, cit = ex.document, ex.document.citation
        data = doc.original.encode("utf-8")
        identifiers = [{"system": "urn:ietf:rfc:3986", "value": f"urn:sha256:{h}"}]
        if cit.doi:
            identifiers.append({"system": self.ids["doi"], "value": cit.doi})
        if cit.pmid:
            identifiers.append({"system": self.ids["pmid"], "value": cit.pmid})
        title = cit.title or _base_name(doc.name)
        attachment: dict[str, Any] = {
            "contentType": "text/plain; charset=utf-8", "data": base64.b64encode(data).decode("ascii"),
            "size": len(data), "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
            "title": title,
        }
        res: dict[str, Any] = {
            "resourceType": "DocumentReference", "id": doc_id,
            "text": self._narrative("DocumentReference", title=title),
            "identifier": identifiers, "status": "current",
            "type": self._cc(self._concept("document.case_report")),
            "description": _citation_text(cit, _base_name(doc.name)),
            "content": [{"attachment": attachment}],
        }
        if len(patients) == 1:
            res["subject"] = {"reference": patients[0]}
        return res

    def _provenance(self, h: str, doc_ref: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
        agent = f"fhirconv {__version__}"
        return {
            "resourceType": "Provenance", "id": self._id(h, "Provenance"),
            "text": self._narrative("Provenance", agent=agent, document="the source document"),
            "target": [{"reference": f"urn:uuid:{r['id']}"} for r in targets],
            "recorded": recorded_timestamp(),
            "activity": {"coding": [self.codings["provenance_activity"]]},
            "agent": [{"type": {"coding": [self.codings["provenance_assembler"]]}, "who": {"display": agent}}],
            "entity": [{"role": "source", "what": {"reference": doc_ref}}],
        }

    def _patient(self, ex: Extraction, p: PatientFacts, pref: str, h: str, doc_ref: str, out: Built) -> None:
        subject = {"reference": pref}
        pid = pref.removeprefix("urn:uuid:")
        sex = next((f.text for f in p.facts if f.kind == "sex"), None)
        dead = next((f for f in p.facts if f.kind == "deceased"), None)
        patient: dict[str, Any] = {"resourceType": "Patient", "id": pid}
        patient["identifier"] = [{"system": self.ids["case"], "value": f"{h[:16]}-{p.index + 1}"}]
        if sex in ("female", "male"):
            patient["gender"] = sex
        if dead is not None:
            if dead.attr("date"):
                patient["deceasedDateTime"] = dead.attr("date")
            else:
                patient["deceasedBoolean"] = True
        patient["text"] = self._narrative("Patient", label=p.label or str(p.index + 1), gender=sex or "sex not stated",
                                          deceased=", deceased" if dead else "", document=_base_name(ex.document.name))
        patient = {k: patient[k] for k in ("resourceType", "id", "text", "identifier", "gender", "deceasedBoolean",
                                           "deceasedDateTime") if k in patient}
        out.add(patient)
        primary = self._primary(p)
        primary_id = self._fact_id(h, "Condition", primary) if primary and primary.patient == p.index else None
        tnm_ids = self._tnm_ids(h, p) if primary_id is not None else {}
        cond_ids: dict[int, str] = {}
        tissue_results: list[str] = []
        for i, f in enumerate(p.facts):
            if f.kind == "age":
                out.add(self._age(f, h, subject, doc_ref))
            elif f.kind == "condition":
                res = self._condition(f, h, subject, doc_ref, primary, cond_ids)
                if res is not None:
                    cond_ids[i] = res["id"]
                    out.add(res)
                    concept = self._concept(f.concept)
                    # the histology: of the concept the Condition is coded with (a metastasis without a
                    # concept of its own carries its primary's)
                    coded = concept or (self._concept(primary.concept) if primary and f.attr("role") == "metastasis"
                                        else None)
                    out.tags[res["id"]] = {"role": f.attr("role") or "",
                                           "neoplasm": (concept.attr("neoplasm") if concept else None) or "",
                                           "site": f.attr("body_site") or "", "laterality": f.attr("laterality") or "",
                                           "morphology": (coded.attr("morphology") if coded else None) or ""}
            elif f.kind == "finding" and f.assertion in _FINDING_ASSERTIONS:
                out.add(self._finding(f, h, subject, doc_ref))
            elif f.kind == "lab":
                res = self._lab(f, h, subject, doc_ref)
                if res is not None:
                    out.add(res)
                    concept = self._concept(f.concept)
                    out.tags[res["id"]] = {"analyte": (concept.attr("analyte") if concept else None) or ""}
                    if "tissue" in res["code"]["coding"][0]["display"].lower() if res["code"].get("coding") else False:
                        tissue_results.append(res["id"])
            elif f.kind == "procedure":
                proc = out.add(self._procedure(f, h, subject, doc_ref))
                concept = self._concept(f.concept)
                out.tags[proc["id"]] = {"kind": (concept.attr("kind") if concept else None) or "",
                                        "site": (concept.attr("site") if concept else None) or "",
                                        "laterality": f.attr("laterality") or ""}
            elif f.kind == "stage" and self.stages:
                stage = out.add(self._stage(f, h, subject, doc_ref, primary_id, [(p.facts[j], ids) for j, ids in
                                                                                  tnm_ids.items()]))
                out.tags[stage["id"]] = {"kind": "stage"}
            elif f.kind == "tnm" and self.stages and primary_id is not None:
                for res, (cat, _) in zip(self._tnm(f, tnm_ids[i], subject, doc_ref, primary_id), tnm_ids[i],
                                         strict=True):
                    out.add(res)
                    out.tags[res["id"]] = {"kind": "tnm", "category": cat}
            elif f.kind == "medication":
                out.add(self._medication(f, h, subject, doc_ref))
        biopsy = next((f for f in p.facts if f.kind == "procedure" and f.concept
                       and (self.maps[f.concept].attr("kind") == "biopsy")), None)
        if biopsy is not None or tissue_results:
            out.add(self._pathology_report(p, h, subject, primary, biopsy, tissue_results))
        for f in p.facts:
            if f.kind == "imaging":
                study = self._imaging(f, h, subject, doc_ref)
                out.add(study)
                out.add(self._imaging_report(f, h, subject, study))

    def _primary(self, p: PatientFacts) -> Fact | None:
        """The current primary tumour (a past one, e.g. in remission, only when no current one is named)."""
        for wanted in (Assertion.PRESENT, Assertion.HISTORICAL):
            for f in p.facts:
                if f.kind == "condition" and f.attr("role") == "primary" and f.assertion == wanted \
                        and f.attr("clinical_status") not in ("remission", "resolved"):
                    return f
        return None

    def _age(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any]:
        concept = self.maps["observation.age"]
        value, unit = f.attr("value"), f.attr("unit") or "a"
        unit_label = {"a": "years", "mo": "months", "wk": "weeks", "d": "days"}.get(unit, unit)
        said = f"{value:g} {unit_label}"
        days = (self.maps.rule("subject") or {}).get("age_unit_days") or {}
        if unit != "a" and unit in days and "a" in days:
            # always in years (UCUM a), as readers of "age at presentation" expect one unit
            years = round(float(value) * float(days[unit]) / float(days["a"]), 2)
            said = f"{said} ({years:g} years)"
            value, unit, unit_label = years, "a", "years"
        return {
            "resourceType": "Observation", "id": self._id(h, "age", f.patient),
            "text": self._narrative("Observation", code="Age at presentation", value=said, date=""),
            "extension": self._span_ext(f, doc_ref),
            "status": "final", "category": [{"coding": [self.codings["obs_survey"]]}],
            "code": self._cc(concept, "Age at presentation"), "subject": subject,
            "valueQuantity": {"value": _num(value), "unit": unit_label, "system": UCUM, "code": unit},
        }

    def _condition(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str, primary: Fact | None,
                   cond_ids: dict[int, str]) -> dict[str, Any] | None:
        verification = self.verification.get(f.assertion.value)
        if verification is None:
            return None    # planned, conditional or feared ("to prevent tuberculosis"): not a diagnosis
        concept = self._concept(f.concept)
        role = f.attr("role")
        site_key = f.attr("body_site")
        text = f.text
        related = None
        if role == "metastasis" and concept is None:
            if primary is None:
                concept = None
                text = f"metastasis ({f.text})"
            else:
                concept = self._concept(primary.concept)
                text = f"metastatic {primary.text} ({f.text})"
        if role == "metastasis" and primary is not None and primary is not f:
            related = f"urn:uuid:{self._fact_id(h, 'Condition', primary)}"
        res: dict[str, Any] = {"resourceType": "Condition", "id": self._fact_id(h, "Condition", f)}
        site_label = ""
        body = self._body_site(site_key, f.attr("laterality"))
        ext = self._span_ext(f, doc_ref)
        if related:
            ext = [{"url": self.ext["related_condition"], "valueReference": {"reference": related}}] + ext
        res["extension"] = ext
        if verification not in ("refuted", "entered-in-error"):
            status = f.attr("clinical_status") or self.clinical.get(f.assertion.value, "active")
            res["clinicalStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]}
        res["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}
        res["category"] = [{"coding": [self.codings["condition_category"]]}]
        res["code"] = self._cc(concept, text)
        if body:
            res["bodySite"] = [body]
            site_label = f" of {body.get('text', '')}"
        res["subject"] = subject
        if f.attr("date"):
            res["onsetDateTime"] = f.attr("date")
        res["text"] = self._narrative("Condition", verification=verification.capitalize(), code=text,
                                      site=site_label, onset=f" since {f.attr('date')}" if f.attr("date") else "")
        return _ordered(res, ("resourceType", "id", "text", "extension", "clinicalStatus", "verificationStatus",
                              "category", "code", "bodySite", "subject", "onsetDateTime"))

    def _finding(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any]:
        concept = self._concept(f.concept)
        present = f.assertion in (Assertion.PRESENT, Assertion.HISTORICAL)
        res: dict[str, Any] = {
            "resourceType": "Observation", "id": self._fact_id(h, "Observation", f),
            "text": self._narrative("Observation", code=f.text, value="present" if present else f.assertion.value,
                                    date=_date_label(f)),
            "extension": self._span_ext(f, doc_ref),
            "status": "final",
            "category": [{"coding": [self.codings["obs_exam"]]}],
            "code": self._cc(concept, f.text), "subject": subject,
        }
        if f.attr("date"):
            res["effectiveDateTime"] = f.attr("date")
        res["valueBoolean"] = present
        body = self._body_site(f.attr("body_site"), f.attr("laterality"))
        if body:
            res["bodySite"] = body
        return res

    def _lab(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any] | None:
        concept = self._concept(f.concept)
        if concept is None:
            return None
        value = f.attr("value")
        vital = concept.attr("vital") == "1" or concept.attr("category") == "vital-signs"
        category = self.codings["obs_vital" if vital else "obs_laboratory"]
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._fact_id(h, "Observation", f),
            "text": self._narrative("Observation", code=concept.display or f.text,
                                    value=f"{f.attr('comparator') or ''}{value} {f.attr('unit') or ''}".strip(),
                                    date=_date_label(f)),
            "extension": self._span_ext(f, doc_ref),
            "status": "final", "category": [{"coding": [category]}],
            "code": self._cc(concept), "subject": subject,
        }
        if f.attr("date"):
            res["effectiveDateTime"] = f.attr("date")
        if concept.attr("value") == "bp_panel" and isinstance(value, str) and "/" in value:
            parts = value.split("/")
            comps = [self._concept(k.strip()) for k in (concept.attr("components") or "").split(",")]
            res["component"] = [
                {"code": self._cc(c), "valueQuantity": {"value": _num(v), "unit": "mmHg", "system": UCUM,
                                                         "code": "mm[Hg]"}}
                for c, v in zip(comps, parts, strict=False) if c is not None]
        elif isinstance(value, (int, float)):
            unit = f.attr("unit") or ""
            q: dict[str, Any] = {"value": _num(value)}
            if f.attr("comparator"):
                q["comparator"] = f.attr("comparator")
            if unit:
                q.update({"unit": unit, "system": UCUM, "code": unit})
            res["valueQuantity"] = q
            bounds = {name: f.attr(name) for name in ("low", "high") if f.attr(name) is not None}
            if bounds:
                res["referenceRange"] = [{name: {"value": _num(v), **({"unit": unit, "system": UCUM, "code": unit}
                                                                     if unit else {})}
                                          for name, v in bounds.items()}]
        elif value in ("positive", "negative"):
            qual = self._concept(f"qualifier.{value}")
            res["valueCodeableConcept"] = self._cc(qual, value)
            res["interpretation"] = [{"coding": [self.codings["interp_pos" if value == "positive" else "interp_neg"]]}]
        elif value in ("increased", "decreased", "normal"):
            res["valueCodeableConcept"] = {"text": value}
            res["interpretation"] = [{"coding": [self.codings[f"interp_{value}"]]}]
        else:
            res["valueString"] = str(value)
        return res

    def _procedure(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any]:
        concept = self._concept(f.concept)
        res: dict[str, Any] = {
            "resourceType": "Procedure", "id": self._fact_id(h, "Procedure", f),
            "text": self._narrative("Procedure", code=f.text, site="", date=_date_label(f)),
            "extension": self._span_ext(f, doc_ref),
            "status": "completed", "code": self._cc(concept, f.text), "subject": subject,
        }
        if f.attr("date"):
            res["performedDateTime"] = f.attr("date")
        body = self._body_site(concept.attr("site") if concept else None, f.attr("laterality"))
        if body:
            res["bodySite"] = [body]
        return res

    def _medication(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any]:
        concept = self._concept(f.concept)
        status = f.attr("status") or "completed"
        res: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": self._fact_id(h, "MedicationStatement", f),
            "text": self._narrative("MedicationStatement", code=f.text, status=status, date=_date_label(f)),
            "extension": self._span_ext(f, doc_ref),
            "status": status, "medicationCodeableConcept": self._cc(concept, f.text), "subject": subject,
        }
        if f.attr("date"):
            res["effectiveDateTime"] = f.attr("date")
        return res

    def _imaging(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str) -> dict[str, Any]:
        sid = self._fact_id(h, "ImagingStudy", f)
        concept = self._concept(f.concept)
        mods = [f.attr("modality")] + ([f.attr("hybrid")] if f.attr("hybrid") else [])
        mod_codings = []
        for m in mods:
            known = self.modalities.get(m)
            mod_codings.append({"system": DCM, "code": m, "display": known.display if known else m})
        sites = [self._concept(k) for k in f.attr("body_sites") or ()]
        site_label = ", ".join(s.display for s in sites if s)
        series = []
        for i, mc in enumerate(mod_codings):
            s: dict[str, Any] = {"uid": _dicom_uid(sid, i + 1), "number": i + 1, "modality": mc}
            site = next((x for x in sites if x is not None and x.coded), None)
            if site is not None:
                s["bodySite"] = {"system": site.system, "code": site.code, "display": site.display}
            series.append(s)
        res: dict[str, Any] = {
            "resourceType": "ImagingStudy", "id": sid,
            "text": self._narrative("ImagingStudy", modality=(concept.display if concept else f.text),
                                    site=f" of {site_label}" if site_label else "", date=_date_label(f)),
            "extension": self._span_ext(f, doc_ref),
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{_dicom_uid(sid, 0)}"}],
            "status": "available", "modality": mod_codings, "subject": subject,
        }
        if f.attr("date"):
            res["started"] = f.attr("date") if len(f.attr("date")) > 7 else None
            if res["started"] is None:
                del res["started"]
        res["numberOfSeries"] = len(series)
        res["description"] = f.text + (f" ({site_label})" if site_label else "")
        res["series"] = series
        return res

    def _pathology_report(self, p: PatientFacts, h: str, subject: dict[str, str], primary: Fact | None,
                          biopsy: Fact | None, results: list[str]) -> dict[str, Any]:
        """Histology and tissue markers: one pathology report per patient, concluding with the primary tumour."""
        concept = self._concept("report.pathology")
        res: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "id": self._id(h, "DiagnosticReport", "pathology", p.index),
            "text": self._narrative("DiagnosticReport", code="Pathology",
                                    conclusion=primary.text if primary else "see results"),
            "status": "final", "category": [{"coding": [self.codings["report_pathology"]]}],
            "code": self._cc(concept), "subject": subject,
        }
        date = (biopsy.attr("date") if biopsy else None) or (primary.attr("date") if primary else None)
        if date:
            res["effectiveDateTime"] = date
        if results:
            res["result"] = [{"reference": f"urn:uuid:{r}"} for r in results]
        if primary is not None:
            res["conclusion"] = primary.text
            code = self._cc(self._concept(primary.concept), primary.text)
            if code.get("coding"):
                res["conclusionCode"] = [code]
        return res

    def _imaging_report(self, f: Fact, h: str, subject: dict[str, str], study: dict[str, Any]) -> dict[str, Any]:
        concept = self._concept("report.imaging")
        conclusion = f.attr("findings") or ""
        res: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "id": self._id(h, "DiagnosticReport", study["id"]),
            "text": self._narrative("DiagnosticReport", code=study["description"], conclusion=conclusion or "—"),
            "status": "final", "category": [{"coding": [self.codings["report_radiology"]]}],
            "code": self._cc(concept), "subject": subject,
            "imagingStudy": [{"reference": f"urn:uuid:{study['id']}"}],
        }
        if f.attr("date"):
            res["effectiveDateTime"] = f.attr("date")
        if conclusion:
            res["conclusion"] = conclusion
        return res


def _base_name(name: str) -> str:
    """The file name without its folders: output must not depend on where the input was read from."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: d[k] for k in order if k in d} | {k: v for k, v in d.items() if k not in order}


def _num(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else f


def _date_label(f: Fact) -> str:
    return f" ({f.attr('date')})" if f.attr("date") else ""


def _dicom_uid(study_id: str, series: int) -> str:
    """A DICOM UID under the 2.25 root (ISO/IEC 9834-8: UUID as integer), deterministic."""
    base = uuid.UUID(study_id).int
    if series == 0:
        return f"2.25.{base}"
    return f"2.25.{uuid.uuid5(uuid.UUID(study_id), str(series)).int}"


def _citation_text(cit: Any, name: str) -> str:
    parts = [cit.title or name]
    if cit.authors:
        parts.append(", ".join(cit.authors))
    if cit.journal:
        parts.append(cit.journal)
    if cit.date:
        parts.append(cit.date)
    if cit.doi:
        parts.append(f"doi:{cit.doi}")
    if cit.pmid:
        parts.append(f"PMID:{cit.pmid}")
    return ". ".join(parts)
