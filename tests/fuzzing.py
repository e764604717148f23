"""Fuzz targets and input generators, shared by the suite (tests/test_fuzz.py) and scripts/fuzz.py.

Each target takes one input and either returns (the contract held) or raises ``Broken`` with what
went wrong. The contracts:

* read      ``read_bytes`` returns a document or raises ReadError.
* convert   read + the whole pipeline (with an output profile chosen by the input's hash: none,
            us-core or mcode) returns a Conversion or raises ReadError/BudgetError; a BuildError (a
            fhirconv bug by its own message) or a bundle that fails fhirconv's own validation (its
            claimed profiles included) breaks it.
* validate  ``fhirconv.validate`` returns a list of issues for any JSON value; it never raises.
* overlay   loading a mappings overlay folder returns Mappings or raises MappingsError; the loaded
            mappings then extract a text without raising; ``mappings check`` never raises.
* push      a dry-run push of any JSON value (what ``push --dry-run`` does with a file) returns a
            report or raises PushError; it contacts no server.

Inputs are mutations of a corpus (the seeds, golden bundles and IG examples; the development set and the
published FHIR examples in ../shared/ when present and ``FHIRCONV_FUZZ_CORPUS`` is not ``repo``),
made by a ``random.Random`` so that a seed reproduces an input exactly. Inputs kept in the repo
are made from the repo's own corpus (or written by hand): ../shared/ is not ours to copy.
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import tempfile
import traceback
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from fhirconv._json import depth

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CRASHES = ROOT / "tests" / "fuzz" / "crashes"


def _shared(part: str) -> Path | None:
    folder = SHARED / part
    return folder if folder.is_dir() and os.environ.get("FHIRCONV_FUZZ_CORPUS") != "repo" else None


class Broken(Exception):
    """The target broke its contract on this input."""


# ------------------------------------------------------------------ corpora
@cache
def texts() -> tuple[str, ...]:
    out = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    dev = _shared("eval/dev/cases")
    if dev:
        for p in sorted(dev.glob("*.txt")):
            t = p.read_text(encoding="utf-8")
            out.append(t.split("\n", 1)[1] if t.startswith("# source:") else t)
    return tuple(out)


@cache
def jsons() -> tuple[str, ...]:
    files = sorted((ROOT / "tests" / "golden").glob("*.json"))
    files += sorted((ROOT / "tests" / "data" / "ig-examples").glob("*.json"))   # profile claims to break
    ex = _shared("fhir-examples")
    if ex:
        files += sorted(p for p in ex.rglob("*.json") if p.stat().st_size < 200_000)
    return tuple(p.read_text(encoding="utf-8") for p in files)


# ------------------------------------------------------------------ text mutations
SNIPPETS = [
    "\x00", "\ufeff", "\r\n", "\n\n", "\t", "\u00a0", "\u200b", "\ufffd", "é", "ß", "µ", "℃", "·", "×", "−", "≥",
    "10^9/L", "×10⁹/L", "mg/dL", "g/L", "mmol/l", "%", "IU/mL", "µkat/L", "/HPF", "cm3", "ml/min/1.73m2",
    " no ", " not ", " negative for ", " denied ", " ruled out ", " possible ", " history of ", " mother ",
    " left ", " right ", " bilateral ", "non-", " metastases to the ", " (", ")", "[1]", "et al.",
    "Case report", "CASE PRESENTATION\n", "Discussion\n", "Abstract: ", "%T ", "TI  - ", "AB  - ",
    "Patient 1:", "Case 2.", "A 45-year-old man", "a 3-month-old girl", "aged 71", "6 y.o. boy",
    "12/31/2019", "31.12.2019", "2019-02-30", "March 2018", "on day 3", "1e308", "-0", "0.0.0", "9" * 40,
    "Hb 10.2 g/dL", "WBC 12.3 × 10^9/L", "CRP 48 mg/L", "ER positive", "HER2 3+", "Ki-67 40%",
    "CT", "MRI of the brain", "PET-CT", "ultrasound", "biopsy", "chemotherapy", "'", '"', "\\", "<script>",
    "&amp;", "{{", "}}", "%s", "$(", ";",
]


def mutate_text(rng: random.Random, text: str | None = None) -> str:
    """A case text with 1–8 mutations: cut, repeat, insert, swap, recase, renumber, splice."""
    corpus = texts()
    text = text if text is not None else rng.choice(corpus)
    for _ in range(rng.randint(1, 8)):
        n = len(text)
        i, j = sorted((rng.randint(0, n), rng.randint(0, n)))
        j = min(j, i + 2000)
        op = rng.randrange(11)
        if op == 0:
            text = text[:i] + text[j:]
        elif op == 1:
            text = text[:j] + text[i:j] * rng.choice((2, 3, 10, 50)) + text[j:]
        elif op == 2:
            text = text[:i] + rng.choice(SNIPPETS) + text[i:]
        elif op == 3:
            text = text[:i] + "".join(chr(rng.choice((rng.randint(0, 0x7f), rng.randint(0, 0x2fff))))
                                      for _ in range(rng.randint(1, 30))) + text[i:]
        elif op == 4:
            sents = text.split(". ")
            rng.shuffle(sents)
            text = ". ".join(sents)
        elif op == 5:
            text = text[:i] + text[i:j].upper() + text[j:] if rng.random() < 0.5 else text.lower()
        elif op == 6:
            text = "".join(str(rng.randint(0, 999)) if c.isdigit() and rng.random() < 0.3 else c for c in text)
        elif op == 7:
            other = rng.choice(corpus)
            k = rng.randint(0, len(other))
            text = text[:i] + other[k:k + rng.randint(0, 3000)] + text[j:]
        elif op == 8:
            text = text[:i]
        elif op == 9:
            text = text.replace(" ", rng.choice(("\n", "  ", "\t", " \n ", "")), rng.randint(1, 50))
        else:
            text = text[:i] + (rng.choice(SNIPPETS) + " ") * rng.randint(50, 400) + text[i:]
    return text


def mutate_bytes(rng: random.Random) -> bytes:
    """Bytes of a case text in some encoding, with byte-level damage."""
    text = mutate_text(rng)
    enc = rng.choice(("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1"))
    data = bytearray(text.encode(enc, errors="replace"))
    for _ in range(rng.randint(0, 6)):
        if not data:
            break
        k = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[k] = rng.randrange(256)
        elif op == 1:
            del data[k:k + rng.randint(1, 64)]
        elif op == 2:
            data[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        else:
            data[k:k] = rng.choice((b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"%PDF-1.4", b"PK\x03\x04", b"\x80"))
    return bytes(data)


# ------------------------------------------------------------------ JSON mutations
ODD_VALUES: list[Any] = [None, True, False, 0, -1, 1.5, 10 ** 30, float("nan"), "", " ", "x", "\x00", "\ud800",
                         [], [None], {}, {"": ""}, "Patient/", "urn:uuid:", "#", "Patient/1/_history/x",
                         "71341001:272741003=7771000", "2019-02-30", "2019-13", "T12:00", "+", "<div>"]
ODD_KEYS = ["resourceType", "id", "", "_id", "extension", "modifierExtension", "contained", "reference", "coding",
            "code", "system", "value", "valueQuantity", "entry", "resource", "fullUrl", "request", "meta",
            "profile", "text", "div", "status", "subject", "_birthDate", "unknownElement"]


def _nodes(obj: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """(container, key) for every value inside ``obj``, breadth first, at most 5,000."""
    queue = [obj]
    while queue and len(out) < 5000:
        node = queue.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            out.append((node, k))
            if isinstance(v, (dict, list)):
                queue.append(v)
    return out


def _nest(value: Any, depth: int, key: str) -> Any:
    for _ in range(depth):
        value = {key: [value]} if key else [value]
    return value


def mutate_json(rng: random.Random, obj: Any = None) -> Any:
    """A FHIR resource or bundle from the corpus with 1–10 structural mutations."""
    obj = json.loads(rng.choice(jsons()) if obj is None else json.dumps(obj))
    for _ in range(rng.randint(1, 10)):
        nodes = _nodes(obj, [])
        if not nodes:
            return rng.choice([*ODD_VALUES, obj, [obj], {"resourceType": "Bundle", "entry": obj}])
        parent, key = rng.choice(nodes)
        value = parent[key]
        op = rng.randrange(9)
        if op == 0:
            parent[key] = copy.copy(rng.choice(ODD_VALUES))
        elif op == 1 and isinstance(parent, dict):
            del parent[key]
        elif op == 2 and isinstance(parent, dict):
            parent[rng.choice(ODD_KEYS)] = copy.copy(rng.choice(ODD_VALUES + [value]))
        elif op == 3:
            parent[key] = [value] if not isinstance(value, list) else (value[0] if value else {})
        elif op == 4 and depth(obj, 300) < 300:       # deeper than 1,000 levels json itself cannot write
            parent[key] = _nest(value, rng.choice((3, 40, 70, 200, 900)), rng.choice(("", "extension", "item")))
        elif op == 5 and isinstance(value, str):
            parent[key] = value[: rng.randint(0, len(value))] + rng.choice(("", "/", "|", "\x00", "é", "9" * 30))
        elif op == 6 and isinstance(value, list) and value:
            parent[key] = value + value[: rng.randint(1, len(value))]     # shared, not copied: nesting may be deep
        elif op == 7 and isinstance(value, dict):
            value["resourceType"] = rng.choice(("", "Patient", "Bundle", "Observation", "NotAType", 5, None))
        elif op == 8:
            parent[key] = (rng.choice((1, {"value": value}, [value])) if isinstance(value, str)
                           else "[...]" if isinstance(value, (dict, list)) else str(value))
    return obj


# ------------------------------------------------------------------ overlay mutations
TABLES = ("disorders.tsv", "findings.tsv", "body_sites.tsv", "procedures.tsv", "medications.tsv", "labs.tsv",
          "modalities.tsv", "qualifiers.tsv", "units.tsv", "resources.tsv")
YAMLS = ("context.yaml", "sections.yaml", "relations.yaml", "lexicon.yaml", "subject.yaml", "templates.yaml",
         "lab_names.yaml")


def mutate_overlay(rng: random.Random) -> dict[str, bytes]:
    """An overlay folder: shipped mapping files cut down, with rows and YAML values mutated."""
    maps = ROOT / "mappings"
    files: dict[str, bytes] = {}
    for name in rng.sample(TABLES + YAMLS, rng.randint(1, 3)):
        src = (maps / name).read_text(encoding="utf-8")
        if name.endswith(".tsv"):
            lines = src.splitlines()
            head, rows = lines[:1], lines[1:]
            rows = rng.sample(rows, min(len(rows), rng.randint(0, 6)))
            for k in range(len(rows)):
                cells = rows[k].split("\t")
                c = rng.randrange(len(cells) + 1)
                repl = rng.choice(["", "x", "999999999", "91857003", "91857004", "12345", "sct", "loinc", "nope",
                                   "disorder.new", "finding.x", "a|b||c", "(", "[", "\\", "é", "\x00", "lead",
                                   rng.choice(SNIPPETS)])
                if c < len(cells):
                    cells[c] = repl
                else:
                    cells.append(repl)
                rows[k] = "\t".join(cells)
            if rng.random() < 0.2:
                head = [rng.choice(("key\tsystem\tcode", "", "\ufeff" + (head[0] if head else "")))]
            text = "\n".join(head + rows) + "\n"
        else:
            text = _mutate_yaml(rng, src)
        enc = rng.choice(("utf-8",) * 6 + ("cp1252", "utf-16", "utf-8-sig"))
        files[name] = text.encode(enc, errors="replace")
    if rng.random() < 0.1:
        files[rng.choice(("notes.txt", "extra.tsv", "extra.yaml"))] = b"key\tvalue\n"
    return files


def _mutate_yaml(rng: random.Random, src: str) -> str:
    import yaml

    data = yaml.safe_load(src)
    if not isinstance(data, dict) or not data:
        return src
    keep = rng.sample(sorted(data), rng.randint(1, min(3, len(data))))
    data = {k: data[k] for k in keep}
    for _ in range(rng.randint(1, 4)):
        nodes = _nodes(data, [])
        if not nodes:
            break
        parent, key = rng.choice(nodes)
        parent[key] = rng.choice([None, 5, "x", "(", "[a-", [], {}, ["no"], {"phrase": 3}, True, "\\b(?:",
                                  parent[key] if isinstance(parent[key], str) else "no"])
    if rng.random() < 0.1:
        return rng.choice(("{", "- [", "a: b: c", "!!python/object:os.system ls", "\t- x"))
    return yaml.safe_dump(data, allow_unicode=True)


# ------------------------------------------------------------------ targets
def t_read(data: bytes) -> None:
    from fhirconv.errors import ReadError
    from fhirconv.read import read_bytes

    try:
        read_bytes(data, "fuzz.txt")
    except ReadError:
        pass
    except Exception as exc:
        raise Broken(_why(exc)) from exc


def t_convert(text: str) -> None:
    from fhirconv.errors import BudgetError, ReadError
    from fhirconv.pipeline import Pipeline
    from fhirconv.read import read_text

    profile = PROFILES[zlib.crc32(text.encode("utf-8", "surrogatepass")) % len(PROFILES)]   # each input one
    try:
        conv = _pipeline(Pipeline, profile).convert(read_text(text, "fuzz.txt"))
    except (ReadError, BudgetError):
        return
    except Exception as exc:
        raise Broken(_why(exc)) from exc
    if conv.report.errors:
        raise Broken("produced a bundle that fails its own validation: " + conv.report.errors[0])


PROFILES = ("none", "us-core", "mcode")      # convert is fuzzed with every output profile


@cache
def _pipeline(cls: Any, profile: str = "none") -> Any:
    return cls(time_budget=None, profile=profile)


def t_validate(obj: Any) -> None:
    import fhirconv

    try:
        issues = fhirconv.validate(obj)
    except Exception as exc:
        raise Broken(_why(exc)) from exc
    if not isinstance(issues, list):
        raise Broken(f"returned {type(issues).__name__}, not a list of issues")


def t_overlay(files: dict[str, bytes]) -> None:
    from fhirconv import mappings_check
    from fhirconv.errors import MappingsError
    from fhirconv.mappings import load
    from fhirconv.pipeline import Pipeline
    from fhirconv.read import read_text

    folder = Path(tempfile.mkdtemp(prefix="fhirconv-fuzz-"))
    try:
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            problems = mappings_check.check(folder)
        except Exception as exc:
            raise Broken("mappings check: " + _why(exc)) from exc
        try:
            pipe = Pipeline(load(folder), time_budget=None)      # compiles the rules, as convert does
        except MappingsError:
            if not problems:
                raise Broken("loading refused an overlay that mappings check passes") from None
            return
        except Exception as exc:
            raise Broken("load: " + _why(exc)) from exc
        if problems:
            raise Broken(f"loaded an overlay that mappings check refuses ({problems[0]})")
        try:
            pipe.convert(read_text("A 60-year-old woman had no fever, a left breast mass and Hb 9.1 g/dL. CT "
                                   "showed metastases to the liver.", "fuzz.txt"))
        except Exception as exc:
            raise Broken("convert with the loaded overlay: " + _why(exc)) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def t_push(obj: Any) -> None:
    from fhirconv.cli_push import _full_validator
    from fhirconv.push import FhirClient, PushError

    try:
        with FhirClient("http://127.0.0.1:9/fhir", max_attempts=1) as client:     # a dry run sends nothing
            client.push_bundles([("fuzz.json", obj)], dry_run=True, journal=None, validator=_full_validator())
    except PushError:
        pass
    except Exception as exc:
        raise Broken(_why(exc)) from exc


def _why(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {str(exc)[:300]} (at {Path(last.filename).name}:{last.lineno})"


# ------------------------------------------------------------------ registry
Target = tuple[Callable[[Any], None], Callable[[random.Random], Any], str]

TARGETS: dict[str, Target] = {
    "read": (t_read, mutate_bytes, "txt"),
    "convert": (t_convert, mutate_text, "txt"),
    "validate": (t_validate, mutate_json, "json"),
    "overlay": (t_overlay, mutate_overlay, "overlay.json"),
    "push": (t_push, mutate_json, "json"),
}


def dump_input(target: str, value: Any) -> bytes:
    """The bytes a crash input is kept as (tests/fuzz/crashes/<target>/)."""
    ext = TARGETS[target][2]
    if ext == "txt":
        return value if isinstance(value, bytes) else value.encode("utf-8", errors="surrogatepass")
    if ext == "overlay.json":
        return json.dumps({k: v.decode("latin-1") for k, v in value.items()}, indent=1).encode()
    return json.dumps(value, allow_nan=True, ensure_ascii=True).encode()


def load_input(target: str, data: bytes) -> Any:
    ext = TARGETS[target][2]
    if target == "read":
        return data
    if ext == "txt":
        return data.decode("utf-8", errors="surrogatepass")
    if ext == "overlay.json":
        return {k: v.encode("latin-1") for k, v in json.loads(data).items()}
    return json.loads(data)
