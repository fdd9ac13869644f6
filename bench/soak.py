"""Soak test: a fixed request rate for many minutes, to see what only time shows — latency
drift, memory growth, leaked threads or file descriptors, errors under steady load.

    .venv/bin/python bench/soak.py                       # 10 minutes at 50 requests/s
    .venv/bin/python bench/soak.py --minutes 1 --rate 20 --markdown /tmp/soak.md

It starts ``lenadex serve`` itself on a free port of 127.0.0.1 (a fresh SQLite store in a
temporary folder, logs to a file there) and sends, open loop at a fixed rate (a late answer
does not slow the sending, so queueing shows up as latency), the sandbox's requests of every
patient and hook in turn — with a fresh hookInstance each — plus, as an EHR would, feedback on
a card just shown (1 request in 20) and discovery (1 in 50). Latency is measured from the
moment a request was due, not from when a worker got to it.

Every minute: requests, errors, achieved rate, latency p50/p90/p99/max, and the server's RSS
memory, threads and open file descriptors (the whole process tree under gunicorn). At the end:
the same over the whole run, the drift (last minute against the first) and the growth.
Not part of the test run: it takes minutes by design.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.catalogue import PATIENTS, hook_request  # noqa: E402
from service.declarations import SERVICES  # noqa: E402

SERVICE_FOR_HOOK = {service.hook: service.id for service in SERVICES}
FEEDBACK_EVERY = 20
DISCOVERY_EVERY = 50


@dataclass
class Minute:
    minute: int
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)
    rss_mb: float = 0.0
    threads: int = 0
    fds: int = 0
    seconds: float = 60.0
    """How long the minute is (the last one may be shorter)."""

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies_ms) or [0.0]
        return {
            "minute": self.minute,
            "requests": self.requests,
            "errors": self.errors,
            "rate": round(self.requests / self.seconds, 1),
            "p50_ms": round(_percentile(latencies, 50), 1),
            "p90_ms": round(_percentile(latencies, 90), 1),
            "p99_ms": round(_percentile(latencies, 99), 1),
            "max_ms": round(latencies[-1], 1),
            "rss_mb": round(self.rss_mb, 1),
            "threads": self.threads,
            "fds": self.fds,
            "error_kinds": dict(self.error_kinds),
        }


def _percentile(ordered: list[float], percent: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(percent) - 1]


# --- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _process_tree(root: int) -> list[int]:
    """The process and all its descendants (gunicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def server_resources(root: int) -> tuple[float, int, int]:
    """RSS in MB, threads and open file descriptors of the server's process tree."""
    rss_kb, threads, fds = 0, 0, 0
    for pid in _process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return rss_kb / 1024, threads, fds


def start_server(workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, LENADEX_DATABASE_URL=f"sqlite:///{workdir / 'soak.sqlite3'}", LENADEX_LOG_LEVEL="WARNING")
    log = (workdir / "server.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"lenadex serve exited with {process.returncode}; see {workdir / 'server.log'}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return process, base_url
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("lenadex serve did not answer /healthz within 60 s")


# --- the load ----------------------------------------------------------------------------------


class Load:
    def __init__(self, base_url: str, rate: float, seconds: float, warmup_seconds: float) -> None:
        self.base_url = base_url
        self.rate = rate
        self.seconds = seconds
        self.warmup_seconds = warmup_seconds
        self.calls = [(hook, hook_request(slug, hook)) for slug, story in PATIENTS.items() for hook in story.hooks]
        random.Random(7).shuffle(self.calls)
        self.recent_cards: deque[tuple[str, str]] = deque(maxlen=200)
        self.minutes: dict[int, Minute] = {}
        self.lock = threading.Lock()
        self.local = threading.local()

    def minute(self, number: int) -> Minute:
        """The record of that measured minute (the last may be shorter); call with the lock held."""
        if number not in self.minutes:
            self.minutes[number] = Minute(number, seconds=min(60.0, self.seconds - 60 * (number - 1)))
        return self.minutes[number]

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session  # type: ignore[no-any-return]

    def _one(self, index: int) -> tuple[bool, str]:
        """Send request ``index``; (ok, what went wrong)."""
        session = self._session()
        if index % DISCOVERY_EVERY == DISCOVERY_EVERY - 1:
            response = session.get(f"{self.base_url}/cds-services", timeout=30)
            return response.status_code == 200, f"discovery HTTP {response.status_code}"
        if index % FEEDBACK_EVERY == FEEDBACK_EVERY - 1 and self.recent_cards:
            service_id, card = random.choice(list(self.recent_cards))
            feedback = {
                "feedback": [
                    {
                        "card": card,
                        "outcome": random.choice(["accepted", "overridden"]),
                        "outcomeTimestamp": datetime.now(timezone.utc).isoformat(),
                    }
                ]
            }
            response = session.post(f"{self.base_url}/cds-services/{service_id}/feedback", json=feedback, timeout=30)
            return response.status_code == 200, f"feedback HTTP {response.status_code}"
        hook, request = self.calls[index % len(self.calls)]
        body = dict(request, hookInstance=str(uuid.uuid4()))
        service_id = SERVICE_FOR_HOOK[hook]
        response = session.post(f"{self.base_url}/cds-services/{service_id}", json=body, timeout=30)
        if response.status_code != 200:
            return False, f"{hook} HTTP {response.status_code}"
        cards = response.json()["cards"]
        if cards:
            self.recent_cards.append((service_id, cards[0]["uuid"]))
        return True, ""

    def _timed(self, index: int, due: float, started_at: float) -> None:
        try:
            ok, problem = self._one(index)
        except requests.RequestException as error:
            ok, problem = False, type(error).__name__
        latency_ms = (time.monotonic() - due) * 1000
        if due - started_at < self.warmup_seconds:
            return
        minute = int((due - started_at - self.warmup_seconds) // 60) + 1
        with self.lock:
            record = self.minute(minute)
            record.requests += 1
            record.latencies_ms.append(latency_ms)
            if not ok:
                record.errors += 1
                record.error_kinds[problem] = record.error_kinds.get(problem, 0) + 1

    def run(self, on_minute: Any) -> None:
        started_at = time.monotonic()
        total = int((self.warmup_seconds + self.seconds) * self.rate)
        with ThreadPoolExecutor(max_workers=64, thread_name_prefix="soak") as pool:
            reported = 0
            for index in range(total):
                due = started_at + index / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._timed, index, due, started_at)
                elapsed_minutes = int((time.monotonic() - started_at - self.warmup_seconds) // 60)
                if elapsed_minutes > reported:
                    reported = elapsed_minutes
                    on_minute(reported)
        on_minute(reported + 1)


# --- report ------------------------------------------------------------------------------------


def report_line(summary: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k}: {v}" for k, v in summary["error_kinds"].items())
    return (
        f"{summary['minute']:>6} {summary['requests']:>8} {summary['errors']:>6} {summary['rate']:>6} "
        f"{summary['p50_ms']:>7} {summary['p90_ms']:>7} {summary['p99_ms']:>7} {summary['max_ms']:>8} "
        f"{summary['rss_mb']:>7} {summary['threads']:>7} {summary['fds']:>5}  {kinds}"
    )


HEADER = (
    f"{'minute':>6} {'requests':>8} {'errors':>6} {'req/s':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
    f"{'max ms':>8} {'RSS MB':>7} {'threads':>7} {'fds':>5}"
)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| minute | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms | RSS MB | threads | fds |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in [*result["minutes"], result["total"]]:
        lines.append(
            f"| {s['minute']} | {s['requests']} | {s['errors']} | {s['rate']} | {s['p50_ms']} | "
            f"{s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} | {s['rss_mb']} | {s['threads']} | {s['fds']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes (default 10)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--warmup-seconds", type=float, default=15.0, help="at the rate, not measured (default 15)")
    parser.add_argument("--workers", type=int, default=1, help="lenadex serve --workers (default 1)")
    parser.add_argument("--json", type=Path, help="write every figure as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lenadex-soak-") as folder:
        workdir = Path(folder)
        process, base_url = start_server(workdir, args.workers)
        try:
            load = Load(base_url, args.rate, args.minutes * 60, args.warmup_seconds)
            rss_at_start = server_resources(process.pid)
            print(
                f"lenadex serve (pid {process.pid}, workers {args.workers}) at {base_url}; {args.rate:g} req/s for "
                f"{args.minutes:g} min after {args.warmup_seconds:g} s of warm-up; {len(load.calls)} sandbox calls "
                f"in turn, feedback 1 in {FEEDBACK_EVERY}, discovery 1 in {DISCOVERY_EVERY}",
                flush=True,
            )
            print(HEADER, flush=True)

            def on_minute(minute: int) -> None:
                rss, threads, fds = server_resources(process.pid)
                with load.lock:
                    record = load.minute(minute)
                    record.rss_mb, record.threads, record.fds = rss, threads, fds
                if minute > 1:  # the minute before is complete (bar a few answers in flight)
                    print(report_line(load.minutes[minute - 1].summary()), flush=True)

            load.run(on_minute)
            time.sleep(1)
            last = max(load.minutes)
            print(report_line(load.minutes[last].summary()), flush=True)
            crashed = process.poll() is not None
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        server_log_tail = (workdir / "server.log").read_text(errors="replace").splitlines()[-20:]

    minutes = [load.minutes[m].summary() for m in sorted(load.minutes)]
    everything = Minute(0)
    for record in load.minutes.values():
        everything.requests += record.requests
        everything.errors += record.errors
        everything.latencies_ms += record.latencies_ms
        for kind, count in record.error_kinds.items():
            everything.error_kinds[kind] = everything.error_kinds.get(kind, 0) + count
    total = everything.summary()
    total.update(
        minute="all",
        rate=round(everything.requests / (args.minutes * 60), 1),
        rss_mb=minutes[-1]["rss_mb"],
        threads=minutes[-1]["threads"],
        fds=minutes[-1]["fds"],
    )
    first, final = minutes[0], minutes[-1]
    result = {
        "rate": args.rate,
        "minutes": minutes,
        "total": total,
        "workers": args.workers,
        "rss_mb_before_load": round(rss_at_start[0], 1),
        "drift": {
            "p50_ms": round(final["p50_ms"] - first["p50_ms"], 1),
            "p99_ms": round(final["p99_ms"] - first["p99_ms"], 1),
        },
        "growth": {
            "rss_mb": round(final["rss_mb"] - first["rss_mb"], 1),
            "threads": final["threads"] - first["threads"],
            "fds": final["fds"] - first["fds"],
        },
        "server_crashed": crashed,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    print(report_line(total))
    print(
        f"drift (last minute − first): p50 {result['drift']['p50_ms']:+} ms, p99 {result['drift']['p99_ms']:+} ms; "
        f"growth: RSS {result['growth']['rss_mb']:+} MB (before load {result['rss_mb_before_load']} MB), "
        f"threads {result['growth']['threads']:+}, fds {result['growth']['fds']:+}; "
        f"server {'CRASHED' if crashed else 'still running at the end'}"
    )
    if total["errors"]:
        print("last lines of the server log:\n  " + "\n  ".join(server_log_tail))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(result))
    return 1 if total["errors"] or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
