"""The wheel carries the default mappings and the validation data, so an installed fhirconv works anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_contains_mappings_and_definitions(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("fhirconv-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for table in (ROOT / "mappings").glob("*.tsv"):
        assert f"fhirconv/mappings/{table.name}" in names, table.name
    for rules in (ROOT / "mappings").glob("*.yaml"):
        assert f"fhirconv/mappings/{rules.name}" in names, rules.name
    assert "fhirconv/validate/data/fhir.schema.json.gz" in names
    assert "fhirconv/validate/data/terminology/snomed.tsv.gz" in names
    assert "fhirconv/validate/data/terminology/NOTICE.md" in names
    assert "fhirconv/data/lexicon.tsv.gz" in names
    assert "fhirconv/data/LEXICON-NOTICE.md" in names
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]


def test_push_and_version_start_without_the_converter():
    """`fhirconv push` and `fhirconv --version` import neither the extraction engine nor the pipeline."""
    import subprocess
    import sys

    probe = ("import sys\nfrom fhirconv.cli import main\nsys.argv = ['fhirconv', *ARGS]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('fhirconv.extract', 'fhirconv.pipeline', "
             "'fhirconv.build', 'fhirconv.mappings'))))")
    for args in (["push", "--help"], ["--version"]):
        r = subprocess.run([sys.executable, "-c", probe.replace("*ARGS", repr(args)[1:-1])], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1] == "[]", (args, r.stdout[-300:])
