"""Extraction on a corpus of real case reports nobody tuned for: the Ada Health medical case report
corpus (53 PubMed Central case reports, full text as scraped from the web pages, one line each, with
menus, references and author lists; annotated with conditions, findings and negation modifiers).

    python benchmarks/casereport_corpus.py --pickle CaseReportCorpus.pickle [--json OUT.json] [-v]

The corpus is not shipped: it is the file ``corpus/CaseReportCorpus.pickle`` of the public GitHub
repository adahealth/medical_case_report_corpus (Creative Commons; see its README). It is a pickle of
BioC objects; it is read with an unpickler that builds plain attribute holders and refuses every
other class, so the file cannot run code.

Its annotations carry no codes, so the figures are proxies, by text span:
  patients      documents whose Patient count equals the annotated "case" count
  conditions    annotated conditions (distinct texts per document) that some emitted Condition or
                Observation overlaps, at the annotated place or any other place the same words stand
  findings      the same for annotated findings (a broad class: signs, tests, anatomy, values)
  unannotated   share of emitted Conditions/Observations overlapping no annotation at all (an
                upper bound of false positives: the corpus leaves many true facts unannotated)
  assertions    emitted present facts overlapping a finding that a negation modifier modifies
  wrapped       the same texts hard-wrapped at 88 columns, hyphenated and with page headers (as a
                PDF extraction gives them): share of emitted (type, code, status) kept
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import re
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fhirconv import convert_text  # noqa: E402

NEGATION = re.compile(r"\b(?:no|not|negative|without|denied|denies|nor|absent|non-reactive|ruled out|free of|none)\b",
                      re.I)


class _Holder:
    """A BioC object, as a bag of attributes."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {"_state": state})


class _SafeUnpickler(pickle.Unpickler):
    _classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "uuid" and name == "UUID":
            return uuid.UUID
        if module.startswith("src.util.bioc."):
            return self._classes.setdefault(name, type(name, (_Holder,), {}))
        raise pickle.UnpicklingError(f"refused class {module}.{name}")


def load(path: Path) -> list[dict[str, Any]]:
    """The documents: text, annotations (type, text, spans) and relations."""
    with path.open("rb") as fh:
        coll = _SafeUnpickler(fh).load()
    docs = []
    for d in coll.documents:
        p = d.passages[0]
        anns = []
        for a in p.annotations:
            locs = a.locations if isinstance(a.locations, list) else [a.locations]
            anns.append({"id": a.id, "type": a.infons.get("entityType"), "text": a.text,
                         "spans": [(loc.offset, loc.offset + loc.length) for loc in locs]})
        rels = [(r.infons.get("type"), {n.role: n.refid for n in r.nodes}) for r in p.relations]
        docs.append({"text": p.text, "ann": anns, "rel": rels})
    return docs


def _facts(bundle: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for e in (bundle or {}).get("entry", []):
        r = e["resource"]
        if r["resourceType"] not in ("Condition", "Observation"):
            continue
        span = next((x for x in r.get("extension", []) if x["url"].endswith("source-span")), None)
        if span is None:
            continue
        pos = {s["url"]: s.get("valueInteger") for s in span["extension"]}
        status = (r.get("verificationStatus") or {}).get("coding", [{}])[0].get("code")
        value = json.dumps(r.get("valueCodeableConcept", {}))
        negative = status == "refuted" or "260385009" in value or "2667000" in value or r.get("valueBoolean") is False
        uncertain = status in ("differential", "provisional", "unconfirmed")
        out.append({"start": pos["start"], "end": pos["end"], "present": not negative and not uncertain})
    return out


def _signature(bundle: dict[str, Any] | None) -> set[tuple[str, str, str]]:
    sig = set()
    for e in (bundle or {}).get("entry", []):
        r = e["resource"]
        if r["resourceType"] in ("Condition", "Observation", "Procedure", "ImagingStudy", "MedicationStatement"):
            code = ((r.get("code") or {}).get("coding") or [{}])[0].get("code") or r["resourceType"]
            status = (r.get("verificationStatus") or {}).get("coding", [{}])[0].get("code", "")
            sig.add((r["resourceType"], code, status))
        elif r["resourceType"] == "Patient":
            sig.add(("Patient", r.get("gender", ""), ""))
    return sig


def wrap_like_a_pdf(text: str, seed: int) -> str:
    """Hard-wrapped lines, words hyphenated across lines, a page number and a running head every 55 lines."""
    rnd = random.Random(seed)
    lines: list[str] = []
    cur = ""
    for w in (w for w in text.split(" ") if w):
        if len(cur) + len(w) + 1 > 88:
            if len(w) > 8 and w.isalpha() and rnd.random() < 0.3:
                k = len(w) // 2
                lines.append(f"{cur} {w[:k]}-".strip())
                cur = w[k:]
                continue
            lines.append(cur.strip())
            cur = w
        else:
            cur = f"{cur} {w}"
    lines.append(cur.strip())
    out = []
    for n, line in enumerate(lines):
        out.append(line)
        if n % 55 == 54:
            out += ["", str(n // 55 + 1), "J Case Rep 2014;8:419-422", ""]
    return "\n".join(out) + "\n"


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(docs: list[dict[str, Any]], verbose: bool = False) -> dict[str, Any]:
    c = {k: 0 for k in ("documents", "patients_ok", "conditions", "conditions_hit", "findings", "findings_hit",
                        "emitted", "unannotated", "negated", "assertion_errors", "signature", "signature_kept")}
    for i, d in enumerate(docs):
        text, anns = d["text"], {a["id"]: a for a in d["ann"]}
        bundle = convert_text(text, name=f"doc{i:02d}", time_budget=None)
        facts = _facts(bundle)
        c["documents"] += 1
        cases = {r["Governor"] for t, r in d["rel"] if t == "has" and "Governor" in r} - set(anns)
        patients = sum(e["resource"]["resourceType"] == "Patient" for e in (bundle or {}).get("entry", []))
        c["patients_ok"] += patients == len(cases)
        negated = {r["Dependent"] for t, r in d["rel"] if t == "modifies" and r.get("Governor") in anns
                   and NEGATION.search(anns[r["Governor"]]["text"])}
        c["negated"] += len(negated)
        low = text.lower()
        seen: set[tuple[str, str]] = set()
        for a in anns.values():
            if a["type"] not in ("condition", "finding"):
                continue
            key = (a["type"], a["text"].lower().strip(" .,"))
            if key in seen or len(key[1]) < 3:
                continue
            seen.add(key)
            places = list(a["spans"]) + [(m.start(), m.end()) for m in re.finditer(re.escape(key[1]), low)]
            hit = any(_overlaps(p, (f["start"], f["end"])) for p in places for f in facts)
            kind = "conditions" if a["type"] == "condition" else "findings"
            c[kind] += 1
            c[kind + "_hit"] += hit
            if verbose and not hit and a["type"] == "condition":
                print(f"missed condition, doc {i}: {a['text']}")
        for f in facts:
            inside = [k for k, a in anns.items() if any(_overlaps(s, (f["start"], f["end"])) for s in a["spans"])]
            c["emitted"] += 1
            if not inside:
                c["unannotated"] += 1
            elif f["present"] and any(k in negated for k in inside):
                c["assertion_errors"] += 1
                if verbose:
                    print(f"asserted a negated finding, doc {i}: {text[f['start']:f['end']]}")
        flat = _signature(bundle)
        wrapped = _signature(convert_text(wrap_like_a_pdf(text, i), name=f"doc{i:02d}", time_budget=None))
        c["signature"] += len(flat)
        c["signature_kept"] += len(flat & wrapped)
    return {
        "documents": c["documents"],
        "patient_count_accuracy": round(c["patients_ok"] / c["documents"], 3),
        "condition_recall": round(c["conditions_hit"] / max(1, c["conditions"]), 3),
        "finding_recall": round(c["findings_hit"] / max(1, c["findings"]), 3),
        "unannotated_share": round(c["unannotated"] / max(1, c["emitted"]), 3),
        "emitted": c["emitted"],
        "assertion_errors": c["assertion_errors"],
        "negated_findings": c["negated"],
        "wrapped_kept": round(c["signature_kept"] / max(1, c["signature"]), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pickle", type=Path, required=True, help="corpus/CaseReportCorpus.pickle of the corpus")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("-v", "--verbose", action="store_true", help="list missed conditions and assertion errors")
    args = ap.parse_args(argv)
    if not args.pickle.is_file():
        print(f"error: {args.pickle} not found (see this script's help for where the corpus is)", file=sys.stderr)
        return 2
    figures = score(load(args.pickle), args.verbose)
    for k, v in figures.items():
        print(f"{k:24} {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
