"""Layer 7, profiles: a resource against the IG profiles it claims (``meta.profile``) or is asked to meet.

The rules come from ``data/profiles.json.gz``, built by ``scripts/build_profiles.py``: the snapshots
of mCODE 4.0.0 and IPS 2.0.0, and US Core 6.1.0's differentials merged over the R4 definitions (US Core
is not on npm). What is checked, for every element outside a slice:

* cardinality (``min``/``max``) within each instance of its parent;
* ``fixed[x]`` (equal) and ``pattern[x]`` (contained) values;
* the types a profile allows for a choice element (``value[x]``: Quantity, CodeableConcept ...);
* required bindings the profile adds, against the value sets expanded when the data was built;
* the resource types a reference may point to (from its target profiles);
* must-support elements that are absent: information;
* slices told apart by ``value``/``pattern`` discriminators (a fixed ``url``, a pattern on ``$this``
  or on a child, or a required binding, as US Core's ``category:us-core``): each slice's cardinality,
  and nothing outside the slices of a closed slicing;
* the constraints the profile adds (FHIRPath: compiled where possible, else fhirpathpy); a constraint
  holds only when true, so an empty result fails too, except where it tests types.

The elements inside a slice are checked on the items the slice matched. Not checked yet, and said so
once per resource and profile: slices whose discriminator is a type or a profile (and so their
elements), slices nested in slices, bindings to value sets that cannot be expanded offline, whether a
reference's target meets its target profile (only its type is checked). A claimed profile fhirconv does
not ship, or another version of one it ships, is information ("not validated").
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ..model import Issue, Severity
from . import _data
from . import _elements as el
from ._invariants import empty_fails
from ._references import literal_type
from ._walk import Context, Res

LAYER = "profile"
_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING}


# a whole guide asked for (``--profile us-core``): every resource of a type it profiles must claim one
GUIDE_PREFIX = "guide:"
GUIDES = {"us-core": "http://hl7.org/fhir/us/core/StructureDefinition/",
          "mcode": "http://hl7.org/fhir/us/mcode/StructureDefinition/",
          "ips": "http://hl7.org/fhir/uv/ips/StructureDefinition/"}


@cache
def profiles() -> dict[str, Any]:
    shipped: dict[str, Any] = _data.profiles()["profiles"]
    return shipped


def resolve(name: str) -> str | None:
    """A profile's canonical URL from its URL (with or without ``|version``), its id (the URL's last
    part: ``mcode-primary-cancer-condition``) or its name (``PrimaryCancerCondition``)."""
    url = name.split("|", 1)[0]
    if url in profiles():
        return url
    by_name = {p["name"].lower(): u for u, p in profiles().items()}
    by_id = {u.rsplit("/", 1)[-1].lower(): u for u in profiles()}
    return by_id.get(name.lower()) or by_name.get(name.lower())


class _Shared:
    """What the checkers of one validation share: the types of ``urn:uuid`` targets, and verdicts on
    whether a resource meets a profile (a slice of Bundle.entry discriminated by profile asks it of
    every entry)."""

    def __init__(self, ctx: Context) -> None:
        self.targets = {r.full_url: r.type for r in ctx.resources if r.full_url}
        self._res = {id(r.data): r for r in ctx.resources}
        self._by_url = {r.full_url: r for r in ctx.resources if r.full_url}
        self._by_type_id = {f"{r.type}/{r.data.get('id')}": r for r in ctx.resources if r.data.get("id")}
        self._runs: dict[tuple[int, str], list[Issue]] = {}

    def run(self, res: Res, url: str) -> list[Issue]:
        """The issues of ``res`` against profile ``url``, worked out once per validation."""
        key = (id(res.data), url)
        if key not in self._runs:
            self._runs[key] = _Checker(res, url, profiles()[url], self).run()
        return self._runs[key]

    def resolve(self, reference: Any) -> dict[str, Any] | None:
        """The resource a Reference points to inside this input (by fullUrl, or ``Type/id``), else None."""
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str):
            return None
        hit = self._by_url.get(ref) or self._by_type_id.get("/".join(ref.split("/")[-2:]))
        return hit.data if hit is not None else None

    def conforms(self, resource: dict[str, Any], urls: list[str] | tuple[str, ...]) -> bool | None:
        """True if the resource meets one of the profiles (it is checked against them, not merely taken
        at its claim); None when none of them is shipped or the resource is not one of this input's."""
        res = self._res.get(id(resource))
        known = [u for u in urls if u in profiles()]
        if res is None or not known:
            return None
        return any(profiles()[url]["type"] == res.type
                   and not any(i.severity == Severity.ERROR for i in self.run(res, url)) for url in known)


@cache
def _plan(url: str) -> list[tuple[dict[str, Any], list[tuple[str, str | None]]]]:
    """A profile's elements outside slices, with their parsed paths (the slices: the slicing pass)."""
    out = []
    for e in profiles()[url]["elements"][1:]:
        segments = el.segments(e["id"])
        if all(s is None for _, s in segments):
            out.append((e, segments))
    return out


class _Checker:
    def __init__(self, res: Res, url: str, profile: dict[str, Any], shared: _Shared) -> None:
        self.res, self.url, self.profile, self.shared = res, url, profile, shared
        self.targets = shared.targets
        self.name = profile["name"]
        self.by_id = {e["id"]: e for e in profile["elements"]}
        self._memo: dict[tuple[str, ...], list[tuple[Any, str]]] = {}
        self._matched: dict[str, list[tuple[Any, str]]] = {}      # slice id -> the items it matched
        self.issues: list[Issue] = []
        self.unchecked: set[str] = set()

    def _add(self, severity: Severity, loc: str, message: str, code: str = "structure") -> None:
        self.issues.append(Issue(severity, loc, f"{self.name}: {message}", LAYER, code,
                                 f"{self.url}|{self.profile['version']}"))

    def _instances(self, segments: list[tuple[str, str | None]]) -> list[tuple[Any, str]] | None:
        """The instances at a path of plain (unsliced) segments, or None if a segment is a slice."""
        if any(slice_name is not None for _, slice_name in segments):
            return None
        key = tuple(name for name, _ in segments)
        got = self._memo.get(key)
        if got is None:             # each parent path is walked once per resource, not once per child
            parent = self._instances(segments[:-1]) if segments else None
            got = [(v, loc) for v, loc, _ in el.children(parent, key[-1])] if parent is not None \
                else [(self.res.data, self.res.loc)]
            self._memo[key] = got
        return got

    def run(self) -> list[Issue]:
        for e, segments in _plan(self.url):
            parents = self._instances(segments[:-1])
            if parents is None:
                continue
            self._element(e, segments[-1][0], parents)
            if "slicing" in e:
                self._slices(e, segments[-1][0], parents)
        for c in self.profile["constraints"]:
            self._constraint(c)
        if self.unchecked:
            self._add(Severity.INFORMATION, self.res.loc, "not checked: " + "; ".join(sorted(self.unchecked)),
                      "informational")
        return self.issues

    def _element(self, e: dict[str, Any], name: str, parents: list[tuple[Any, str]]) -> None:
        for parent, ploc in parents:
            found = el.children([(parent, ploc)], name)
            n, top = len(found), e["max"]
            if n < e["min"]:
                self._add(Severity.ERROR, f"{ploc}.{name}", f"{e['path']} is required (min {e['min']}), "
                                                            f"found {n}", "required")
            elif top != "*" and n > int(top):
                self._add(Severity.ERROR, f"{ploc}.{name}", f"{e['path']} allows at most {top}, found {n}")
            elif not n and e.get("mustSupport") and parent is self.res.data:
                self._add(Severity.INFORMATION, f"{ploc}.{name}", f"must-support element {e['path']} is absent",
                          "informational")
            for value, loc, suffix in found:
                if "fixed" in e and value != e["fixed"]:
                    self._add(Severity.ERROR, loc, f"{e['path']} must be {e['fixed']!r}", "value")
                if "pattern" in e and not el.contains(value, e["pattern"]):
                    self._add(Severity.ERROR, loc, f"{e['path']} must contain {e['pattern']!r}", "value")
                if suffix and "types" in e and suffix not in {el.type_suffix(t) for t in e["types"]}:
                    self._add(Severity.ERROR, loc, f"{e['path']} may be {'|'.join(e['types'])}, not {suffix}",
                              "value")
                if "binding" in e:
                    self._binding(e, value, loc)
                if "targets" in e:
                    self._target(e, value, loc)
                if "profiles" in e and e["path"].endswith(".resource") and isinstance(value, dict):
                    verdict = self.shared.conforms(value, e["profiles"])
                    if verdict is None:
                        self.unchecked.add(f"whether {e['id']} meets {', '.join(e['profiles'])}")
                    elif not verdict:
                        self._add(Severity.ERROR, loc, f"{e['path']} must meet "
                                                       f"{' or '.join(u.rsplit('/', 1)[-1] for u in e['profiles'])}",
                                  "value")

    def _binding(self, e: dict[str, Any], value: Any, loc: str) -> None:
        pairs = el.value_set(e["binding"])
        if pairs is None:
            self.unchecked.add(f"the binding of {e['id']} to {e['binding']} (not expandable offline)")
        elif el.in_value_set(value, pairs) is False:
            codes = sorted(code for _s, code in pairs)
            shown = "|".join(codes[:8]) + ("|..." if len(codes) > 8 else "")
            self._add(Severity.ERROR, loc, f"{e['path']} must come from the required value set {e['binding']} "
                                           f"({shown})", "code-invalid")

    def _target(self, e: dict[str, Any], value: Any, loc: str) -> None:
        """A reference's target must be of a type one of the element's target profiles is about."""
        ref = value.get("reference") if isinstance(value, dict) else None
        if not isinstance(ref, str):
            return
        kind = self.targets.get(ref) or literal_type(ref)
        if kind is None:
            return
        allowed = e["targets"]
        if kind not in allowed:
            self._add(Severity.ERROR, loc, f"{e['path']} must refer to {'|'.join(allowed)}, not {kind}",
                      "value")

    def _slices(self, root: dict[str, Any], name: str, parents: list[tuple[Any, str]]) -> None:
        slices = [s for s in self.profile["elements"] if s["id"].startswith(root["id"] + ":")
                  and ":" not in s["id"][len(root["id"]) + 1:] and "." not in s["id"][len(root["id"]) + 1:]]
        discriminators = root["slicing"]["discriminator"]
        rules: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = []
        for s in slices:
            match = self._slice_match(s, discriminators)
            if match is None:
                self.unchecked.add(f"slice {s['id']} (discriminated by "
                                   f"{', '.join(d['type'] + ' ' + d['path'] for d in discriminators)})")
            else:
                rules.append((s, match))
        if len(rules) < len(slices):
            return
        for parent, ploc in parents:
            found = el.children([(parent, ploc)], name)
            claimed = [False] * len(found)
            try:
                hits_by_slice = [[i for i, (v, _, suffix) in enumerate(found)
                                  if all(self._hit(v, suffix, p, x) for p, x in match)] for _, match in rules]
            except el.CannotJudge:
                self.unchecked.add(f"the slices of {root['id']} (a reference points outside the input)")
                continue
            for (s, _match), hits in zip(rules, hits_by_slice, strict=True):
                for i in hits:
                    claimed[i] = True
                matched = [(found[i][0], found[i][1]) for i in hits]
                self._matched.setdefault(s["id"], []).extend(matched)
                self._inside(s, matched)
                top = s["max"]
                if len(hits) < s["min"]:
                    self._add(Severity.ERROR, f"{ploc}.{name}", f"slice {s['sliceName']} of {s['path']} is "
                                                                f"required (min {s['min']}), found {len(hits)}",
                              "required")
                elif top != "*" and len(hits) > int(top):
                    self._add(Severity.ERROR, f"{ploc}.{name}", f"slice {s['sliceName']} of {s['path']} allows "
                                                                f"at most {top}, found {len(hits)}")
            if root["slicing"]["rules"] == "closed":
                for i, (_, loc, _) in enumerate(found):
                    if not claimed[i]:
                        self._add(Severity.ERROR, loc, f"{root['path']} is closed to its slices; this item "
                                                       "matches none")

    def _inside(self, s: dict[str, Any], items: list[tuple[Any, str]]) -> None:
        """The elements of slice ``s`` (``Observation.category:VSCat.coding.code``) on the items it matched,
        and the slicings among them (slices nested in the slice)."""
        prefix = s["id"] + "."
        for e in self.profile["elements"]:
            if not e["id"].startswith(prefix) or ":" in e["id"][len(prefix):]:
                continue
            parts = e["id"][len(prefix):].split(".")
            parents = items
            for part in parts[:-1]:
                parents = [(v, loc) for v, loc, _ in el.children(parents, part)]
            self._element(e, parts[-1], parents)
            if "slicing" in e:
                self._slices(e, parts[-1], parents)

    def _hit(self, value: Any, suffix: str, path: str, want: Any) -> bool:
        """Whether an item (its value, and its type if it is a choice) belongs to a slice by one
        discriminator."""
        if isinstance(want, el.OfType):
            if path == "$this":
                if suffix:
                    return suffix in {el.type_suffix(t) for t in want.types}
                return isinstance(value, dict) and value.get("resourceType") in want.types
            return any(isinstance(v, dict) and v.get("resourceType") in want.types for v in el.at(value, path))
        if isinstance(want, el.Conforms):
            if want.resolve:
                target = self.shared.resolve(value)
                if target is None:
                    raise el.CannotJudge
                return bool(self.shared.conforms(target, want.urls))
            return any(isinstance(v, dict) and self.shared.conforms(v, want.urls) for v in el.at(value, path))
        return el.matches(el.at(value, path), want)

    def _slice_match(self, s: dict[str, Any], discriminators: list[dict[str, str]]) -> list[tuple[str, Any]] | None:
        """(path, value) pairs an item must contain to belong to slice ``s``; None if not derivable."""
        match: list[tuple[str, Any]] = []
        for d in discriminators:
            path = d["path"]
            element: dict[str, Any] | None = s if path == "$this" else self.by_id.get(f"{s['id']}.{path}")
            if d["type"] == "type" and element is not None:
                types = [t for t in element.get("types", []) if t not in ("Resource", "DomainResource")]
                types += [profiles()[u]["type"] for u in element.get("profiles", []) if u in profiles()]
                if not types:
                    return None
                match.append((path, el.OfType(tuple(types))))
                continue
            if d["type"] == "profile" and path in el.RESOLVE:        # the referenced resource meets a profile
                element = s
                urls = s.get("targetProfiles") or []
                if not urls or not all(u in profiles() for u in urls):
                    return None
                match.append((path, el.Conforms(tuple(urls), resolve=True)))
                continue
            if d["type"] == "profile" and element is not None and element.get("profiles"):
                if not all(u in profiles() for u in element["profiles"]):
                    return None
                match.append((path, el.Conforms(tuple(element["profiles"]))))
                continue
            if d["type"] not in ("value", "pattern"):
                return None
            want = None
            if element is not None:
                want = element.get("fixed", element.get("pattern"))
            if want is None and path == "url" and s.get("profiles"):
                want = s["profiles"][0]
            if want is None and element is not None and "binding" in element:
                pairs = el.value_set(element["binding"])       # a required binding discriminates the slice
                if pairs is None:
                    return None
                match.append((path, el.InValueSet(pairs)))
                continue
            if want is None:
                return None
            match.append((path, want))
        return match

    def _constraint(self, c: dict[str, str]) -> None:
        segments = el.segments(c["id"])
        nodes = self._instances(segments) if segments else [(self.res.data, self.res.loc)]
        if nodes is None:                   # inside a slice: on the items the slice matched
            last = max(i for i, (_, sl) in enumerate(segments) if sl is not None)
            slice_id = ".".join([c["id"].split(".", 1)[0], *(f"{n}:{sl}" if sl else n
                                                             for n, sl in segments[:last + 1])])
            items = self._matched.get(slice_id)
            if items is None:
                self.unchecked.add(f"constraint {c['key']} inside a slice")
                return
            nodes = items
            for name, _ in segments[last + 1:]:
                nodes = [(v, loc) for v, loc, _ in el.children(nodes, name)]
        from ._invariants import evaluate

        base = c["path"] if segments else self.res.type
        for value, loc in nodes:
            try:
                result = evaluate(c, value, base, self.res.data, self.res.root)
            except Exception:  # noqa: BLE001 - fhirpathpy raises plain Exceptions on what it cannot do
                self.unchecked.add(f"constraint {c['key']} (fhirpathpy cannot evaluate it)")
                continue
            if result == [False] or (result == [] and empty_fails(c["expression"])):
                self._add(_SEVERITY.get(c["severity"], Severity.ERROR), loc, f"{c['key']}: {c['human']}",
                          "invariant")


def check(ctx: Context, requested: tuple[str, ...] = ()) -> list[Issue]:
    """Each resource against the shipped profiles it claims and the requested ones of its type."""
    issues: list[Issue] = []
    shipped = profiles()
    shared = _Shared(ctx)
    for res in ctx.resources:
        meta = res.data.get("meta")
        claims = meta.get("profile") if isinstance(meta, dict) else None
        urls: list[str] = []
        for i, claim in enumerate(claims if isinstance(claims, list) else []):
            if not isinstance(claim, str) or not claim:
                continue
            url = resolve(claim)
            version = claim.split("|", 1)[1] if "|" in claim else ""
            if url is not None and version and version != shipped[url]["version"]:
                issues.append(Issue(Severity.INFORMATION, f"{res.loc}.meta.profile[{i}]",
                                    f"declares the profile {claim}: not validated (fhirconv ships version "
                                    f"{shipped[url]['version']} of it)", LAYER, "informational"))
                continue
            if url is None:
                issues.append(Issue(Severity.INFORMATION, f"{res.loc}.meta.profile[{i}]",
                                    f"declares the profile {claim}: not validated (fhirconv ships the "
                                    "US Core 6.1.0, mCODE 4.0.0 and IPS 2.0.0 profiles)", LAYER, "informational"))
            elif url not in urls:
                urls.append(url)
        for guide in (r[len(GUIDE_PREFIX):] for r in requested if r.startswith(GUIDE_PREFIX)):
            own = [u for u, p in shipped.items() if u.startswith(GUIDES[guide]) and p["type"] == res.type]
            accepted = (GUIDES[guide], GUIDES["us-core"]) if guide == "mcode" else (GUIDES[guide],)
            if own and not any(u.startswith(accepted) for u in urls):       # mCODE builds on US Core
                issues.append(Issue(Severity.WARNING, res.loc, f"claims no {guide} profile; {guide} has "
                                    f"{len(own)} for {res.type} (e.g. {own[0].rsplit('/', 1)[-1]})", LAYER,
                                    "informational"))
        urls += [u for u in requested if u in shipped and shipped[u]["type"] == res.type and u not in urls]
        for url in urls:
            if shipped[url]["type"] != res.type:
                issues.append(Issue(Severity.ERROR, res.loc, f"claims {url}, a profile of {shipped[url]['type']}",
                                    LAYER, "invalid"))
                continue
            issues += shared.run(res, url)
    return issues
