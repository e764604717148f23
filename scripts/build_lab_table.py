#!/usr/bin/env python3
"""Build ``mappings/labs_loinc.tsv``: lab rows for every LOINC code of the shipped reference whose
display reads "Component [Property] in System (by Method)" with a property and a system that
``mappings/lab_names.yaml`` lists.

Why generated: the curated ``labs.tsv`` knows ~180 tests; the shipped LOINC reference
(``src/fhirconv/validate/data/terminology/loinc.tsv.gz``, itself built from the reference lists)
holds many more whose names texts use ("troponin I", "BNP", "CSF protein"). Each row names its
test by the component ("Troponin I.cardiac" → "troponin I cardiac", "cardiac troponin I") plus
the forms listed in ``lab_names.yaml``, records its sample (blood, CSF, pleural fluid …), its
units and its value kind. A test, property and sample that ``labs.tsv`` already has stays with that
curated row, whose analyte name the generated rows of the same test share. The output is
deterministic: the same inputs give a byte-identical file.

    python scripts/build_lab_table.py [--mappings DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOINC = ROOT / "src" / "fhirconv" / "validate" / "data" / "terminology" / "loinc.tsv.gz"
COLUMNS = ("key", "system", "code", "display", "terms", "attrs", "source")
_DISPLAY = re.compile(r"^(?P<component>[^\[\]]+?) \[(?P<property>[^\]]+)\] in (?P<system>.+?)(?: by (?P<method>.+))?$")


def component_names(component: str) -> list[str]:
    """Forms of a LOINC component as texts write it: "Troponin I.cardiac" → "troponin I cardiac",
    "cardiac troponin I"; "Bilirubin.total" → "bilirubin total", "total bilirubin"."""
    if re.search(r"[\^/&+]|\bAb\b|\bAg\b|\bDNA\b|\bRNA\b", component) and "/1.73" not in component:
        return []          # antibodies, antigens, ratios: too varied to name from the component alone
    parts = [p.strip() for p in component.split(".") if p.strip()]
    if not parts or "/" in component:
        return []
    head, *quals = parts
    out = [" ".join(parts)]
    if len(quals) == 1 and len(quals[0].split()) == 1:
        out.append(f"{quals[0]} {head}")
    # lower case: matched whatever the text's case (a form in capitals would match only in capitals)
    return [o.lower() for o in out]


def read_loinc(path: Path) -> list[tuple[str, str]]:
    """(code, first display of the "Component [Property] in System" form) of the shipped reference."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            code, *displays = line.rstrip("\n").split("\t")
            parsed = next((d for d in displays if _DISPLAY.match(d)), None)
            if parsed:
                rows.append((code, parsed))
    return rows


def curated(mappings: Path, displays: dict[str, str], systems: dict[str, str]
            ) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    """The (component, property, sample) slots ``labs.tsv`` already fills, and the analyte name it
    gives each component: a generated row of the same test on another sample shares it, so the
    extractor can move between them."""
    slots: set[tuple[str, str, str]] = set()
    analytes: dict[str, str] = {}
    with (mappings / "labs.tsv").open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) < 6 or row[1] != "loinc":
                continue
            m = _DISPLAY.match(displays.get(row[2], ""))
            if not m:
                continue
            slots.add((m.group("component"), m.group("property"), systems.get(m.group("system"), "")))
            analyte = re.search(r"(?:^|;)analyte=([^;]+)", row[5])
            if analyte:
                analytes.setdefault(m.group("component"), analyte.group(1))
    return slots, analytes


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def build(mappings: Path) -> str:
    spec = yaml.safe_load((mappings / "lab_names.yaml").read_text(encoding="utf-8"))
    props, systems = spec["properties"], spec["systems"]
    general = set(spec.get("general_methods", []))
    names: dict[str, list[str]] = spec.get("names", {})
    loinc = read_loinc(LOINC)
    taken, analytes = curated(mappings, dict(loinc), systems)
    # (component, property, sample) → candidates (has a method other than a general one, code, display)
    chosen: dict[tuple[str, str, str], tuple[bool, str, str]] = {}
    for code, display in loinc:
        m = _DISPLAY.match(display)
        assert m is not None
        comp, prop, system, method = m.group("component"), m.group("property"), m.group("system"), m.group("method")
        if prop not in props or system not in systems:
            continue
        slot = (comp, prop, systems[system])
        if slot in taken:
            continue
        cand = (bool(method) and method not in general, code, display)
        if slot not in chosen or cand < chosen[slot]:
            chosen[slot] = cand
    out = io.StringIO()
    w = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    w.writerow(COLUMNS)
    w.writerow(["# generated by scripts/build_lab_table.py from the shipped LOINC reference and "
                "mappings/lab_names.yaml; do not edit"])
    for (comp, prop, sample), (_, code, display) in sorted(chosen.items(), key=lambda kv: kv[1][1]):
        terms = list(dict.fromkeys(names.get(comp, []) + component_names(comp)))
        if not terms:
            continue
        p = props[prop]
        attrs = [f"analyte={analytes.get(comp) or slug(comp)}", f"sample={sample}", f"value={p['value']}"]
        if p["value"] == "quantity":
            attrs += [f"units={','.join(p['units'])}", f"unit={p['units'][0]}"]
        attrs.append("generated=1")
        w.writerow([f"lab.loinc_{code.replace('-', '_')}", "loinc", code, display, "|".join(terms),
                    ";".join(attrs), "LOINC ref: shipped reference (generated)"])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mappings", type=Path, default=ROOT / "mappings")
    ap.add_argument("--out", type=Path, default=None, help="default: MAPPINGS/labs_loinc.tsv")
    args = ap.parse_args(argv)
    text = build(args.mappings)
    out = args.out or args.mappings / "labs_loinc.tsv"
    out.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {out}: {text.count(chr(10)) - 2} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
