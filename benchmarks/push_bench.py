"""Push throughput: fhirconv's FhirClient against a bare httpx loop, same server, same run.

Starts the local test FHIR server (tests/fhir_server; run ``make test`` or ``npm ci`` there
first), writes N generated case bundles, then alternates, round by round:

* bare: one ``httpx.Client`` POSTing the very transaction bodies fhirconv sends, one after
  the other, checking only the status code;
* fhirconv: ``FhirClient.push_files`` on the bundle files (capability check, planning,
  journal with fsync, per-entry report), concurrency 1;
* fhirconv with concurrency 2 and 4 (to show how it scales where the server allows).

The server is emptied before every run so each run creates the same resources. Prints
resources/s (median over rounds) and the ratio fhirconv / bare (median of the per-round
ratios, target ≥ 0.87); with
``--check`` exits 1 when the ratio is below the target. ``--json`` prints the numbers.

    python benchmarks/push_bench.py [--bundles 200] [--observations 8] [--rounds 15] [--warmup 3] [--workers 2]

With ``--workers 2`` the server is two processes behind a round-robin proxy (tests/fhir_server/
balancer.js): the single-threaded test server cannot work on two transactions at once, so only a
server with several workers shows what concurrency buys.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from fhirconv.push import FhirClient
from fhirconv.push.plan import chunk_body, load_file, new_run_id, plan_chunks, static_resolution

ROOT = Path(__file__).resolve().parents[1]
SERVER_DIR = ROOT / "tests" / "fhir_server"
TARGET = 0.87
NS = uuid.UUID("0b7d2b8c-51e5-4f0e-9d8a-5a0c2f4e1a77")


def start_server(script: str = "server.js", *args: str) -> tuple[subprocess.Popen[str], int]:
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        sys.exit("the test FHIR server is not installed: run `make test` or `cd tests/fhir_server && npm ci`")
    proc = subprocess.Popen(["node", script, *(args or ("0",))], cwd=SERVER_DIR, stdout=subprocess.PIPE,
                            text=True)
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(60)
    if not box or not box[0].startswith("PORT "):
        proc.kill()
        sys.exit("the test FHIR server did not start")
    return proc, int(box[0].split()[1])


def bundle(n: int, observations: int) -> dict[str, Any]:
    def uid(kind: str, i: int = 0) -> str:
        return str(uuid.uuid5(NS, f"{n}/{kind}/{i}"))

    pid, cid = uid("p"), uid("c")
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:{pid}", "request": {"method": "PUT", "url": f"Patient/{pid}"},
         "resource": {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1960-05-01"}},
        {"fullUrl": f"urn:uuid:{cid}", "request": {"method": "PUT", "url": f"Condition/{cid}"},
         "resource": {"resourceType": "Condition", "id": cid, "subject": {"reference": f"urn:uuid:{pid}"},
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "363346000",
                                           "display": "Malignant neoplastic disease"}]}}},
    ]
    for i in range(observations):
        oid = uid("o", i)
        entries.append({
            "fullUrl": f"urn:uuid:{oid}", "request": {"method": "PUT", "url": f"Observation/{oid}"},
            "resource": {"resourceType": "Observation", "id": oid, "status": "final",
                         "code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
                                              "display": "Hemoglobin [Mass/volume] in Blood"}]},
                         "subject": {"reference": f"urn:uuid:{pid}"},
                         "valueQuantity": {"value": 10 + i / 10, "unit": "g/dL",
                                           "system": "http://unitsofmeasure.org", "code": "g/dL"}}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def bare_loop(base: str, bodies: list[bytes]) -> float:
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    started = time.perf_counter()
    with httpx.Client(timeout=60.0) as client:
        for body in bodies:
            r = client.post(base, content=body, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"bare loop: HTTP {r.status_code}: {r.text[:300]}")
    return time.perf_counter() - started


def fhirconv_push(base: str, paths: list[Path], journal: Path, concurrency: int) -> float:
    started = time.perf_counter()
    with FhirClient(base) as client:
        report = client.push_files(paths, journal=journal, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    if report.exit_code != 0:
        raise SystemExit(f"fhirconv push failed: {report.summary()}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundles", type=int, default=200)
    ap.add_argument("--observations", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured rounds first (default 3)")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes; more than one run behind a round-robin proxy (default 1)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help=f"exit 1 when fhirconv < {TARGET} x bare")
    args = ap.parse_args(argv)

    procs = [start_server() for _ in range(args.workers)]
    if args.workers > 1:
        # several server processes behind a round-robin proxy: a server with more than one worker
        procs.append(start_server("balancer.js", *(str(port) for _, port in procs)))
    port = procs[-1][1]
    base = f"http://127.0.0.1:{port}/fhir"
    reset = f"http://127.0.0.1:{port}/__reset"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmpdir = Path(tmp)
            paths = []
            for n in range(args.bundles):
                p = tmpdir / f"case-{n:04d}.json"
                p.write_text(json.dumps(bundle(n, args.observations)))
                paths.append(p)
            resources = args.bundles * (2 + args.observations)
            # the exact transactions fhirconv sends (tagged with a run id), for the bare loop
            run_id = new_run_id()
            bodies: list[bytes] = []
            for p in paths:
                loaded = load_file(p, run_id=run_id)
                resolved = static_resolution(loaded.entries)
                bodies.extend(chunk_body(c, "transaction", resolved) for c in plan_chunks(loaded.entries))
            runs: dict[str, list[float]] = {"bare": [], "fhirconv": [], "fhirconv-c2": [], "fhirconv-c4": []}
            # warm up: the server's JIT keeps speeding up for a few thousand requests, and a
            # baseline that drifts during the run makes the per-round ratios noisy
            for w in range(args.warmup):
                httpx.post(reset)
                bare_loop(base, bodies)
                httpx.post(reset)
                fhirconv_push(base, paths, tmpdir / f"journal-warmup-{w}.jsonl", 1)
            for r in range(args.rounds):
                order = list(runs) if r % 2 == 0 else ["fhirconv", "bare", "fhirconv-c2", "fhirconv-c4"]
                for name in order:
                    httpx.post(reset)
                    if name == "bare":
                        seconds = bare_loop(base, bodies)
                    else:
                        conc = int(name.split("-c")[1]) if "-c" in name else 1
                        seconds = fhirconv_push(base, paths, tmpdir / f"journal-{r}-{name}.jsonl", conc)
                    runs[name].append(resources / seconds)
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)
    rates = {k: statistics.median(v) for k, v in runs.items()}
    # each round runs bare and fhirconv back to back: the ratio within a round cancels the drift of a
    # shared machine; the median over rounds is the figure to compare with the target
    ratio = statistics.median(f / b for f, b in zip(runs["fhirconv"], runs["bare"], strict=True))
    result = {
        "bundles": args.bundles, "resources_per_run": resources, "rounds": args.rounds, "workers": args.workers,
        "resources_per_s": {k: round(v, 1) for k, v in rates.items()},
        "all_runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
        "ratio_fhirconv_vs_bare": round(ratio, 3), "target": TARGET,
        "ratio_of_medians": round(rates["fhirconv"] / rates["bare"], 3),
        "scaling_c4_vs_c1": round(rates["fhirconv-c4"] / rates["fhirconv"], 2),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{resources} resources per run, {args.bundles} transactions, median of {args.rounds} rounds, "
              f"{args.workers} server worker(s)")
        for k, v in rates.items():
            print(f"  {k:<12} {v:9.1f} resources/s")
        print(f"  fhirconv / bare = {ratio:.3f} (median of per-round ratios; target >= {TARGET})")
    return 1 if args.check and ratio < TARGET else 0


if __name__ == "__main__":
    raise SystemExit(main())
