"""`lenadex serve` stops gracefully on SIGTERM (as Kubernetes and systemd stop it): the calls in
flight finish with their cards, new connections are refused — with the default single worker
and with several. The calls are kept in flight by the EHR's FHIR server (a stand-in on
127.0.0.1) answering each fetch after a delay."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from sandbox.catalogue import fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer

from .hostile_client import HOOK_PATH
from .served import serving

CALLS = 6
THREADS = 4
KEYS = 5  # patient, observations, conditions, medications, procedures: none prefetched
FETCH_DELAY_SECONDS = 2.0


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_calls_in_flight_and_refuses_new_ones(tmp_path: Path, workers: int) -> None:
    fhir = StandInFhirServer(fhir_resources("moderate-renal"), delay_seconds=FETCH_DELAY_SECONDS)
    running = fhir.start()
    settings = {
        "LENADEX_FETCH_TIMEOUT_SECONDS": "10",
        "LENADEX_FETCH_BUDGET_SECONDS": "20",
        "LENADEX_THREADS": str(THREADS),
    }
    try:
        with serving(
            f"sqlite:///{tmp_path / 'store.sqlite3'}", tmp_path, workers=workers, auth=False, settings=settings
        ) as server:
            body = hook_request("moderate-renal", "order-select", with_prefetch=False, fhir_server=running.base_url)
            with ThreadPoolExecutor(max_workers=CALLS) as pool:
                calls = [
                    pool.submit(requests.post, server.base_url + HOOK_PATH, json=body, timeout=60) for _ in range(CALLS)
                ]
                # Until the first calls wait on their fetches, then a moment for every call to
                # connect (the others wait for an app thread or a fetch worker, accepted); each
                # fetch takes FETCH_DELAY_SECONDS, so none can be answered yet.
                deadline = time.monotonic() + 30
                while fhir.max_in_flight < KEYS and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.3)
                assert not any(call.done() for call in calls)
                server.process.send_signal(signal.SIGTERM)
                refused_while_in_flight = False
                while not all(call.done() for call in calls):
                    if _refused(server.port):
                        refused_while_in_flight = not all(call.done() for call in calls)
                        break
                    time.sleep(0.05)
                answers = [call.result() for call in calls]
            assert [a.status_code for a in answers] == [200] * CALLS
            assert all(a.json()["cards"] for a in answers)
            assert refused_while_in_flight, "new connections were still accepted while the calls finished"
            assert server.process.wait(timeout=40) == 0
    finally:
        running.stop()
