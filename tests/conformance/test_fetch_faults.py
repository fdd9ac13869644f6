"""Faults of the EHR's FHIR server while the service fetches what the client did not prefetch.

Each fault ends within the time budget with the documented answer — 412 naming the prefetch
keys, or cards when the data that could be had is enough (paging cut off) — and repeated
faulty calls leak nothing: threads return to the baseline, no file descriptors pile up,
memory growth stays bounded. (tests/e2e/test_fetching.py has parallel fetching, the token,
one hanging key and looping pages; tests/e2e/test_order_select.py has 500/401/HTML/truncated
/not-FHIR once each. Here: every fault, timed, and repeated for leaks.)

The faulty server runs in a process of its own (faulty_fhir_server.py), so that only the
service's threads, sockets and memory are counted.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.catalogue import hook_request
from service.settings import Settings
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conftest import LiveService, serving

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 0.3
BUDGET = 0.8
# No test here asserts how long an answer took (that is bench/bench.py's, part d): a fault that
# kept the call waiting would exceed the client's own timeout in ``call`` and fail the test,
# and a 412 naming the keys shows that the budget, not the server, ended the fetch.
SELECT = "lenalidomide-order-select"


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.conformance.faulty_fhir_server", "moderate-renal"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), "the faulty FHIR server did not start"
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("faults") / "lenadex.sqlite3"
    config = Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=TIMEOUT, fetch_budget_seconds=BUDGET)
    with serving(config) as live:
        yield live


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetching_request(
    fhir_base_url: str,
    *,
    missing: tuple[str, ...] = ("patient", "observations", "conditions", "medications", "procedures"),
) -> dict[str, Any]:
    request = hook_request("moderate-renal", "order-select")
    for key in missing:
        del request["prefetch"][key]
    request["fhirServer"] = fhir_base_url
    request["fhirAuthorization"] = {
        "access_token": "fault-test-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "lenadex",
    }
    return request


def call(service: LiveService, request: dict[str, Any]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(f"{service.base_url}/cds-services/{SELECT}", json=request, timeout=30)
    return response, time.monotonic() - started


FAULTS_412 = [
    "hang",
    "dribble",
    "status-500",
    "status-401",
    "html",
    "truncated",
    "not-fhir",
    "huge",
    "deep",
    "nan",
    "reset",
]


@pytest.mark.parametrize("fault", [*FAULTS_412, "refused"])
def test_each_fault_ends_with_412_naming_the_keys(service, faulty_server, fault):
    base = f"http://127.0.0.1:{_closed_port()}" if fault == "refused" else f"{faulty_server}/{fault}"
    response, _ = call(service, fetching_request(base))
    assert response.status_code == 412, response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = outcome["issue"][0]["diagnostics"]
    assert all(key in diagnostics for key in ("patient", "observations", "conditions", "medications", "procedures"))
    assert "fault-test-token" not in response.text


def test_paging_that_loops_back_is_cut_off_and_answered(service, faulty_server):
    """A next link back to a page already read: every distinct page has been seen."""
    response, _ = call(service, fetching_request(f"{faulty_server}/loop-paging", missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]
    assert standard_problems(response.json()) == [] and lenadex_problems(response.json(), "order-select") == []


def test_paging_that_never_ends_is_cut_off_with_412(service, faulty_server):
    """New pages without end: the record cannot be read completely, so no cards from part of
    it — the documented 412, within the time budget."""
    response, _ = call(service, fetching_request(f"{faulty_server}/endless-pages", missing=("conditions",)))
    assert response.status_code == 412, response.text[:300]
    assert "conditions" in response.json()["issue"][0]["diagnostics"]


def test_one_faulty_key_among_good_ones_names_only_that_key(service, faulty_server):
    """The healthy keys come from the prefetch; the missing one from a server that fails."""
    response, _ = call(service, fetching_request(f"{faulty_server}/status-500", missing=("procedures",)))
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.procedures"]


def test_a_healthy_server_still_answers_after_every_fault(service, faulty_server):
    """A slow-dripping or hanging server must not tie up the fetch workers for the next call."""
    for fault in ("dribble", "hang", "dribble", "hang", "dribble", "hang", "dribble", "hang"):
        call(service, fetching_request(f"{faulty_server}/{fault}"))
    response, _ = call(service, fetching_request(f"{faulty_server}/ok"))
    assert response.status_code == 200, response.text[:300]


# --- nothing leaks -------------------------------------------------------------------------

LEAK_FAULTS = ["hang", "dribble", "refused", "status-500", "truncated", "huge", "reset", "loop-paging", "html", "deep"]
REPEATS = 50


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settle(baseline_threads: int, seconds: float) -> int:
    """Threads after waiting up to ``seconds`` for them to come back down to the baseline."""
    deadline = time.monotonic() + seconds
    while threading.active_count() > baseline_threads and time.monotonic() < deadline:
        time.sleep(0.1)
    return threading.active_count()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_repeated_faulty_calls_leak_no_threads_descriptors_or_memory(service, faulty_server):
    def faulty_call(i: int) -> None:
        fault = LEAK_FAULTS[i % len(LEAK_FAULTS)]
        base = f"http://127.0.0.1:{_closed_port()}" if fault == "refused" else f"{faulty_server}/{fault}"
        response, _ = call(service, fetching_request(base))
        assert response.status_code in (200, 412), (fault, response.status_code)

    for i in range(len(LEAK_FAULTS)):  # warm up: fill the fetch pool, import lazily loaded code
        faulty_call(i)
    gc.collect()
    baseline_threads = _settle(threading.active_count(), 0)
    baseline_fds = _open_descriptors()
    tracemalloc.start()
    try:
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        for i in range(REPEATS):
            faulty_call(i)
        threads = _settle(baseline_threads, 5.0)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    descriptors = _open_descriptors()

    assert threads <= baseline_threads + 2, f"threads {baseline_threads} → {threads}"
    assert descriptors <= baseline_fds + 10, f"descriptors {baseline_fds} → {descriptors}"
    assert after - before < 5 * 1024 * 1024, f"memory grew by {(after - before) / 1024:.0f} KiB over {REPEATS} calls"


def test_once_the_call_is_answered_the_remaining_fetches_stop() -> None:
    # One key failed and the call answered 412: the other keys' reads must not go on (a huge
    # page each would otherwise be read to the size limit in the background).
    import time as _time

    from service.prefetch import FetchFailed, FhirClient

    client = FhirClient("http://127.0.0.1:9", None, 1.0, _time.monotonic() + 5.0, 5)
    client.stopped.set()
    with pytest.raises(FetchFailed, match="stopped"):
        client.get_json("http://127.0.0.1:9/Patient/x")
