"""Performance figures of lenadex, printed as a table.

    .venv/bin/python bench/bench.py            # everything (about 2 minutes)
    .venv/bin/python bench/bench.py --quick    # fewer iterations, shorter load phases

a. rules core: evaluations per second and µs per evaluation for a realistic snapshot;
b. the whole pipeline in process (request JSON bytes → cards JSON bytes) for a small record
   and a large one (≥ 200 Observations, 50 MedicationRequests, 30 Conditions), p50/p95/p99;
c. over HTTP on 127.0.0.1 with the production server (gunicorn, workers = cores): requests/s
   and latency at saturation (wrk when installed, else a Python client) and at a fixed
   moderate rate;
d. no prefetch: everything fetched from a stand-in FHIR server that adds 20 ms per request.

Every load is bounded in count and time and goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fhir_mappings import build_snapshot  # noqa: E402
from rules import Evaluation, evaluate  # noqa: E402
from sandbox.catalogue import fhir_resources, hook_request  # noqa: E402
from sandbox.fhir_server import StandInFhirServer  # noqa: E402
from service.hook_request import parse_hook_request  # noqa: E402
from service.pipeline import answer_hook  # noqa: E402
from service.prefetch import client_for, resolve_prefetch  # noqa: E402
from service.app import freeze_startup_heap  # noqa: E402
from service.declarations import SERVICES_BY_ID  # noqa: E402

SERVICE = "lenalidomide-order-select"
PATIENT = "moderate-renal"
GOALS = {
    "rules_us": 50.0,
    "small_p99_ms": 5.0,
    "large_p99_ms": 25.0,
    "http_rps": 500.0,
    "http_p99_ms": 50.0,
    "fetch_delay_ms": 20.0,
}


# --- measuring ---------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(function: Callable[[], Any], count: int) -> list[float]:
    """Milliseconds per call, after a short warm-up."""
    for _ in range(min(20, count)):
        function()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    return (
        f"p50 {percentile(samples, 50):.2f} ms · p95 {percentile(samples, 95):.2f} ms · "
        f"p99 {percentile(samples, 99):.2f} ms"
    )


# --- records -----------------------------------------------------------------------------------


def large_request() -> dict[str, Any]:
    """The moderate-renal request with years of history: 200+ Observations, 50
    MedicationRequests and 30 Conditions in prefetch."""
    request = hook_request(PATIENT, "order-select", hook_instance="bench-large")
    prefetch = request["prefetch"]
    today = date.today()
    codes = [
        ("2160-0", "mg/dL", 1.1),
        ("751-8", "10*3/uL", 3.1),
        ("777-3", "10*3/uL", 210.0),
        ("718-7", "g/dL", 11.2),
        ("29463-7", "kg", 56.0),
        ("1742-6", "U/L", 22.0),
        ("1920-8", "U/L", 25.0),
        ("3016-3", "m[IU]/L", 2.1),
    ]
    observations = prefetch["observations"].setdefault("entry", [])
    for index in range(240):
        code, unit, value = codes[index % len(codes)]
        when = today - timedelta(days=20 + index * 7)
        observations.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"history-{index}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "effectiveDateTime": when.isoformat(),
                    "valueQuantity": {
                        "value": value,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            }
        )
    medications = prefetch["medications"].setdefault("entry", [])
    drugs = [
        ("358258", "bortezomib"),
        ("3264", "dexamethasone"),
        ("1191", "aspirin"),
        ("10831", "sulfamethoxazole / trimethoprim"),
        ("6809", "metformin"),
    ]
    for index in range(50):
        code, name = drugs[index % len(drugs)]
        medications.append(
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": f"past-{index}",
                    "status": "completed",
                    "intent": "order",
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "authoredOn": (today - timedelta(days=60 + index * 30)).isoformat(),
                    "medicationCodeableConcept": {
                        "coding": [
                            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": name}
                        ],
                        "text": name,
                    },
                    "dosageInstruction": [{"text": f"{name} as directed"}],
                }
            }
        )
    conditions = prefetch["conditions"].setdefault("entry", [])
    snomed = ["38341003", "44054006", "195967001", "13645005", "235595009", "40930008"]
    for index in range(30):
        conditions.append(
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": f"history-condition-{index}",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active" if index % 3 else "resolved",
                            }
                        ]
                    },
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed[index % len(snomed)]}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "onsetDateTime": (today - timedelta(days=400 + index * 40)).isoformat(),
                }
            }
        )
    for key in ("observations", "medications", "conditions"):
        prefetch[key]["total"] = len(prefetch[key]["entry"])
    return request


def in_process(body: bytes, *, fetch: bool = False) -> bytes:
    """What the hook endpoint does between the socket and the socket."""
    service = SERVICES_BY_ID[SERVICE]
    request, context = parse_hook_request(json.loads(body), service.hook)
    client = client_for(request, timeout_seconds=2.0, budget_seconds=4.0, max_pages=10) if fetch else None
    prefetched = resolve_prefetch(service.prefetch, request, context, client)
    answer = answer_hook(request, context, prefetched, today=date.today(), region="KR", client=client)
    return json.dumps(answer.response).encode()


# --- a. rules core -----------------------------------------------------------------------------


def bench_rules(count: int) -> dict[str, float]:
    request = hook_request(PATIENT, "order-select", hook_instance="bench-rules")
    resources = [v for v in request["prefetch"].values() if v is not None]
    drafts = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    snapshot = build_snapshot(
        resources, patient_id=PATIENT, draft_orders=drafts, selections=request["context"]["selections"]
    )
    evaluation = Evaluation(hook="order-select", today=date.today())
    samples = timed(lambda: evaluate(snapshot, evaluation), count)
    mean_us = statistics.fmean(samples) * 1000
    return {"mean_us": mean_us, "per_second": 1e6 / mean_us, "cards": len(evaluate(snapshot, evaluation))}


# --- b. pipeline in process --------------------------------------------------------------------


def bench_pipeline(count: int) -> dict[str, list[float]]:
    small = json.dumps(hook_request(PATIENT, "order-select", hook_instance="bench-small")).encode()
    large = json.dumps(large_request()).encode()
    return {"small": timed(lambda: in_process(small), count), "large": timed(lambda: in_process(large), count)}


# --- c. over HTTP ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_production_server(workers: int, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ, LENADEX_DATABASE_URL=f"sqlite:///{data_dir / 'bench.sqlite3'}", LENADEX_LOG_LEVEL="WARNING")
    command = [str(Path(sys.executable).parent / "lenadex"), "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=data_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the production server did not start")


def python_load(
    port: int, body: bytes, *, seconds: float, clients: int, rate: float | None
) -> tuple[float, list[float], int]:
    """Closed loop (rate None: each client sends as fast as it can) or open loop at a fixed
    total rate. Returns requests/s, latencies in ms and the error count."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    interval = clients / rate if rate else 0.0

    def client(offset: float) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        next_send = time.monotonic() + offset
        local: list[float] = []
        failed = 0
        while time.monotonic() < stop_at:
            if interval:
                pause = next_send - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_send += interval
            started = time.perf_counter()
            try:
                connection.request("POST", f"/cds-services/{SERVICE}", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    failed += 1
            except OSError:
                failed += 1
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            local.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(local)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(i * interval / max(clients, 1),)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return len(latencies) / elapsed, latencies, errors[0]


def wrk_load(port: int, body: bytes, *, seconds: int, connections: int) -> dict[str, float] | None:
    if not shutil.which("wrk"):
        return None
    with tempfile.TemporaryDirectory() as folder:
        body_file = Path(folder) / "body.json"
        body_file.write_bytes(body)
        script = Path(folder) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{body_file}", "rb"); wrk.body = f:read("*all"); f:close()\n'
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("JSON {\\"rps\\": %f, \\"p50\\": %f, \\"p99\\": %f, \\"errors\\": %d}\\n",\n'
            "    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,\n"
            "    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.timeout))\n"
            "end\n"
        )
        output = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/cds-services/{SERVICE}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
    for line in output.splitlines():
        if line.startswith("JSON "):
            figures = json.loads(line[5:])
            return {k: float(v) for k, v in figures.items()}
    return None


def bench_http(seconds: float) -> dict[str, Any]:
    workers = os.cpu_count() or 2
    body = json.dumps(hook_request(PATIENT, "order-select", hook_instance="bench-http")).encode()
    with tempfile.TemporaryDirectory() as folder:
        process, port = start_production_server(workers, Path(folder))
        try:
            python_load(port, body, seconds=2, clients=4, rate=None)  # warm-up
            saturation = wrk_load(port, body, seconds=int(seconds), connections=16)
            tool = "wrk, 16 connections"
            if saturation is None:
                rps, samples, errors = python_load(port, body, seconds=seconds, clients=8, rate=None)
                saturation = {
                    "rps": rps,
                    "p50": percentile(samples, 50),
                    "p99": percentile(samples, 99),
                    "errors": errors,
                }
                tool = "Python client, 8 connections"
            moderate_rate = 100.0
            rps, samples, errors = python_load(port, body, seconds=seconds, clients=4, rate=moderate_rate)
        finally:
            process.terminate()
            process.wait(timeout=15)
    return {
        "workers": workers,
        "tool": tool,
        "saturation": saturation,
        "moderate": {
            "rate": moderate_rate,
            "rps": rps,
            "p50": percentile(samples, 50),
            "p99": percentile(samples, 99),
            "errors": errors,
        },
    }


# --- d. fetching -------------------------------------------------------------------------------


def bench_fetch(count: int) -> list[float]:
    delay = GOALS["fetch_delay_ms"] / 1000
    stand_in = StandInFhirServer(fhir_resources(PATIENT), delay_seconds=delay).start()
    try:
        request = hook_request(
            PATIENT, "order-select", hook_instance="bench-fetch", with_prefetch=False, fhir_server=stand_in.base_url
        )
        request["fhirAuthorization"] = {
            "access_token": "bench",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "bench",
        }
        body = json.dumps(request).encode()
        return timed(lambda: in_process(body, fetch=True), count)
    finally:
        stand_in.stop()


# --- report ------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and 5 s load phases")
    args = parser.parse_args(argv)
    scale = 0.2 if args.quick else 1.0
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stand-in's access log
    freeze_startup_heap()  # as the service does once it is built
    print(
        f"lenadex benchmark — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {date.today().isoformat()}"
    )
    rules = bench_rules(int(5000 * scale))
    pipeline = bench_pipeline(int(500 * scale))
    fetch = bench_fetch(int(200 * scale))
    http = bench_http(5 if args.quick else 15)

    rows = [
        (
            "a. rules core",
            f"{rules['per_second']:,.0f} evaluations/s · {rules['mean_us']:.1f} µs/evaluation "
            f"({rules['cards']} recommendations)",
            f"≤ {GOALS['rules_us']:.0f} µs: {verdict(rules['mean_us'] <= GOALS['rules_us'])}",
        ),
        (
            "b. pipeline, small record",
            summary(pipeline["small"]),
            f"p99 ≤ {GOALS['small_p99_ms']:.0f} ms: {verdict(percentile(pipeline['small'], 99) <= GOALS['small_p99_ms'])}",
        ),
        (
            "b. pipeline, large record",
            summary(pipeline["large"]),
            f"p99 ≤ {GOALS['large_p99_ms']:.0f} ms: {verdict(percentile(pipeline['large'], 99) <= GOALS['large_p99_ms'])}",
        ),
    ]
    saturation = http["saturation"]
    rows.append(
        (
            f"c. HTTP saturation ({http['workers']} gunicorn workers, {http['tool']})",
            f"{saturation['rps']:,.0f} requests/s · p50 {saturation['p50']:.1f} ms · p99 {saturation['p99']:.1f} ms"
            f" · {int(saturation['errors'])} errors",
            f"≥ {GOALS['http_rps']:.0f}/s, p99 ≤ {GOALS['http_p99_ms']:.0f} ms: "
            f"{verdict(saturation['rps'] >= GOALS['http_rps'] and saturation['p99'] <= GOALS['http_p99_ms'])}",
        )
    )
    moderate = http["moderate"]
    rows.append(
        (
            f"c. HTTP at {moderate['rate']:.0f} requests/s",
            f"{moderate['rps']:,.0f} requests/s · p50 {moderate['p50']:.1f} ms · p99 {moderate['p99']:.1f} ms"
            f" · {moderate['errors']} errors",
            "",
        )
    )
    limit = 3 * GOALS["fetch_delay_ms"]
    rows.append(
        (
            f"d. no prefetch, FHIR stand-in +{GOALS['fetch_delay_ms']:.0f} ms/request",
            summary(fetch),
            f"p99 ≤ {limit:.0f} ms: {verdict(percentile(fetch, 99) <= limit)}",
        )
    )
    width = max(len(r[0]) for r in rows)
    print()
    for name, figures, goal in rows:
        print(f"{name:<{width}}  {figures}")
        if goal:
            print(f"{'':<{width}}  goal {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
