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
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "fhirconv" / "validate" / "data" / "profiles.json.gz"
PACKAGES = ["hl7.fhir.us.mcode@4.0.0", "hl7.fhir.uv.ips@2.0.0"]
BASE = "http://hl7.org/fhir/StructureDefinition/"


def _unpack(spec: str, into: Path) -> Path:
    subprocess.run(["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True)
    tgz = next(into.glob(spec.split("@")[0] + "-*.tgz"))
    target = into / spec.split("@")[0]
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
    if e["path"].endswith("[x]") and types:
        out["types"] = types
    profiles = [p for t in e.get("type", []) for p in t.get("profile", [])]
    if profiles:
        out["profiles"] = profiles
    if e.get("mustSupport"):
        out["mustSupport"] = True
    if "slicing" in e:
        out["slicing"] = {"discriminator": e["slicing"].get("discriminator", []),
                          "rules": e["slicing"].get("rules", "open")}
    if "sliceName" in e:
        out["sliceName"] = e["sliceName"]
    return out


def _constraints(sd: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for e in sd["snapshot"]["element"]:
        for c in e.get("constraint", []):
            source = c.get("source", "")
            if source.startswith(BASE) or "expression" not in c or c["key"] == "ele-1":
                continue                # the base resource's own: the invariant layer checks those
            out.append({"id": e["id"], "path": e["path"], "key": c["key"], "severity": c.get("severity", "error"),
                        "human": c.get("human", ""), "expression": c["expression"]})
    return out


def build(package_dirs: list[Path]) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    sources = []
    for folder in package_dirs:
        meta = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        sources.append(f"{meta['name']}@{meta['version']}")
        for path in sorted(folder.glob("StructureDefinition-*.json")):
            sd = json.loads(path.read_text(encoding="utf-8"))
            if sd.get("kind") != "resource" or sd.get("derivation") != "constraint" or "snapshot" not in sd:
                continue
            profiles[sd["url"]] = {"name": sd["name"], "version": sd.get("version", ""), "type": sd["type"],
                                   "base": sd.get("baseDefinition", ""),
                                   "elements": [_element(e) for e in sd["snapshot"]["element"]],
                                   "constraints": _constraints(sd)}
    return {"sources": sources, "profiles": dict(sorted(profiles.items()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=Path, help="folder holding <name>/package for each pinned package")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.packages:
            dirs = [args.packages / spec.split("@")[0] / "package" for spec in PACKAGES]
        else:
            dirs = [_unpack(spec, Path(tmp)) for spec in PACKAGES]
        data = build(dirs)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    OUT.write_bytes(gzip.compress(raw, mtime=0))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(data['profiles'])} profiles from {', '.join(data['sources'])}, "
          f"{OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
