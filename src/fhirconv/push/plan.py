"""Sans-IO planning: input files → entries → chunks (transactions) that keep references whole.

Nothing here touches the network. The client modules drive what this module plans.

Identity and idempotency
    ``mode="put"`` (the default): every entry is written with ``PUT Type/id``. fhirconv's
    bundles already carry deterministic ids (uuid5, so never purely numeric — HAPI refuses
    client-assigned numeric ids); a ``POST`` entry of a foreign bundle is turned into a
    ``PUT`` to its own ``id`` or to the uuid of its ``urn:uuid:`` fullUrl. Re-pushing then
    replaces instead of duplicating, needs no search on the server, works on every server
    that allows client-assigned ids (update-as-create), and a retry after a lost response
    is harmless.
    ``mode="conditional"``: entries whose resource has an ``identifier`` (system and value)
    become conditional creates (``POST`` + ``ifNoneExist: identifier=system|value``); the
    others stay ``PUT``. Use it for servers that refuse client ids. It relies on the
    server's search index being current, and some servers cap the size of such
    transactions (the Medplum router allows 8 entries), so it is not the default.

Chunking
    Entries of one input bundle are grouped so that a chunk never references an entry of a
    *later* chunk: strongly connected groups of entries (reference cycles) stay together,
    and the groups are packed in dependency order (original order where free) up to
    ``max_entries`` and ``max_bytes``. References from a chunk to an entry written by an
    earlier chunk are rewritten to that entry's ``Type/id`` (known up front for ``PUT``,
    taken from the response ``location`` for creates).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import heapq
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .._json import MAX_DEPTH
from .._json import depth as json_depth

TAG_SYSTEM = "urn:fhirconv:push-run"
# Entries per transaction when the user gives none: what the common servers take as they come.
# Medplum allows at most 50 updates per transaction and 8 entries once any entry is conditional;
# AWS FHIR Works 100 entries; Azure Health Data Services 500 (the older Azure API for FHIR takes
# batches only: --bundle-type auto finds that in its CapabilityStatement); HAPI has no limit by
# default. 50 fits all of them; conditional writes go 8 at a time. A server that refuses more
# anyway (a 400 saying so, or a 413) gets the request split and the limit remembered.
DEFAULT_MAX_ENTRIES = 50
CONDITIONAL_MAX_ENTRIES = 8
MODES = ("put", "conditional")
BUNDLE_OVERHEAD = 64

_UUID_URN = re.compile(r"^urn:uuid:([0-9a-fA-F-]{36})$")
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# "reference":"<JSON string>" in compact JSON (a string value cannot contain an unescaped quote)
_REF_RE = re.compile(rb'"reference":"((?:[^"\\]|\\.)*)"')


_encode_str: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON as the server receives it.

    orjson, because encoding every resource (and decoding every file and answer) is most of
    the client's own time in a push: several times faster than the standard library. What
    orjson cannot write (an integer past 64 bits, which a FHIR decimal may be) goes through the
    standard library; what no JSON text can hold (a lone surrogate, NaN) raises ValueError.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


loads = orjson.loads


def _jstr(text: str) -> bytes:
    """A JSON string literal (as ``dumps`` would write it)."""
    return _encode_str(text).encode("utf-8")


@functools.lru_cache(maxsize=64)
def _tag_json(run_id: str) -> bytes:
    return dumps({"tag": [{"system": TAG_SYSTEM, "code": run_id}]})


@dataclass
class Entry:
    """One entry to write, normalised."""

    file: str
    index: int
    resource: dict[str, Any]
    method: str
    url: str
    full_url: str | None = None
    if_none_exist: str | None = None
    key: str = ""                       # identity in the journal: request + content digest
    refs: frozenset[str] = frozenset()  # reference strings found inside the resource
    encoded: bytes = b""                # the entry as JSON, references untouched
    problems: list[str] = field(default_factory=list)  # why it cannot be sent (input errors)
    literal: str | None = field(init=False)  # ``Type/id`` when known before writing (PUT entries)

    def __post_init__(self) -> None:
        self.literal = self.url if self.method == "PUT" and "?" not in self.url else None

    @property
    def resource_type(self) -> str:
        return str(self.resource.get("resourceType", ""))

    @property
    def id(self) -> str | None:
        if self.method == "PUT":
            parts = self.url.split("?")[0].split("/")
            return parts[1] if len(parts) >= 2 else None
        rid = self.resource.get("id")
        return rid if isinstance(rid, str) else None

    @property
    def size(self) -> int:
        return len(self.encoded) + 1


@dataclass
class Chunk:
    """One request to write: a transaction or batch of entries from one file."""

    id: str
    file: str
    entries: list[Entry]
    deps: set[str] = field(default_factory=set)   # ids of chunks that must be written first

    @property
    def size(self) -> int:
        return BUNDLE_OVERHEAD + sum(e.size for e in self.entries)


@dataclass
class LoadedFile:
    path: str
    entries: list[Entry]
    errors: list[str]
    notices: list[str]


# --------------------------------------------------------------------------- inputs
SUMMARY_NAME = "summary.json"        # what ``fhirconv convert`` writes beside its bundles
INVALID_SUFFIX = ".invalid.json"      # a bundle convert found invalid: kept for inspection, never pushed
NDJSON_FOLDER = "ndjson"              # convert --ndjson: the same resources as the bundles, by type


def is_convert_summary(path: Path) -> bool:
    """Is this the run summary ``fhirconv convert`` writes (not a FHIR resource)?"""
    if path.name != SUMMARY_NAME:
        return False
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "resourceType" not in data and isinstance(data.get("documents"), list)


def expand_paths(paths: Iterable[str | os.PathLike[str]], notices: list[str] | None = None) -> list[Path]:
    """Files as given, and the ``*.json`` / ``*.ndjson`` files under given directories (sorted).

    A directory is read as ``fhirconv convert`` writes it: its ``summary.json`` is not an input,
    ``*.invalid.json`` bundles are skipped, and its ``ndjson/`` folder (the same resources again,
    by type) is left out; each with a one-line note in ``notices``. NDJSON given as its own input
    (the folder or its files) is pushed.
    """
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.is_dir():
            out.append(path)
            continue
        found = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix in (".json", ".ndjson")
                       and not any(part.startswith(".") for part in f.relative_to(path).parts))
        converted = {f.parent for f in found if is_convert_summary(f)}
        for f in found:
            if f.parent in converted and f.name == SUMMARY_NAME:
                continue
            if f.name.endswith(INVALID_SUFFIX):
                _note(notices, f"skipped {f}: convert found this bundle invalid (see its issues); not pushed")
                continue
            if f.parent.name == NDJSON_FOLDER and f.parent.parent in converted:
                _note(notices, f"skipped {f.parent}: the bundles of {f.parent.parent} hold the same resources; "
                               f"give {f.parent} itself to push the NDJSON")
                continue
            out.append(f)
    return out


def _note(notices: list[str] | None, text: str) -> None:
    if notices is not None and text not in notices:
        notices.append(text)


def _rewrite_refs(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in mapping:
                out[k] = mapping[v]
            elif isinstance(v, (dict, list)):
                out[k] = _rewrite_refs(v, mapping)
            else:
                out[k] = v
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, mapping) if isinstance(v, (dict, list)) else v for v in node]
    return node


def _tagged(resource: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return resource
    meta_in, tags_in = resource.get("meta") or {}, None
    if isinstance(meta_in, dict):
        tags_in = meta_in.get("tag") or []
    if not isinstance(tags_in, list):
        return resource             # a malformed meta is the validator's to report, not ours to rewrite
    res = dict(resource)
    meta = dict(meta_in)
    tags = [t for t in tags_in if not (isinstance(t, dict) and t.get("system") == TAG_SYSTEM)]
    tags.append({"system": TAG_SYSTEM, "code": run_id})
    meta["tag"] = tags
    res["meta"] = meta
    return res


def _identifier_query(resource: dict[str, Any]) -> str | None:
    idents = resource.get("identifier")
    for ident in idents if isinstance(idents, list) else []:
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            return f"identifier={ident['system']}|{ident['value']}"
    return None


def _normalise(file: str, index: int, raw: dict[str, Any], mode: str, run_id: str | None,
               notices: list[str]) -> Entry:
    resource = raw.get("resource")
    request = raw.get("request") or {}
    full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
    problems: list[str] = []
    if not isinstance(request, dict):
        return Entry(file, index, resource if isinstance(resource, dict) else {}, "", "", full_url,
                     problems=[f"entry.request must be an object with method and url, not {type(request).__name__}"])
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return Entry(file, index, resource if isinstance(resource, dict) else {}, str(request.get("method", "")),
                     str(request.get("url", "")), full_url, problems=["entry has no resource with a resourceType"])
    rtype = resource["resourceType"]
    method = str(request.get("method") or ("PUT" if resource.get("id") else "POST")).upper()
    url = str(request.get("url") or (f"{rtype}/{resource['id']}" if method == "PUT" else rtype))
    if_none_exist = request.get("ifNoneExist")
    if if_none_exist is not None and not isinstance(if_none_exist, str):
        problems.append(f"request.ifNoneExist must be a search string, not {type(if_none_exist).__name__}")
        if_none_exist = None
    if method not in ("PUT", "POST"):
        problems.append(f"request method {method} is not pushed (only PUT and POST are)")
    if mode == "put" and method == "POST" and not if_none_exist:
        rid = resource.get("id")
        m = _UUID_URN.match(full_url or "")
        if not isinstance(rid, str) and m:
            rid = m.group(1).lower()
        if isinstance(rid, str) and rid:
            method, url = "PUT", f"{rtype}/{rid}"
        else:
            notices.append(f"{file} entry {index}: {rtype} has no id nor urn:uuid fullUrl; "
                           "it is created with POST, which is not idempotent")
    elif mode == "conditional" and (method == "PUT" or (method == "POST" and not if_none_exist)):
        query = _identifier_query(resource)
        if query:
            method, url, if_none_exist = "POST", rtype, query
    if method == "PUT":
        if "?" not in url:
            parts = url.split("/")
            if len(parts) != 2 or parts[0] != rtype or not _ID_RE.match(parts[1]):
                problems.append(f"PUT url {url!r} is not {rtype}/<id>")
            else:
                if parts[1].isdigit():
                    notices.append(f"{file} entry {index}: id {parts[1]!r} is purely numeric; "
                                   "HAPI refuses client-assigned numeric ids")
                if resource.get("id") != parts[1]:
                    resource = {**resource, "id": parts[1]}
    elif method == "POST" and "id" in resource:
        resource = {k: v for k, v in resource.items() if k != "id"}
    try:
        return _encoded(file, index, resource, method, url, full_url, if_none_exist, run_id, problems)
    except (ValueError, TypeError) as exc:          # UnicodeEncodeError too: a lone surrogate
        return Entry(file, index, resource, method, url, full_url,
                     problems=[f"the entry cannot be written as JSON ({exc}); fix that value"])


def _encoded(file: str, index: int, resource: dict[str, Any], method: str, url: str, full_url: str | None,
             if_none_exist: Any, run_id: str | None, problems: list[str]) -> Entry:
    """The entry with its key, references and request JSON, encoded once."""
    plain = dumps(resource)
    digest = hashlib.sha256(plain).hexdigest()[:20]
    key = f"{method} {url}" + (f" [{if_none_exist}]" if if_none_exist else "") + \
        (f" {full_url}" if method == "POST" else "") + f" #{digest}"
    refs = frozenset(m.decode("utf-8") if b"\\" not in m else loads(b'"' + m + b'"')
                     for m in _REF_RE.findall(plain))
    if run_id and "meta" not in resource and plain.endswith(b"}") and len(plain) > 2:
        # add the run tag without encoding the resource a second time
        encoded_resource = plain[:-1] + b',"meta":' + _tag_json(run_id) + b"}"
        resource = {**resource, "meta": {"tag": [{"system": TAG_SYSTEM, "code": run_id}]}}
    else:
        resource = _tagged(resource, run_id)
        encoded_resource = dumps(resource) if run_id else plain
    request_json = b'{"method":"' + method.encode() + b'","url":' + _jstr(url) + \
        (b',"ifNoneExist":' + _jstr(if_none_exist) if if_none_exist else b"") + b"}"
    encoded = (b'{"fullUrl":' + _jstr(full_url) + b"," if full_url else b"{") + b'"resource":' + \
        encoded_resource + b',"request":' + request_json + b"}"
    return Entry(file, index, resource, method, url, full_url, if_none_exist, key, refs, encoded, problems)


def entries_of(data: Any, file: str, *, mode: str = "put", run_id: str | None = None,
               notices: list[str] | None = None) -> tuple[list[Entry], list[str]]:
    """Normalise a parsed Bundle or resource (or a list of resources) into entries."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    notes = notices if notices is not None else []
    errors: list[str] = []
    # A bundle wraps its resources three levels deep (entry list, entry, resource).
    if json_depth(data, MAX_DEPTH + 3) > MAX_DEPTH + 3:
        return [], [f"{file}: JSON nested more than {MAX_DEPTH} levels deep inside its resources; "
                    "not a plausible FHIR bundle, nothing to push"]
    raws: list[dict[str, Any]]
    if isinstance(data, list):
        raws = [{"resource": r} for r in data]
    elif isinstance(data, dict) and data.get("resourceType") == "Bundle" and \
            data.get("type") in ("transaction", "batch", "collection", "searchset"):
        raws = [e if isinstance(e, dict) else {} for e in data.get("entry") or []]
        if data.get("type") in ("collection", "searchset"):
            raws = [{"fullUrl": e.get("fullUrl"), "resource": e.get("resource")} for e in raws]
    elif isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        raws = [{"resource": data}]
    else:
        return [], [f"{file}: not a FHIR Bundle or resource (no resourceType); nothing to push"]
    entries = [_normalise(file, i, raw, mode, run_id, notes) for i, raw in enumerate(raws)]
    for e in entries:
        errors.extend(f"{file} entry {e.index}: {p}" for p in e.problems)
    return entries, errors


def load_file(path: str | os.PathLike[str], *, mode: str = "put", run_id: str | None = None) -> LoadedFile:
    """Read one ``.json`` (Bundle or resource) or ``.ndjson`` (resources) file."""
    name = str(path)
    notices: list[str] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedFile(name, [], [f"{name}: cannot be read ({exc.__class__.__name__}: {exc}); "
                                     "check the path and that it is a UTF-8 JSON file"], notices)
    try:
        if name.endswith(".ndjson"):
            data: Any = [loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = loads(text)
    except json.JSONDecodeError as exc:
        return LoadedFile(name, [], [f"{name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"],
                          notices)
    except (RecursionError, ValueError, TypeError):
        return LoadedFile(name, [], [f"{name}: JSON nested too deeply to read; not a FHIR bundle"], notices)
    entries, errors = entries_of(data, name, mode=mode, run_id=run_id, notices=notices)
    return LoadedFile(name, entries, errors, notices)


# --------------------------------------------------------------------------- chunking
def _sccs(n: int, edges: list[list[int]]) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively."""
    index = [0] * n
    low = [0] * n
    on_stack = [False] * n
    visited = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 1
    for root in range(n):
        if visited[root]:
            continue
        work: list[tuple[int, Iterator[int]]] = [(root, iter(edges[root]))]
        visited[root] = True
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if not visited[w]:
                    visited[w] = True
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, iter(edges[w])))
                    pushed = True
                    break
                if on_stack[w]:
                    low[v] = min(low[v], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def dependency_edges(entries: list[Entry]) -> list[list[int]]:
    """``edges[i]`` = indexes of the entries that entry i references."""
    alias: dict[str, int] = {}
    for i, e in enumerate(entries):
        if e.full_url:
            alias[e.full_url] = i
        if e.literal:
            alias.setdefault(e.literal, i)
    edges: list[list[int]] = []
    for i, e in enumerate(entries):
        targets = sorted({alias[r] for r in e.refs if r in alias and alias[r] != i})
        edges.append(targets)
    return edges


def plan_chunks(entries: list[Entry], *, max_entries: int = 100, max_bytes: int = 1 << 20,
                prefix: str = "") -> list[Chunk]:
    """Group entries of one file into chunks; each chunk only references itself or earlier chunks.

    A reference cycle larger than the limits is kept whole (one oversized chunk) since
    splitting it would leave a reference dangling.
    """
    if max_entries < 1 or max_bytes < 1:
        raise ValueError("max_entries and max_bytes must be positive")
    n = len(entries)
    if n == 0:
        return []
    edges = dependency_edges(entries)
    if n <= max_entries and BUNDLE_OVERHEAD + sum(e.size for e in entries) <= max_bytes and \
            all(j < i for i, targets in enumerate(edges) for j in targets):
        # the usual case: it fits, and every entry comes after what it references
        return [Chunk(f"{prefix}0", entries[0].file, list(entries))]
    comps = _sccs(n, edges)
    comp_of = [0] * n
    for c, members in enumerate(comps):
        for m in members:
            comp_of[m] = c
    # condensation: comp c depends on comp d when a member of c references a member of d
    needs: list[set[int]] = [set() for _ in comps]
    users: list[set[int]] = [set() for _ in comps]
    for i, targets in enumerate(edges):
        for j in targets:
            c, d = comp_of[i], comp_of[j]
            if c != d:
                needs[c].add(d)
                users[d].add(c)
    remaining = [len(s) for s in needs]
    heap = [(comps[c][0], c) for c in range(len(comps)) if remaining[c] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _, c = heapq.heappop(heap)
        order.append(c)
        for u in users[c]:
            remaining[u] -= 1
            if remaining[u] == 0:
                heapq.heappush(heap, (comps[u][0], u))
    chunks: list[Chunk] = []
    chunk_of_entry: dict[int, int] = {}
    current: list[int] = []
    current_bytes = BUNDLE_OVERHEAD
    for c in order:
        members = comps[c]
        size = sum(entries[m].size for m in members)
        if current and (len(current) + len(members) > max_entries or current_bytes + size > max_bytes):
            chunks.append(Chunk("", entries[0].file, [entries[i] for i in current]))
            current, current_bytes = [], BUNDLE_OVERHEAD
        for m in members:
            chunk_of_entry[m] = len(chunks)
        current.extend(members)
        current_bytes += size
    if current:
        chunks.append(Chunk("", entries[0].file, [entries[i] for i in current]))
    for k, ch in enumerate(chunks):
        ch.id = f"{prefix}{k}"
    for i, targets in enumerate(edges):
        for j in targets:
            a, b = chunk_of_entry[i], chunk_of_entry[j]
            if a != b:
                chunks[a].deps.add(chunks[b].id)
    return chunks


def split_to(chunk: Chunk, max_entries: int) -> list[Chunk]:
    """A chunk planned before the server's limit was known, cut to it (each piece after the ones it
    references); the chunk itself when it fits or cannot be cut."""
    if len(chunk.entries) <= max_entries:
        return [chunk]
    pieces = plan_chunks(chunk.entries, max_entries=max_entries, max_bytes=1 << 62, prefix=f"{chunk.id}.")
    for piece in pieces:
        piece.deps |= chunk.deps
    return pieces if len(pieces) > 1 else [chunk]


def split_chunk(chunk: Chunk) -> tuple[Chunk, Chunk] | None:
    """Halve a chunk (after a 413) keeping reference order; ``None`` when it cannot be split."""
    entries = chunk.entries
    if len(entries) < 2:
        return None
    pieces = plan_chunks(entries, max_entries=max(1, (len(entries) + 1) // 2), max_bytes=1 << 62)
    if len(pieces) < 2:
        return None
    first = pieces[0].entries
    rest = [e for p in pieces[1:] for e in p.entries]
    a = Chunk(f"{chunk.id}a", chunk.file, first, set(chunk.deps))
    b = Chunk(f"{chunk.id}b", chunk.file, rest, set(chunk.deps) | {a.id})
    return a, b


# --------------------------------------------------------------------------- request bodies
def chunk_body(chunk: Chunk, bundle_type: str, resolved: dict[str, str]) -> bytes:
    """The Bundle to POST for ``chunk``.

    ``resolved`` maps fullUrls (and other reference strings) of entries written elsewhere
    to their ``Type/id``; references to them are rewritten. Inside a transaction the
    chunk's own fullUrls are left for the server to resolve; a batch cannot resolve them,
    so there every known reference is rewritten.
    """
    own = {e.full_url for e in chunk.entries if e.full_url} if bundle_type == "transaction" else set()
    parts: list[bytes] = []
    for e in chunk.entries:
        mapping = {r: resolved[r] for r in e.refs if r in resolved and r not in own and resolved[r] != r}
        if not mapping:
            parts.append(e.encoded)
            continue
        obj: dict[str, Any] = {}
        if e.full_url:
            obj["fullUrl"] = e.full_url
        obj["resource"] = _rewrite_refs(e.resource, mapping)
        req: dict[str, Any] = {"method": e.method, "url": e.url}
        if e.if_none_exist:
            req["ifNoneExist"] = e.if_none_exist
        obj["request"] = req
        parts.append(dumps(obj))
    return b'{"resourceType":"Bundle","type":"' + bundle_type.encode() + b'","entry":[' + b",".join(parts) + b"]}"


def static_resolution(entries: Iterable[Entry]) -> dict[str, str]:
    """fullUrl → ``Type/id`` for every entry whose id is known before writing."""
    out: dict[str, str] = {}
    for e in entries:
        if e.full_url and e.literal:
            out[e.full_url] = e.literal
    return out


def expected_resource(entry: Entry, resolved: dict[str, str]) -> dict[str, Any]:
    """What the server should hold for ``entry`` (references as ``Type/id``)."""
    mapping = {r: resolved[r] for r in entry.refs if r in resolved}
    return _rewrite_refs(copy.deepcopy(entry.resource), mapping) if mapping else entry.resource


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]
