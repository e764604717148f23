"""Output profiles: the built resources made to claim, and meet, US Core 6.1.0 or mCODE 4.0.0.

A stage between build and bundle, run only when a profile is asked for (``none``, the default, leaves
the resources untouched, byte for byte). What each profile claims and adds is data
(``mappings/profiles.yaml``); this module applies it:

* every resource of a profiled type gets ``meta.profile``; a type the profile has no profile for (or
  whose profile fhirconv cannot meet honestly) is left unclaimed and said so, never half-claimed;
* what a profile requires and the text does not give is written as absent, not invented: a Patient's
  ``name`` is a data-absent-reason extension, an unstated sex is ``unknown``, a report's or procedure's
  missing date is a data-absent-reason on the primitive;
* a month- or year-only Observation date (US Core wants the day) becomes an ``effectivePeriod``
  covering that month or year: no fake day is padded in;
* ``mcode`` adds, on top of US Core: confirmed cancers as primary or secondary cancer Conditions (the
  secondary linked to its primary by the extension fhirconv already writes), their Patient as
  CancerPatient, tumour-marker labs as TumorMarkerTest, the stage groups the text gives as
  CancerStage, or TNMStageGroup with the TNM categories the text gives as its members (the builder
  writes stages only for this profile), a surgery or biopsy at a primary
  cancer's own site (same side) as CancerRelatedSurgicalProcedure with that cancer as its reason, the
  histology a cancer's name gives (infiltrating duct carcinoma, adenocarcinoma ...) as its
  histology-morphology-behavior extension,
  and the one-patient collection Bundle.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .build import Built
from .mappings import Mappings

PROFILES = ("none", "us-core", "mcode")


@dataclass
class Conformed:
    """What the stage did: notes for the report, and the profile the Bundle itself claims (if any)."""

    notes: list[str] = field(default_factory=list)
    bundle_profile: str | None = None


def conform(built: Built, profile: str, mappings: Mappings) -> Conformed:
    """Make ``built.resources`` claim and meet ``profile`` (in place), by ``mappings/profiles.yaml``."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    out = Conformed()
    if profile == "none":
        return out
    rules = mappings.rule("profiles") or {}
    _UsCore(rules["us-core"], out).apply(built)
    if profile == "mcode":
        _Mcode(rules["mcode"], out, mappings).apply(built)
    return out


def _claim(res: dict[str, Any], url: str) -> None:
    """Set ``meta.profile`` (after ``id``, where FHIR JSON puts it), replacing an earlier claim."""
    items = [(k, v) for k, v in res.items() if k != "meta"]
    res.clear()
    for k, v in items:
        res[k] = v
        if k == "id":
            res["meta"] = {"profile": [url]}


def _claims(res: dict[str, Any]) -> list[str]:
    meta = res.get("meta")
    return list(meta.get("profile", [])) if isinstance(meta, dict) else []


def _put_after(res: dict[str, Any], after: str, key: str, value: Any) -> None:
    items = list(res.items())
    res.clear()
    placed = False
    for k, v in items:
        res[k] = v
        if k == after:
            res[key], placed = value, True
    if not placed:
        res[key] = value


def _period(date: str) -> dict[str, str] | None:
    """The days a month- or year-only date covers (``2019-03`` → 1 to 31 March 2019)."""
    parts = date.split("-")
    if len(parts) == 1 and len(date) == 4 and date.isdigit():
        return {"start": f"{date}-01-01", "end": f"{date}-12-31"}
    if len(parts) == 2 and all(p.isdigit() for p in parts) and 1 <= int(parts[1]) <= 12:
        last = calendar.monthrange(int(parts[0]), int(parts[1]))[1]
        return {"start": f"{date}-01", "end": f"{date}-{last:02d}"}
    return None


def _category_code(res: dict[str, Any]) -> str | None:
    for cc in res.get("category") or []:
        for coding in cc.get("coding") or []:
            if coding.get("code"):
                return str(coding["code"])
    return None


class _Guide:
    """One guide's rules (``profiles.yaml``) and where its notes go."""

    def __init__(self, rules: dict[str, Any], out: Conformed) -> None:
        self.rules, self.out = rules, out

    def url(self, name: str) -> str:
        return f"{self.rules['base']}{name}"


class _UsCore(_Guide):
    def __init__(self, rules: dict[str, Any], out: Conformed) -> None:
        super().__init__(rules, out)
        self._unclaimed: Counter[tuple[str, str]] = Counter()

    def _absent(self) -> dict[str, Any]:
        """A primitive's data-absent-reason extension (a new object each time: resources share nothing)."""
        return {"extension": [{"url": self.rules["absent"]["url"], "valueCode": self.rules["absent"]["code"]}]}

    def apply(self, built: Built) -> None:
        for res in built.resources:
            rtype = res["resourceType"]
            handler = getattr(self, f"_{rtype.lower()}", None)
            why = self.rules["unclaimed"].get(rtype)
            if handler is None or why is not None:
                self._unclaimed[(rtype, why or "no US Core profile is applied to it")] += 1
                continue
            handler(res)
        for (rtype, why), n in sorted(self._unclaimed.items()):
            self.out.notes.append(f"us-core: {n} {rtype} not claimed ({why})")

    def _patient(self, res: dict[str, Any]) -> None:
        if not res.get("name"):
            _put_after(res, "identifier", "name", [self._absent()])
        if not res.get("gender"):
            _put_after(res, "name", "gender", self.rules["unknown_gender"])
        _claim(res, self.url(self.rules["patient"]))

    def _condition(self, res: dict[str, Any]) -> None:
        res["category"] = [{"coding": [dict(self.rules["condition_category"])]}]
        _claim(res, self.url(self.rules["condition"]))

    def _observation(self, res: dict[str, Any]) -> None:
        name = self.rules["observation"].get(_category_code(res) or "")
        if name is None:
            self._unclaimed[("Observation", f"category {_category_code(res)} has no US Core profile here")] += 1
            return
        if not any(k.startswith("value") for k in res) and not any(
                k in res for k in ("dataAbsentReason", "component", "hasMember")):
            self._unclaimed[("Observation", "no value (us-core-2)")] += 1
            return
        date = res.get("effectiveDateTime")
        if isinstance(date, str) and len(date) < 10:
            period = _period(date)
            if period is None:
                self._unclaimed[("Observation", "a date US Core cannot take")] += 1
                return
            _put_after(res, "effectiveDateTime", "effectivePeriod", period)
            del res["effectiveDateTime"]
        _claim(res, self.url(name))

    def _diagnosticreport(self, res: dict[str, Any]) -> None:
        name = self.rules["diagnostic_report"].get(_category_code(res) or "")
        if name is None:
            self._unclaimed[("DiagnosticReport", f"category {_category_code(res)} has no US Core profile")] += 1
            return
        if not any(k.startswith("effective") for k in res):        # us-core-8 / us-core-10
            _put_after(res, "subject", "_effectiveDateTime", self._absent())
        if name.endswith("-lab") and "issued" not in res:         # us-core-9
            _put_after(res, "_effectiveDateTime" if "_effectiveDateTime" in res else "subject", "_issued",
                       self._absent())
        _claim(res, self.url(name))

    def _procedure(self, res: dict[str, Any]) -> None:
        if res.get("status") in ("completed", "in-progress") and not any(k.startswith("performed") for k in res):
            _put_after(res, "subject", "_performedDateTime", self._absent())      # us-core-7
        _claim(res, self.url(self.rules["procedure"]))

    def _provenance(self, res: dict[str, Any]) -> None:
        _claim(res, self.url(self.rules["provenance"]))

    def _documentreference(self, res: dict[str, Any]) -> None:
        """The source document: claimed where it describes one patient (the profile's one ``subject``),
        with the clinical-note category and the value set's "unknown" type beside the text's own name."""
        if "subject" not in res:
            self._unclaimed[("DocumentReference", "it describes no single patient; the profile takes one subject")] += 1
            return
        kind = dict(res.get("type") or {})
        res["type"] = {"coding": [dict(self.rules["document_type"])], **kind}
        _put_after(res, "type", "category", [{"coding": [dict(self.rules["document_category"])]}])
        _claim(res, self.url(self.rules["document_reference"]))


class _Mcode(_Guide):
    def __init__(self, rules: dict[str, Any], out: Conformed, mappings: Mappings) -> None:
        super().__init__(rules, out)
        self.maps = mappings

    def apply(self, built: Built) -> None:
        cancer_patients: set[str] = set()
        for res in built.resources:
            tags = built.tags.get(res["id"], {})
            if res["resourceType"] == "Condition":
                kind = self._cancer(res, tags)
                if kind:
                    self._histology(res, tags.get("morphology", ""))
                    _claim(res, self.url(self.rules[kind]))
                    cancer_patients.add(res["subject"]["reference"])
            elif res["resourceType"] == "Observation" and tags.get("kind") == "stage" and "meta" in res:
                tnm = "method" in res and "focus" in res                # its focus: the primary cancer
                _claim(res, self.url(self.rules["tnm_stage_group" if tnm else "cancer_stage"]))
            elif res["resourceType"] == "Observation" and tags.get("kind") == "tnm" and "meta" in res:
                _claim(res, self.url(self.rules["tnm_categories"][tags["category"]]))
            elif res["resourceType"] == "Observation" and tags.get("analyte") in self.rules["tumor_marker_analytes"] \
                    and "meta" in res and any(k in res for k in self.rules["tumor_marker_values"]):
                _claim(res, self.url(self.rules["tumor_marker"]))
        primaries = [r for r in built.resources if _claims(r) == [self.url(self.rules["primary_cancer"])]]
        for res in built.resources:
            if res["resourceType"] == "Procedure" and "meta" in res:
                target = self._operated_cancer(res, built.tags, primaries)
                if target is not None:
                    _put_after(res, "subject", "reasonReference", [{"reference": f"urn:uuid:{target['id']}"}])
                    _claim(res, self.url(self.rules["surgical_procedure"]))
        patients = [r for r in built.resources if r["resourceType"] == "Patient"]
        for res in patients:
            if f"urn:uuid:{res['id']}" in cancer_patients:
                _claim(res, self.url(self.rules["cancer_patient"]))
        if len(patients) == 1 and f"urn:uuid:{patients[0]['id']}" in cancer_patients:
            self.out.bundle_profile = self.url(self.rules["bundle"])
        for rtype, why in sorted(self.rules["unclaimed"].items()):
            if any(r["resourceType"] == rtype for r in built.resources):
                self.out.notes.append(f"mcode: {rtype} {why}")
        if not cancer_patients:
            self.out.notes.append("mcode: no confirmed cancer, so no mCODE profile beyond US Core")

    def _histology(self, cond: dict[str, Any], key: str) -> None:
        """The histology the diagnosis names (its concept's ``morphology``, mappings/morphologies.tsv) as
        mCODE's histology-morphology-behavior extension; none when the name gives no confirmed one."""
        morphology = self.maps.get(key) if key else None
        if morphology is None or not morphology.coded:
            return
        ext = {"url": self.rules["histology_extension"], "valueCodeableConcept": {
            "coding": [{"system": morphology.system, "code": morphology.code, "display": morphology.display}],
            "text": morphology.display}}
        cond["extension"] = [ext, *cond.get("extension", [])]

    def _operated_cancer(self, proc: dict[str, Any], tags: dict[str, dict[str, str]],
                         primaries: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The primary cancer a surgical procedure or biopsy was done on: the one of its patient at the
        procedure's own site, on the same side where both sides are known; else None (not linked)."""
        own = tags.get(proc["id"], {})
        if own.get("kind") not in self.rules["surgical_kinds"] or not own.get("site"):
            return None
        for cond in primaries:
            t = tags.get(cond["id"], {})
            if cond["subject"] != proc["subject"] or t.get("site") != own["site"]:
                continue
            if t.get("laterality") and own.get("laterality") and t["laterality"] != own["laterality"]:
                continue
            return cond
        return None

    def _cancer(self, res: dict[str, Any], tags: dict[str, str]) -> str | None:
        """primary_cancer / secondary_cancer for a confirmed cancer, else None."""
        status = res.get("verificationStatus", {}).get("coding", [{}])[0].get("code")
        if status != "confirmed":
            return None
        role, neoplasm = tags.get("role"), tags.get("neoplasm")
        if role in self.rules["secondary_roles"] or neoplasm in self.rules["secondary_neoplasms"]:
            return "secondary_cancer"
        if neoplasm in self.rules["primary_neoplasms"] or role == "primary":
            return "primary_cancer"
        return None
