"""fhirconv's verdicts against the HL7 validator's on HL7's own validator test cases.

    python benchmarks/hl7_cases.py --cases DIR [-v]

DIR is the ``validator/`` folder of a checkout of the FHIR/fhir-test-cases repository (its
``manifest.json``, the test files and ``outcomes/java/``). Scored: the R4 JSON cases that need no
set-up the offline validator cannot make (extra packages, supporting profiles, a logical model,
validator options); a case is INVALID for the HL7 validator when its recorded outcome has an error
or fatal issue, and for fhirconv when ``fhirconv.validate`` reports one. Prints INVALID precision and
recall; ``-v`` lists the disagreements. Without ``--cases`` it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# manifest keys that ask for a set-up (packages, profiles, options) the offline validator cannot make
SETUP = {"validateContains", "packages", "supporting", "profiles", "profile", "logical", "bundle-param",
         "questionnaire", "codesystems", "examples", "explanation-params", "crumb-trail", "ips",
         "security-checks", "for-publication", "assumeValidRestReferences", "allowed-extension-domain",
         "allowed-extension-domains", "no-tx", "best-practice", "valueset", "language", "check-ips-codes"}


def cases(root: Path) -> list[tuple[str, Path, Path]]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for t in manifest["test-cases"]:
        java = t.get("java")
        java = java.get("outcome") if isinstance(java, dict) else java
        if (t.get("version") not in ("4.0", "4.0.1") or not str(t.get("file", "")).endswith(".json")
                or t.get("use-test") is False or set(t) & SETUP or not isinstance(java, str)):
            continue
        source, outcome = root / t["file"], root / "outcomes" / java
        if source.is_file() and outcome.is_file():
            out.append((t["name"], source, outcome))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=Path, help="the validator/ folder of a FHIR/fhir-test-cases checkout")
    ap.add_argument("-v", action="store_true", help="list the cases where the verdicts differ")
    args = ap.parse_args()
    if args.cases is None or not (args.cases / "manifest.json").is_file():
        print("no --cases folder with a manifest.json: nothing to score")
        return 0
    import fhirconv
    from fhirconv.model import Severity

    tp = fp = fn = tn = 0
    for name, source, outcome in cases(args.cases):
        try:
            data = json.loads(source.read_text(encoding="utf-8-sig"))
        except ValueError:
            continue                                  # not JSON: a parser test, not a validator one
        expected = any(i.get("severity") in ("error", "fatal")
                       for i in json.loads(outcome.read_text(encoding="utf-8")).get("issue", []))
        errors = [i for i in fhirconv.validate(data) if i.severity in (Severity.ERROR, Severity.FATAL)]
        ours = bool(errors)
        tp, fp, fn, tn = tp + (expected and ours), fp + (ours and not expected), \
            fn + (expected and not ours), tn + (not expected and not ours)
        if args.v and ours != expected:
            why = f"{errors[0].location}: {errors[0].message[:100]}" if errors else ""
            print(f"{'false INVALID' if ours else 'missed'}: {name} {why}", file=sys.stderr)
    total = tp + fp + fn + tn
    print(f"{total} R4 JSON cases ({tp + fn} INVALID for the HL7 validator): INVALID precision "
          f"{tp / max(1, tp + fp):.3f}, recall {tp / max(1, tp + fn):.3f} (TP {tp}, FP {fp}, FN {fn}, TN {tn})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
