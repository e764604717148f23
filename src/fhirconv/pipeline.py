"""read → extract → build → bundle → validate, for one document or many.

The only module that chains the stages; the CLI and the public API call it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import read as reader
from ._budget import TIME_BUDGET, Budget
from .build import Builder, content_hash
from .bundle import dumps, make_bundle, ndjson_lines
from .conform import PROFILES, conform
from .errors import FhirconvError, MappingsError, ValidationError
from .extract import Extractor, extract
from .mappings import Mappings, load
from .model import DocumentReport, Extraction, Issue, Severity, SourceDocument

#: what an overlay is tried on (Pipeline._try_overlay): a patient, negation, laterality, a metastasis,
#: a lab value with a unit, an examination, a treatment, dates and a death
TRIAL_TEXT = ("Case report\n\nA 60-year-old woman presented in March 2020 with a cough but no fever. "
              "Haemoglobin was 9.1 g/dL and CRP 48 mg/L. CT of the chest showed a mass in the left breast "
              "and metastases to the liver. Biopsy confirmed breast carcinoma. She received chemotherapy "
              "and died on 3 May 2021.")


@dataclass
class Conversion:
    """The result for one document."""

    extraction: Extraction
    bundle: dict[str, Any] | None
    issues: list[Issue] = field(default_factory=list)
    report: DocumentReport = field(default_factory=lambda: DocumentReport(name=""))


class Pipeline:
    """The stages for one set of mappings; ``time_budget`` seconds per document (None: no limit),
    over which ``convert`` raises BudgetError."""

    def __init__(self, mappings: Mappings | None = None, *, bundle_type: str | None = None,
                 validate: bool = True, time_budget: float | None = TIME_BUDGET, profile: str = "none") -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        # mCODE's patient bundle is a collection; otherwise a transaction, ready to POST
        bundle_type = bundle_type or ("collection" if profile == "mcode" else "transaction")
        self.mappings = mappings or load()
        Extractor.for_mappings(self.mappings)      # rules an overlay broke fail here, before any document
        self.builder = Builder(self.mappings, stages=profile == "mcode")
        self.bundle_type = bundle_type
        self.profile = profile
        self.validate = validate
        self.time_budget = time_budget
        if len(self.mappings.folders) > 1:
            self._try_overlay()

    def _try_overlay(self) -> None:
        """Convert a short case text with the overlay's rules before any document: an overlay value
        of the right type can still break conversion (a pattern without the groups the shipped one
        has, a template without its fields), and that is the overlay's error, reported once."""
        where = ", ".join(self.mappings.folders[1:])
        try:
            conv = self.convert(reader.read_text(TRIAL_TEXT, "<overlay trial>"))
        except Exception as exc:  # noqa: BLE001 - any failure here comes from the overlay's values
            detail = str(exc) if isinstance(exc, FhirconvError) else f"{type(exc).__name__}: {exc}"
            raise MappingsError(f"with the overlay {where}, conversion fails on a test text ({detail}); "
                                "compare the changed values with the shipped files") from None
        if conv.report.errors:
            raise MappingsError(f"with the overlay {where}, a test text gives an invalid bundle "
                                f"({conv.report.errors[0]}); check the overlay's codes and displays")

    def convert(self, doc: SourceDocument) -> Conversion:
        budget = Budget(self.time_budget, doc.name)
        ex = extract(doc, self.mappings, budget)
        report = DocumentReport(name=doc.name, kind=ex.kind.value, patients=len(ex.patients))
        report.warnings.extend(doc.warnings)
        report.warnings.extend(ex.warnings)
        if not ex.patients:
            return Conversion(ex, None, [], report)
        built = self.builder.build(ex)
        budget.check("building the resources")
        report.warnings.extend(built.warnings)
        conformed = conform(built, self.profile, self.mappings)
        report.notes.extend(conformed.notes)
        bundle = make_bundle(built.resources, content_hash(doc.original), self.bundle_type,
                             profile=conformed.bundle_profile if self.bundle_type == "collection" else None)
        issues: list[Issue] = []
        if self.validate:
            budget.check("bundling")
            from .validate import validate_resource

            issues = validate_resource(bundle, mappings=self.mappings, foreign=False)
            errors = [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)]
            if errors:
                report.errors.extend(f"{i.location}: {i.message}" for i in errors)
        report.resources = dict(sorted(Counter(r["resourceType"] for r in built.resources).items()))
        return Conversion(ex, bundle, issues, report)


def convert_text(text: str, *, name: str = "<text>", mappings: Mappings | None = None,
                 bundle_type: str | None = None, max_chars: int | None = reader.MAX_CHARS,
                 time_budget: float | None = TIME_BUDGET, profile: str = "none") -> dict[str, Any] | None:
    """Convert one text; returns the Bundle (None when the text describes no individual patient).

    ``profile``: ``none`` (the default), ``us-core`` or ``mcode`` (see conform.py); the bundle type
    defaults to a transaction, or a collection for ``mcode``.

    Raises ReadError over ``max_chars``, BudgetError over ``time_budget`` seconds and
    ValidationError when the bundle does not pass validation.
    """
    pipe = Pipeline(mappings, bundle_type=bundle_type, time_budget=time_budget, profile=profile)
    conv = pipe.convert(reader.read_text(text, name, max_chars=max_chars))
    if conv.report.errors:
        raise ValidationError(f"{name}: the bundle failed validation ({conv.report.errors[0]})", conv.issues)
    return conv.bundle


def convert_inputs(inputs: Iterable[str], out_dir: Path, *, mappings: Mappings | None = None,
                   bundle_type: str | None = None, ndjson: bool = False,
                   progress: Callable[[DocumentReport], None] | None = None,
                   max_chars: int | None = reader.MAX_CHARS,
                   time_budget: float | None = TIME_BUDGET, profile: str = "none") -> list[DocumentReport]:
    """Convert every input into OUT/<stem>.json; every input ends up in the returned summary (one
    over ``max_chars`` characters or ``time_budget`` seconds is reported and skipped, the others
    go on)."""
    pipe = Pipeline(mappings, bundle_type=bundle_type, time_budget=time_budget, profile=profile)
    if out_dir.exists() and not out_dir.is_dir():
        raise FhirconvError(f"{out_dir}: exists and is not a folder; give --out a folder (new or existing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FhirconvError(f"{out_dir}: cannot create the output folder ({exc.strerror}); "
                            "check the path and its permissions") from None
    reports: list[DocumentReport] = []
    ndjson_out = _NdjsonWriter(out_dir / "ndjson") if ndjson else None
    taken: set[str] = set()         # output stems of this run: two inputs never share a bundle file
    skipped: list[tuple[str, str]] = []
    for path in reader.expand_inputs(inputs, skipped=skipped, exclude=[out_dir]):
        report = _convert_one(pipe, path, out_dir, ndjson_out, taken, max_chars)
        reports.append(report)
        if progress:
            progress(report)
    if ndjson_out is not None:
        ndjson_out.finish()
    summary = {"documents": [_report_dict(r) for r in reports], "totals": _totals(reports),
               "skipped": [{"name": n, "why": why} for n, why in skipped]}
    _write(out_dir / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return reports


def _write(target: Path, text: str) -> None:
    """Write to a temporary name, then rename: an interrupted run leaves no half-written file."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


class _NdjsonWriter:
    """One NDJSON file per resource type, appended to as each document is converted (so memory stays
    bounded by one document, not the run) under temporary names, renamed when the run ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, Any] = {}

    def add(self, rtype: str, lines: list[str]) -> None:
        fh = self.files.get(rtype)
        if fh is None:
            self.folder.mkdir(exist_ok=True)
            fh = self.files[rtype] = open(self.folder / f".{rtype}.ndjson.tmp", "w", encoding="utf-8")  # noqa: SIM115
        fh.write("\n".join(lines) + "\n")

    def finish(self) -> None:
        self.folder.mkdir(exist_ok=True)
        for rtype, fh in sorted(self.files.items()):
            fh.close()
            os.replace(self.folder / f".{rtype}.ndjson.tmp", self.folder / f"{rtype}.ndjson")


def _convert_one(pipe: Pipeline, path: str, out_dir: Path, ndjson_buf: _NdjsonWriter | None,
                 taken: set[str] | None = None, max_chars: int | None = reader.MAX_CHARS) -> DocumentReport:
    name = "<stdin>" if path == "-" else path
    try:
        doc = reader.read_path(path, max_chars=max_chars)
        conv = pipe.convert(doc)
    except FhirconvError as exc:
        return DocumentReport(name=name, errors=[str(exc)])
    report = conv.report
    report.name = name
    if conv.bundle is None:
        return report
    stem = "stdin" if path == "-" else Path(path).stem
    if taken is not None:
        if stem in taken:
            # two inputs with one stem (a/case.txt and b/case.txt, case.txt and case.enw): the second is
            # named with a short hash of its content, never over the first
            stem = f"{stem}-{hashlib.sha256(doc.original.encode('utf-8')).hexdigest()[:8]}"
        taken.add(stem)
    target = out_dir / f"{stem}.json"
    if report.errors:
        target = out_dir / f"{stem}.invalid.json"
    _write(target, dumps(conv.bundle))
    report.output = str(target)
    if ndjson_buf is not None and not report.errors:
        for rtype, lines in ndjson_lines(e["resource"] for e in conv.bundle["entry"]).items():
            ndjson_buf.add(rtype, lines)
    return report


def _report_dict(r: DocumentReport) -> dict[str, Any]:
    out = {"name": r.name, "kind": r.kind, "patients": r.patients, "resources": r.resources,
           "warnings": r.warnings, "errors": r.errors, "output": r.output}
    if r.notes:
        out["notes"] = r.notes          # what an output profile left unclaimed (absent without one)
    return out


def _totals(reports: list[DocumentReport]) -> dict[str, Any]:
    res: Counter[str] = Counter()
    for r in reports:
        res.update(r.resources)
    return {"documents": len(reports), "converted": sum(1 for r in reports if r.output and r.ok),
            "no_patient": sum(1 for r in reports if r.ok and not r.output),
            "failed": sum(1 for r in reports if not r.ok), "patients": sum(r.patients for r in reports),
            "resources": dict(sorted(res.items()))}


def iter_extractions(inputs: Iterable[str], mappings: Mappings | None = None) -> Iterator[Extraction]:
    maps = mappings or load()
    for path in reader.expand_inputs(inputs):
        yield extract(reader.read_path(path), maps)
