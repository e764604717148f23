"""The real command in subprocesses: convert, extract, validate, errors, help, README truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fhirconv
from conftest import ROOT, SEEDS, run_cli


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"fhirconv {fhirconv.__version__}"


def test_help_lists_every_command():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("convert", "extract", "validate"):
        assert re.search(rf"\b{cmd}\b", r.stdout), cmd
    for cmd in ("convert", "extract", "validate"):
        sub = run_cli(cmd, "--help")
        assert sub.returncode == 0 and "Usage" in sub.stdout


def test_convert_seeds(tmp_path):
    r = run_cli("convert", str(SEEDS), "--out", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    docs = {Path(d["name"]).stem: d for d in summary["documents"]}
    assert len(docs) == 5
    # the cohort abstract and the Q&A review describe no individual patient
    assert docs["001_bc602c236d413e6e"]["kind"] == "cohort" and docs["001_bc602c236d413e6e"]["patients"] == 0
    assert docs["002_4b02cfec3163ddc0"]["kind"] == "review" and docs["002_4b02cfec3163ddc0"]["output"] is None
    written = sorted(p.name for p in tmp_path.glob("*.json") if p.name != "summary.json")
    assert written == ["000_765caaade25ab21c.json", "003_a0ae747061559f00.json", "004_dda44f8077a34663.json"]
    for name in written:
        issues = fhirconv.validate(json.loads((tmp_path / name).read_text()))
        assert not [i for i in issues if i.severity.value in ("error", "fatal")], name


def test_bad_inputs_are_reported_and_the_rest_converted(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "good.txt").write_text("A 30-year-old man presented with fever and headache.", encoding="utf-8")
    (inputs / "empty.txt").write_text("", encoding="utf-8")
    (inputs / "binary.txt").write_bytes(b"%PDF-1.7\x00\x01\x02\x00binary")
    out = tmp_path / "out"
    r = run_cli("convert", str(inputs), str(tmp_path / "missing.txt"), "--out", str(out))
    assert r.returncode == 1
    assert (out / "good.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    by_name = {Path(d["name"]).name: d for d in summary["documents"]}
    assert set(by_name) == {"good.txt", "empty.txt", "binary.txt", "missing.txt"}
    for bad in ("empty.txt", "binary.txt", "missing.txt"):
        assert by_name[bad]["errors"], bad
        assert "\n" not in by_name[bad]["errors"][0]
    assert summary["totals"]["failed"] == 3 and summary["totals"]["converted"] == 1
    assert "missing.txt" in r.stderr


def test_stdin_and_collection_and_ndjson(tmp_path):
    text = b"A 61-year-old woman had pneumonia. Chest CT showed consolidation."
    r = run_cli("convert", "-", "--out", str(tmp_path), "--type", "collection", "--ndjson", stdin=text)
    assert r.returncode == 0, r.stderr
    bundle = json.loads((tmp_path / "stdin.json").read_text())
    assert bundle["type"] == "collection"
    patients = (tmp_path / "ndjson" / "Patient.ndjson").read_text().splitlines()
    assert len(patients) == 1 and json.loads(patients[0])["resourceType"] == "Patient"


def test_extract_json_shows_spans_and_assertions(tmp_path):
    src = tmp_path / "case.txt"
    text = "A 44-year-old man had no fever. Pneumonia was suspected."
    src.write_text(text, encoding="utf-8")
    r = run_cli("extract", str(src), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    facts = data["patients"][0]["facts"]
    fever = next(f for f in facts if f["concept"] == "finding.fever")
    assert fever["assertion"] == "negated" and fever["source"] == "fever"
    assert text[fever["span"]["start"]:fever["span"]["end"]] == "fever"
    table = run_cli("extract", str(src))
    assert table.returncode == 0 and "negated" in table.stdout


def test_validate_reports_errors_with_locations(tmp_path):
    bad = {"resourceType": "Condition", "clinicalStatus": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "done"}]},
        "subject": {"reference": "Patient/x"}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    r = run_cli("validate", str(path), "--json")
    assert r.returncode == 1
    outcome = json.loads(r.stdout)
    assert outcome["resourceType"] == "OperationOutcome" and outcome["extension"][0]["valueString"] == str(path)
    assert any(i["severity"] == "error" and "clinicalStatus" in i["expression"][0] for i in outcome["issue"])
    assert all(i["extension"][0]["valueCode"] for i in outcome["issue"])        # the layer that found it
    assert not [i for i in fhirconv.validate(outcome) if i.severity.value in ("error", "fatal")]
    missing = run_cli("validate", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "not found" in missing.stdout


def test_malformed_mappings_overlay_is_a_clear_error(tmp_path):
    (tmp_path / "extra.tsv").write_text("key\tsystem\tcode\tdisplay\tterms\tattrs\tsource\n"
                                        "finding.x\tsnowmed\t123\tX\tx\t\t\n", encoding="utf-8")
    src = tmp_path / "a.txt"
    src.write_text("A 30-year-old man.", encoding="utf-8")
    r = run_cli("convert", str(src), "--out", str(tmp_path / "o"), "--mappings", str(tmp_path))
    assert r.returncode == 2
    assert "extra.tsv:2" in r.stderr and "unknown system" in r.stderr


def test_readme_quickstart_is_true():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines() if line.strip()]
    assert commands == ["make seeds", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^seeds:.*\n\t.*fhirconv convert seeds", makefile, re.M)
    assert re.search(r"^test:.*\n(?:\t.*\n)*\t.*pytest", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_two_runs_write_byte_identical_files(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        r = run_cli("convert", str(SEEDS), "--out", str(out), "-q", "--ndjson")
        assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file() and p.name != "summary.json")
    assert len(files) >= 3
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_mappings_check_and_lookup(tmp_path):
    ok = run_cli("mappings", "check")
    assert ok.returncode == 0 and "0 problem(s)" in ok.stdout
    (tmp_path / "bad.tsv").write_text("key\tsystem\tcode\tdisplay\tterms\tattrs\tsource\n"
                                      "finding.z\tsct\t129766003\tZ\tzz\tcolour=red\t\n", encoding="utf-8")
    bad = run_cli("mappings", "check", str(tmp_path))
    assert bad.returncode == 1
    assert "bad.tsv:2" in bad.stdout and "Verhoeff" in bad.stdout and "unknown attribute 'colour'" in bad.stdout
    look = run_cli("mappings", "lookup", "carcinoma metastatic to both breasts; Arimidex", env={"COLUMNS": "200"})
    assert look.returncode == 0
    assert "386910003" in look.stdout  # the brand name maps to the substance anastrozole


def test_two_inputs_with_one_stem_give_two_bundles(tmp_path):
    for folder, text in (("a", "A 40-year-old man had fever."), ("b", "A 50-year-old woman had a cough.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "case.txt").write_text(text, encoding="utf-8")
    (tmp_path / "a" / "case.enw").write_text("%0 Journal Article\n%T Cough\n%X A 60-year-old man had a cough.\n",
                                             encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("convert", str(tmp_path / "a" / "case.txt"), str(tmp_path / "b" / "case.txt"),
                str(tmp_path / "a" / "case.enw"), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    outputs = [d["output"] for d in json.loads(r.stdout)["documents"]]
    assert len(set(outputs)) == 3 and all(Path(o).is_file() for o in outputs)
    ages = sorted(e["resource"]["valueQuantity"]["value"] for o in outputs
                  for e in json.loads(Path(o).read_text())["entry"]
                  if e["resource"]["resourceType"] == "Observation"
                  and e["resource"]["code"]["coding"][0]["code"] == "30525-0")
    assert ages == [40, 50, 60]                       # nothing overwritten
    assert not list(out.glob(".*.tmp"))               # written by rename: no temporary left


def test_validate_reads_what_convert_writes_and_more(tmp_path):
    out = tmp_path / "out"
    assert run_cli("convert", str(SEEDS), "--out", str(out), "--ndjson", "-q").returncode == 0
    bundle = (out / "004_dda44f8077a34663.json").read_text(encoding="utf-8")
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + bundle.encode("utf-8"))       # a UTF-8 BOM
    r = run_cli("validate", str(out), str(tmp_path / "bom.json"), "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    found = json.loads(r.stdout)
    assert found["resourceType"] == "Bundle" and found["type"] == "collection"
    assert not [i for i in fhirconv.validate(found) if i.severity.value in ("error", "fatal")]
    names = [e["resource"]["extension"][0]["valueString"] for e in found["entry"]]
    assert not any(n.endswith("summary.json") for n in names)                 # convert's summary is no resource
    assert any(".ndjson:" in n for n in names) and str(tmp_path / "bom.json") in names
    stdin = run_cli("validate", "-", "--json", stdin=bundle.encode("utf-8"))
    one = json.loads(stdin.stdout)
    assert stdin.returncode == 0 and one["resourceType"] == "OperationOutcome"
    assert one["extension"][0]["valueString"] == "<stdin>"


def test_validate_reports_foreign_junk_without_a_traceback():
    for junk in ('{"resourceType": ""}', "[" * 2000 + "]" * 2000, "not json at all"):
        r = run_cli("validate", "-", stdin=junk.encode())
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-500:]
        assert "INVALID" in r.stdout


def test_a_document_over_the_limit_is_reported_and_the_others_convert(tmp_path):
    (tmp_path / "a_big.txt").write_text("A 40-year-old man had fever. " * 200, encoding="utf-8")
    (tmp_path / "b_small.txt").write_text("A 50-year-old woman had a cough.", encoding="utf-8")
    r = run_cli("convert", str(tmp_path), "--out", str(tmp_path / "out"), "--max-chars", "1000", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    docs = {Path(d["name"]).name: d for d in json.loads(r.stdout)["documents"]}
    assert "over the limit of 1,000 characters" in docs["a_big.txt"]["errors"][0]
    assert docs["b_small.txt"]["output"] and not docs["b_small.txt"]["errors"]


def test_out_on_a_file_and_a_cp1252_overlay_are_clear_errors(tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    r = run_cli("convert", str(SEEDS), "--out", str(tmp_path / "afile"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a folder" in r.stderr
    overlay = tmp_path / "terms"
    overlay.mkdir()
    (overlay / "findings.tsv").write_bytes(b"key\tsystem\tcode\tdisplay\tterms\tattrs\tsource\n"
                                           b"finding.cafe\t\t\tcaf\xe9\tcaf\xe9 au lait\t\ttext only\n")
    check = run_cli("mappings", "check", str(overlay))
    assert check.returncode == 1 and "findings.tsv:2: not UTF-8" in check.stdout and "Traceback" not in check.stderr
    conv = run_cli("convert", str(SEEDS), "--out", str(tmp_path / "out"), "--mappings", str(overlay))
    assert conv.returncode == 2 and "not UTF-8" in conv.stderr and "Traceback" not in conv.stderr


def _nested_extension(levels: int) -> dict:
    ext: dict = {"url": "urn:x", "valueString": "leaf"}
    for _ in range(levels):
        ext = {"url": "urn:x", "extension": [ext]}
    return ext


def test_push_of_a_deeply_nested_bundle_is_one_clear_error(tmp_path):
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Patient", "id": "deep-1",
                                      "extension": [_nested_extension(300)]}}]}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    r = run_cli("push", "--dry-run", "--server", "http://127.0.0.1:9/fhir", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    assert "nested more than 64 levels deep" in r.stdout + r.stderr


def test_convert_dir_recurses_lists_what_it_skipped_and_tells_rows_apart(tmp_path):
    src = tmp_path / "in"
    for name in ("case.txt", "sub/case.txt", "notes.md", "paper.pdf", ".hidden.txt"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text("A 40-year-old man had fever." if name.endswith(".txt") else "x", encoding="utf-8")
    out = src / "out"                    # inside the input folder: not read back on the next run
    for _ in range(2):
        r = run_cli("convert", str(src), "--out", str(out), env={"COLUMNS": "80"})
        assert r.returncode == 0, r.stderr
    assert "skipping 2 file(s)" in r.stderr and "paper.pdf: a PDF" in r.stderr
    assert "notes.md: not a text file" in r.stderr
    assert "[2/2]" in r.stderr and "[3/" not in r.stderr
    assert "in/case.txt" in r.stdout and "sub/case.txt" in r.stdout      # the rows say which is which
    summary = json.loads((out / "summary.json").read_text())
    assert [Path(s["name"]).name for s in summary["skipped"]] == ["notes.md", "paper.pdf"]
    assert len({d["output"] for d in summary["documents"]}) == 2


def test_summary_errors_are_listed_in_full_under_the_table(tmp_path):
    long_name = "a_case_report_with_a_name_long_enough_to_need_folding_in_a_narrow_terminal.txt"
    (tmp_path / long_name).write_text("A 40-year-old man had fever. " * 100, encoding="utf-8")
    r = run_cli("convert", str(tmp_path), "--out", str(tmp_path / "out"), "--max-chars", "100", "-q",
                env={"COLUMNS": "80"})
    assert r.returncode == 1
    assert "error (1)" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("(1) "))
    assert long_name in line and "over the limit of 100 characters" in line and "--max-chars" in line
    assert "…" not in r.stdout


def test_extract_table_shows_codes_and_whole_keys(tmp_path):
    (tmp_path / "c.txt").write_text("A 34-year-old woman had acute lymphoblastic leukaemia with breast metastasis.",
                                    encoding="utf-8")
    r = run_cli("extract", str(tmp_path / "c.txt"), env={"COLUMNS": "90"})
    assert r.returncode == 0, r.stderr
    assert "SCT 91857003" in r.stdout                       # the code column
    assert "…" not in r.stdout                              # folded, never cut
    wide = run_cli("extract", str(tmp_path / "c.txt"), env={"COLUMNS": "200"})
    assert re.search(r"│ disorder\.secondary_\w+breast\w* +│ SCT 94297009", wide.stdout), wide.stdout


def test_help_names_values_in_plain_words():
    for cmd in (["convert"], ["extract"], ["validate"], ["push"], ["mappings", "check"], ["mappings", "lookup"]):
        r = run_cli(*cmd, "--help", env={"COLUMNS": "120"})
        assert r.returncode == 0
        assert not re.search(r"<(bool|str|int|float|path|list\[)", r.stdout), (cmd, r.stdout)
    conv = run_cli("convert", "--help", env={"COLUMNS": "120"}).stdout
    assert re.search(r"--mappings +PATH \.\.\.", conv) and re.search(r"--max-chars +N ", conv)
    assert re.search(r"--ndjson +Also write", conv)          # a flag has no placeholder


def test_plain_placeholders():
    from fhirconv.cli_help import plain
    assert [plain(x) for x in ("<list[Path]>", "<int>", "<transaction|collection>", "<bool>", "<int range>",
                               "<path>...")] == ["PATH ...", "N", "transaction|collection", "", "N", "PATH ..."]


def test_a_document_over_its_time_budget_is_reported_and_the_others_convert(tmp_path):
    sentence = "On day {n} she had fever, a cough and left leg pain; haemoglobin was {n}.2 g/dL and CRP {n} mg/L. "
    (tmp_path / "a_long.txt").write_text("A 40-year-old woman was admitted.\n\n"
                                         + "".join(sentence.format(n=n % 97) for n in range(12_000)),
                                         encoding="utf-8")
    (tmp_path / "b_short.txt").write_text("A 50-year-old woman had a cough.", encoding="utf-8")
    r = run_cli("convert", str(tmp_path), "--out", str(tmp_path / "out"), "--time-budget", "0.3", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-800:]
    docs = {Path(d["name"]).name: d for d in json.loads(r.stdout)["documents"]}
    assert "took longer than its time budget of 0.3 s" in docs["a_long.txt"]["errors"][0]
    assert "--time-budget" in docs["a_long.txt"]["errors"][0] and not docs["a_long.txt"]["output"]
    assert docs["b_short.txt"]["output"] and not docs["b_short.txt"]["errors"]
    assert not list((tmp_path / "out").glob("a_long*"))


def test_an_internal_error_is_one_line_and_exit_70_and_debug_shows_the_traceback(monkeypatch, capsys):
    import pytest

    from fhirconv import cli

    def broken() -> None:
        raise KeyError("boom")          # stands for a bug: none can be produced on demand

    monkeypatch.setattr(cli, "app", broken)
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == cli.EXIT_INTERNAL == 70
    line = capsys.readouterr().err
    assert "internal error (KeyError" in line and "--debug" in line and "Traceback" not in line
    monkeypatch.setitem(cli._DEBUG, "on", True)
    with pytest.raises(KeyError):
        cli.main()
    r = run_cli("--debug", "validate", "-", stdin=b"{}")          # the flag itself is accepted
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_validate_json_names_the_profile_a_finding_is_against(tmp_path):
    patient = {"resourceType": "Patient", "id": "p", "identifier": [{"system": "urn:x", "value": "1"}],
               "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patient))
    r = run_cli("validate", str(path), "--json", "--profile", "us-core")
    assert r.returncode == 1
    outcome = json.loads(r.stdout)
    gender = next(i for i in outcome["issue"] if i.get("expression") == ["Patient.gender"])
    assert gender["severity"] == "error" and "USCorePatientProfile" in gender["details"]["text"]
    assert {"url": "https://fhirconv.readthedocs.io/fhir/StructureDefinition/validation-profile",
            "valueCanonical": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|6.1.0"} \
        in gender["extension"]
    assert not [i for i in fhirconv.validate(outcome) if i.severity.value in ("error", "fatal")]
