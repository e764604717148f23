"""Cancer staging facts → Observations (written only for the mCODE profile; plain output has none yet).

A stage group is coded clinical / pathological / other (LOINC), its value coded for a whole group
(Stage 0-4) and kept as the text says it, the primary cancer its focus. A TNM expression gives one
Observation per category (T, N, M; clinical or pathological LOINC), each value as the text writes it
(no AJCC value code is confirmed), the staging system the sentence names as its method; a stage group
of a patient with TNM categories (or of a TNM system) is their TNM stage group, the categories its
members. The codes and rules are ``mappings/staging.yaml``.
"""

from __future__ import annotations

from typing import Any

from ._build_base import BuilderBase
from .model import Fact, PatientFacts


class StagingBuilder(BuilderBase):
    """Stage groups and TNM categories of one patient."""

    def _tnm_ids(self, h: str, p: PatientFacts) -> dict[int, list[tuple[str, str]]]:
        """Each TNM fact's category Observations, as (category, id), by the fact's position."""
        out: dict[int, list[tuple[str, str]]] = {}
        for i, f in enumerate(p.facts):
            if f.kind == "tnm":
                out[i] = [(cat, self._id(h, "Observation", f.patient, "tnm", cat, f.span.start, f.span.end))
                          for cat in ("t", "n", "m") if f.attr(cat)]
        return out

    def _method(self, f: Fact) -> dict[str, str]:
        return {"text": str(f.attr("method") or (self.staging.get("tnm") or {}).get("method_default", "TNM"))}

    def _tnm(self, f: Fact, ids: list[tuple[str, str]], subject: dict[str, str], doc_ref: str,
             primary_id: str) -> list[dict[str, Any]]:
        codes = (self.staging.get("tnm") or {}).get("codes", {})
        out = []
        for cat, rid in ids:
            concept = self._concept(codes.get(cat, {}).get(str(f.attr(f"{cat}_kind"))))
            said = str(f.attr(cat))
            out.append({
                "resourceType": "Observation", "id": rid,
                "text": self._narrative("Observation", code=concept.display if concept else "TNM category",
                                        value=said, date=""),
                "extension": self._span_ext(f, doc_ref),
                "status": "final", "category": [{"coding": [self.codings["obs_exam"]]}],
                "code": self._cc(concept, "TNM category"), "subject": subject,
                "focus": [{"reference": f"urn:uuid:{primary_id}"}],
                "valueCodeableConcept": {"text": said}, "method": self._method(f),
            })
        return out

    def _stage(self, f: Fact, h: str, subject: dict[str, str], doc_ref: str, primary_id: str | None,
               members: list[tuple[Fact, list[tuple[str, str]]]]) -> dict[str, Any]:
        """A stage group; with ``members`` (the patient's TNM facts and their Observations) or a TNM
        system named, and a primary cancer, also its method and members (a TNM stage group). A group
        the text calls neither clinical nor pathological is what its pathological T category makes it."""
        kind = str(f.attr("kind") or "")
        system = str(f.attr("system") or "")
        codes = self.staging.get("codes", {})
        tnm_systems = self.staging.get("tnm_systems", [])
        pathologic_tnm = not kind and members and members[0][0].attr("t_kind") == "pathologic"
        if kind.startswith("patholog") or kind == "surgical" or pathologic_tnm:
            key = codes.get("pathologic")
        elif system and system not in tnm_systems:
            key = codes.get("other")
        else:
            key = codes.get("clinical")
        concept = self._concept(key)
        said = f"{system + ' ' if system else ''}stage {f.attr('group')}{f.attr('sub') or ''}"
        value = None if f.attr("sub") else self._concept(self.staging.get("groups", {}).get(f.attr("group")))
        res: dict[str, Any] = {
            "resourceType": "Observation", "id": self._fact_id(h, "Observation", f),
            "text": self._narrative("Observation", code=concept.display if concept else "Cancer stage", value=said,
                                    date=""),
            "extension": self._span_ext(f, doc_ref),
            "status": "final", "category": [{"coding": [self.codings["obs_exam"]]}],
            "code": self._cc(concept, "Cancer stage group"), "subject": subject,
        }
        if primary_id is not None:
            res["focus"] = [{"reference": f"urn:uuid:{primary_id}"}]
        res["valueCodeableConcept"] = self._cc(value, said)
        tnm = (system in tnm_systems or f.attr("method") or members) and key != codes.get("other")
        if primary_id is not None and tnm:
            source = f if f.attr("method") or not members else members[0][0]
            res["method"] = self._method(source)
            if members:
                res["hasMember"] = [{"reference": f"urn:uuid:{rid}"} for _, ids in members for _, rid in ids]
        return res
