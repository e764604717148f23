"""The ``fhirconv`` command: a thin layer over the library (parse options, call, print)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import cli_help
from ._budget import TIME_BUDGET
from ._version import __version__
from .errors import FhirconvError
from .model import DocumentReport, Severity
from .read import MAX_CHARS

if TYPE_CHECKING:
    from .mappings import Mappings

# the converter's modules are imported by the commands that use them: `fhirconv push` and
# `fhirconv --version` start without the extraction engine

cli_help.install()
app = typer.Typer(
    name="fhirconv",
    help="Turn published clinical case reports into validated HL7 FHIR R4 bundles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class BundleType(StrEnum):
    transaction = "transaction"
    collection = "collection"


class OutputProfile(StrEnum):
    none = "none"
    us_core = "us-core"
    mcode = "mcode"


MappingsOpt = Annotated[
    list[Path] | None,
    typer.Option("--mappings", help="A folder of mapping files overlaid on the defaults (repeatable)."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"fhirconv {__version__}")
        raise typer.Exit()


_DEBUG = {"on": False}
#: exit status of an internal error (a fhirconv bug), as sysexits' EX_SOFTWARE
EXIT_INTERNAL = 70


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error, show the Python traceback.")]
    = False,
) -> None:
    """fhirconv: case-report text → FHIR R4 bundles, validated offline."""
    _DEBUG["on"] = debug


def _load(overlays: list[Path] | None) -> Mappings:
    from .extract import Extractor
    from .mappings import load

    try:
        maps = load(*(overlays or []))
        if overlays:
            Extractor.for_mappings(maps)        # an overlay's rules that do not compile: exit 2 now
        return maps
    except FhirconvError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc


# `convert --push` takes the options of `fhirconv push` themselves (one option set, not a copy): its
# signature is extended with push_command's parameters (named push_*; the flags stay the same), except
# those convert has of its own
_PUSH_PREFIX = "push_"
_PUSH_OWN = {"paths", "server", "quiet", "as_json"}


def _with_push_options(command: Any) -> Any:
    import inspect

    from .cli_push import push_command

    sig = inspect.signature(command, eval_str=True)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [p.replace(name=_PUSH_PREFIX + p.name, kind=inspect.Parameter.KEYWORD_ONLY)
             for p in inspect.signature(push_command, eval_str=True).parameters.values() if p.name not in _PUSH_OWN]
    command.__signature__ = sig.replace(parameters=[*own, *extra])
    command.__annotations__ = {**{p.name: p.annotation for p in own + extra}, "return": None}
    _PUSH_DEFAULTS.update({p.name: p.default for p in extra})
    return command


_PUSH_DEFAULTS: dict[str, Any] = {}


@app.command()
@_with_push_options
def convert(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT",
                                                help="Text files, folders of .txt files, or - for stdin.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the bundles and summary.json.")] = Path(
        "out"),
    bundle_type: Annotated[BundleType | None, typer.Option(
        "--type", help="Bundle type (default: transaction; collection with --profile mcode).",
        show_default=False)] = None,
    profile: Annotated[OutputProfile, typer.Option(
        "--profile", help="Claim and meet US Core 6.1.0 (us-core) or mCODE 4.0.0 on top of it (mcode); "
        "what a profile leaves unclaimed is listed in summary.json.")] = OutputProfile.none,
    ndjson: Annotated[bool, typer.Option("--ndjson", help="Also write NDJSON, one file per resource type.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    mappings: MappingsOpt = None,
    max_chars: Annotated[int, typer.Option(
        "--max-chars", min=0, metavar="N", help="Refuse a document longer than N characters (0: no limit; "
        f"default {MAX_CHARS:,}).")] = MAX_CHARS,
    time_budget: Annotated[float, typer.Option(
        "--time-budget", min=0, metavar="SECONDS", help="Stop and report a document still converting after "
        f"SECONDS (0: no limit; default {TIME_BUDGET:g}); the others go on.")] = TIME_BUDGET,
    push: Annotated[str | None, typer.Option("--push", metavar="URL",
                                             help="Then push the valid bundles to this FHIR R4 base URL; "
                                                  "every option of `fhirconv push` applies.")] = None,
    **push_options: Any,
) -> None:
    """Convert case reports into one FHIR R4 Bundle per document (OUT/<stem>.json) plus OUT/summary.json.

    With --push URL the valid bundles are then pushed (idempotent PUTs, retried, journaled)."""
    from . import pipeline
    from . import read as reader

    maps = _load(mappings)
    skipped: list[tuple[str, str]] = []
    total = len(reader.expand_inputs(inputs, skipped=skipped, exclude=[out_dir]))
    done = 0
    if skipped and not (quiet or as_json):
        err.print(f"skipping {len(skipped)} file(s) that are not case-report text:")
        for name, why in skipped:
            err.print(f"  {name}: {why}", markup=False, highlight=False)

    def progress(r: DocumentReport) -> None:
        nonlocal done
        done += 1
        if quiet or as_json:
            return
        state = "error" if r.errors else ("no patient" if not r.output else "ok")
        err.print(f"[{done}/{total}] {r.name}: {state}" + (f" — {r.errors[0]}" if r.errors else ""),
                  markup=False, highlight=False)

    try:
        reports = pipeline.convert_inputs(inputs, out_dir, mappings=maps,
                                          bundle_type=bundle_type.value if bundle_type else None,
                                          ndjson=ndjson, progress=progress, max_chars=max_chars or None,
                                          time_budget=time_budget or None, profile=profile.value)
    except FhirconvError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    else:
        _print_summary(reports, out_dir)
    code = 1 if any(not r.ok for r in reports) else 0
    if push:
        code = max(code, _push_outputs(reports, push, quiet, push_options))
    elif any(v != _PUSH_DEFAULTS[k] for k, v in push_options.items()):
        err.print("error: push options need --push URL")
        raise typer.Exit(2)
    if code:
        raise typer.Exit(code)


def _push_outputs(reports: list[DocumentReport], url: str, quiet: bool, options: dict[str, Any]) -> int:
    """Push what convert wrote (valid bundles only): the same command and options as `fhirconv push`."""
    from . import cli_push

    files = [Path(r.output) for r in reports if r.output and r.ok]
    if not files:
        err.print("push: no valid bundle to push")
        return 0
    try:
        cli_push.push_command(paths=files, server=url, quiet=quiet,
                              **{name[len(_PUSH_PREFIX):]: value for name, value in options.items()})
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    return 0





def _print_summary(reports: list[DocumentReport], out_dir: Path) -> None:
    """One row per document, named so that rows differ (the shortest trailing part of the path that is
    unique), never truncated; each error in full under the table, one line each."""
    names = _distinct_names([r.name for r in reports])
    table = Table(title=f"fhirconv {__version__}: {len(reports)} document(s) → {out_dir}")
    table.add_column("document", overflow="fold", min_width=12)
    for col in ("kind", "patients", "resources", "warnings"):
        table.add_column(col, no_wrap=True)
    table.add_column("status", no_wrap=True)
    failed: list[tuple[str, str]] = []
    for r, name in zip(reports, names, strict=True):
        res = str(sum(r.resources.values())) if r.resources else ""
        if r.errors:
            failed.append((name, r.errors[0] if r.errors[0].startswith(r.name) else f"{name}: {r.errors[0]}"))
            status = f"error ({len(failed)})"
        else:
            status = "written" if r.output else "no bundle (no patient)"
        table.add_row(Text(name), r.kind or "-", str(r.patients), res or "-", str(len(r.warnings)), status)
    out.print(table)
    for i, (_, error) in enumerate(failed, start=1):
        out.print(f"({i}) {error}", markup=False, highlight=False, overflow="ignore", crop=False,
                  soft_wrap=True)
    out.print(f"summary (resources by type, warnings, errors): {out_dir / 'summary.json'}")


def _distinct_names(paths: list[str]) -> list[str]:
    """The file name of each path, with as many parent folders as it takes to tell equal names apart."""
    parts = [Path(p).parts or (p,) for p in paths]
    depth = [1] * len(parts)
    while True:
        counts = Counter(ps[-d:] for ps, d in zip(parts, depth, strict=True))
        grow = [i for i, (ps, d) in enumerate(zip(parts, depth, strict=True)) if counts[ps[-d:]] > 1 and d < len(ps)]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    return [str(Path(*ps[-d:])) for ps, d in zip(parts, depth, strict=True)]


@app.command("extract")
def extract_cmd(
    input_path: Annotated[str, typer.Argument(metavar="INPUT", help="A text file, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
    mappings: MappingsOpt = None,
) -> None:
    """Show the facts found in one document: kind, patients, and each fact with its span and assertion."""
    maps = _load(mappings)
    try:
        from . import read as reader
        from .extract import extract

        doc = reader.read_path(input_path)
        ex = extract(doc, maps)
    except FhirconvError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        data: dict[str, Any] = {
            "document": doc.name, "kind": ex.kind.value, "warnings": list(ex.warnings),
            "patients": [{"index": p.index, "label": p.label,
                          "facts": [f.to_dict() | {"source": doc.original[f.span.start:f.span.end]} for f in p.facts]}
                         for p in ex.patients],
        }
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    out.print(f"{doc.name}: {ex.kind.value}, {len(ex.patients)} patient(s)")
    for w in ex.warnings:
        out.print(f"  note: {w}")
    for p in ex.patients:
        table = Table(title=f"patient {p.label or p.index + 1}")
        for col in ("kind", "concept", "code", "text", "assertion", "span", "details"):
            # folded, never cut with an ellipsis: a concept key or a code is read whole or not at all
            table.add_column(col, overflow="fold", no_wrap=col in ("code", "span"))
        for f in p.facts:
            details = ", ".join(f"{k}={v}" for k, v in f.attrs if v not in (None, "", ()))
            table.add_row(f.kind, f.concept or "-", _code_of(maps, f.concept), Text(f.text), f.assertion.value,
                          f"{f.span.start}-{f.span.end}", Text(details))
        out.print(table)


def _code_of(maps: Mappings, key: str | None) -> str:
    """``SCT 91857003`` / ``LOINC 718-7`` / ``DICOM US`` for a coded concept, ``-`` for a text-only one."""
    from .mappings import SYSTEMS

    c = maps.get(key) if key else None
    if c is None or not c.coded:
        return "-"
    short = {url: name for name, url in SYSTEMS.items()}.get(c.system, c.system)
    return f"{short.upper()} {c.code}"


def _validation_inputs(files: list[Path]) -> Iterator[tuple[str, Any]]:
    """(name, parsed JSON or an error text) of every resource to validate: files, folders (recursively;
    the summary ``convert`` writes is not a resource), NDJSON (one resource per line) and ``-`` (stdin)."""
    from .push.plan import is_convert_summary

    def parse(name: str, text: str) -> Iterator[tuple[str, Any]]:
        text = text.lstrip("\ufeff")
        if name.endswith(".ndjson"):
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    yield from parse(f"{name}:{n}", line)
            return
        try:
            yield name, json.loads(text)
        except json.JSONDecodeError as exc:
            yield name, f"not JSON ({exc}); give a FHIR JSON file"
        except (RecursionError, ValueError):
            yield name, "nested too deeply to read; not a FHIR resource"

    for path in files:
        if str(path) == "-":
            yield from parse("<stdin>", sys.stdin.read())
            continue
        if path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix in (".json", ".ndjson")
                           and not any(part.startswith(".") for part in f.relative_to(path).parts))
            targets = [f for f in found if not is_convert_summary(f)]
        else:
            targets = [path]
        for f in targets:
            try:
                text = f.read_bytes().decode("utf-8-sig")
            except FileNotFoundError:
                yield str(f), "file not found; check the path"
                continue
            except (OSError, UnicodeDecodeError) as exc:
                yield str(f), f"cannot read it as UTF-8 text ({exc.__class__.__name__}); give a FHIR JSON file"
                continue
            yield from parse(str(f), text)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE",
                                                help="FHIR R4 JSON or NDJSON files, folders of them, or - (stdin).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a FHIR OperationOutcome (several inputs: a "
                                                         "collection Bundle of them).")] = False,
    mappings: MappingsOpt = None,
    profile: Annotated[list[str] | None, typer.Option(
        "--profile", metavar="NAME", help="Also hold every resource of its type to this shipped IG profile "
        "(US Core 6.1.0, mCODE 4.0.0 or IPS 2.0.0; a name such as mcode-primary-cancer-condition, or its "
        "URL), or name a guide (us-core, mcode, ips): a resource of a type it profiles that claims none of "
        "its profiles is a warning; repeatable. Profiles claimed in meta.profile are always checked.")] = None,
) -> None:
    """Validate FHIR R4 resources offline (structure, schema, invariants, bindings, references, codes, profiles)."""
    from .errors import ValidationError
    from .validate import profile_url, validate_resource

    maps = _load(mappings)
    try:
        profiles = tuple(profile_url(p) for p in profile or [])
    except ValidationError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    results: dict[str, list[dict[str, str]]] = {}
    failed = False

    def fatal(code: str, message: str) -> list[dict[str, str]]:
        return [{"severity": "fatal", "code": code, "location": "", "message": message, "layer": "read"}]

    for name, data in _validation_inputs(files):
        if isinstance(data, str):
            results[name] = fatal("structure" if "JSON" in data or "nested" in data else "not-found", data)
            failed = True
            continue
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str) or not data["resourceType"]:
            results[name] = fatal("structure", "no resourceType: not a FHIR resource")
            failed = True
            continue
        try:
            found = validate_resource(data, mappings=maps, foreign=True, profiles=profiles)
        except RecursionError:
            results[name] = fatal("too-costly", "nested too deeply to validate; not a plausible FHIR resource")
            failed = True
            continue
        results[name] = [i.to_dict() for i in found]
        failed |= any(i.severity in (Severity.ERROR, Severity.FATAL) for i in found)
    if not results:
        err.print("error: no FHIR JSON or NDJSON file among the inputs")
        raise typer.Exit(1)
    if as_json:
        from .validate._outcome import operation_outcome, outcomes_bundle

        if len(results) == 1:
            name, issues = next(iter(results.items()))
            doc = operation_outcome(issues, name)
        else:
            doc = outcomes_bundle(results)
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        for name, issues in results.items():
            errors = sum(1 for i in issues if i["severity"] in ("error", "fatal"))
            out.print(f"{name}: {'INVALID' if errors else 'valid'} "
                      f"({errors} error(s), {len(issues) - errors} other issue(s))")
            for i in issues:
                out.print(f"  {i['severity']:<11} {i['location'] or '-'}: {i['message']}")
    if failed:
        raise typer.Exit(1)


mappings_app = typer.Typer(help="Check mapping folders and look up what a phrase maps to.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("check")
def mappings_check(
    folders: Annotated[list[Path] | None, typer.Argument(help="Folders to check (default: the shipped mappings).")]
    = None,
) -> None:
    """Report every problem in mapping files (file:line: message); exit 1 when there is any."""
    from .mappings_check import check

    problems = check(*(folders or []))
    for p in problems:
        out.print(str(p))
    out.print(f"{len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)


@mappings_app.command("lookup")
def mappings_lookup(
    text: Annotated[str, typer.Argument(help="A phrase, e.g. 'left breast carcinoma'.")],
    mappings: MappingsOpt = None,
) -> None:
    """Show what each term in a phrase maps to, and why."""
    from .mappings_check import lookup

    maps = _load(mappings)
    found = lookup(maps, text)
    if not found:
        out.print("no term of the mappings in this phrase")
        raise typer.Exit(1)
    table = Table()
    for col in ("text", "concept", "system", "code", "display", "why"):
        table.add_column(col)
    for matched, c, why in found:
        table.add_row(matched, c.key, c.system or "-", c.code or "-", c.display, why)
    out.print(table)


def _register_push() -> None:
    from . import cli_push

    cli_push.register(app)


_register_push()


def main() -> None:
    """The command; an unexpected exception (a bug) is one line and exit 70, its traceback only with --debug."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if _DEBUG["on"]:
            raise
        err.print(f"fhirconv: internal error ({type(exc).__name__}: {str(exc)[:300]}); this is a bug in "
                  "fhirconv: please report it with the input; run again with --debug for the traceback",
                  markup=False, highlight=False)
        raise SystemExit(EXIT_INTERNAL) from None


if __name__ == "__main__":
    main()
