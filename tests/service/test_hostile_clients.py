"""Hostile clients against the real server (`lenadex serve`: gunicorn, the service's worker
class), over HTTP on 127.0.0.1.

- Slow clients: connections that send their head or their body a byte at a time do not stop
  /healthz or hook calls from answering — with the README's default (one worker) and with
  the production setup (several workers). gunicorn's sync workers failed this: each slow
  client held a worker until the worker timeout killed it.
- A request head over the server's bound is refused by the server, and the service goes on.
- A token somewhat over LENADEX_MAX_AUTHORIZATION_BYTES reaches the app and gets its JSON 401
  (gunicorn's own limit answered 431 with an HTML page).
- A chunked body over LENADEX_MAX_BODY_BYTES gets the app's 413 OperationOutcome.

No timing is asserted: a client timeout only bounds how long a test may wait for an answer
that a blocked server would never give (its worker timeout is set far beyond it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from sandbox.catalogue import hook_request

from .hostile_client import HOOK_PATH, chunked_post, head_with_a_header_of, raw_request, slow_clients
from .served import Server, serving

# A blocked server would keep these requests waiting past this; the service answers in ms.
CLIENT_TIMEOUT = 10
# The worker timeout: far beyond any wait of these tests, so a blocked worker stays blocked.
WORKER_TIMEOUT = "120"


@pytest.fixture(params=[1, 2], ids=["default-one-worker", "two-workers"], scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("served")
    with serving(
        f"sqlite:///{workdir / 'store.sqlite3'}",
        workdir,
        workers=request.param,
        auth=False,
        settings={"LENADEX_REQUEST_TIMEOUT_SECONDS": WORKER_TIMEOUT},
    ) as served:
        yield served


def _hook_call(server: Server) -> requests.Response:
    return requests.post(
        server.base_url + HOOK_PATH, json=hook_request("moderate-renal", "order-select"), timeout=CLIENT_TIMEOUT
    )


@pytest.mark.parametrize("heads, bodies", [(2, 0), (0, 2), (2, 2)], ids=["slow-heads", "slow-bodies", "both"])
def test_slow_clients_do_not_stop_health_checks_or_hook_calls(server: Server, heads: int, bodies: int) -> None:
    with slow_clients(server.port, heads=heads, bodies=bodies) as clients:
        for _ in range(3):
            health = requests.get(server.base_url + "/healthz", timeout=CLIENT_TIMEOUT)
            assert health.status_code == 200
            answer = _hook_call(server)
            assert answer.status_code == 200 and answer.json()["cards"]
        # The slow requests are still being sent, unanswered: they were not cut off to make
        # room, they simply hold no worker.
        assert all(client.still_waiting() for client in clients)


def test_more_slow_clients_than_workers_and_threads(server: Server) -> None:
    with slow_clients(server.port, heads=8, bodies=8):
        assert requests.get(server.base_url + "/healthz", timeout=CLIENT_TIMEOUT).status_code == 200
        assert _hook_call(server).status_code == 200


def test_a_head_over_the_servers_bound_is_refused_and_the_service_goes_on(server: Server) -> None:
    answer = raw_request(server.port, head_with_a_header_of(1024 * 1024))
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), answer[:200]
    assert b"<html" not in answer.lower() and b"Traceback" not in answer
    assert requests.get(server.base_url + "/healthz", timeout=CLIENT_TIMEOUT).status_code == 200


def test_an_ordinary_large_head_is_served(server: Server) -> None:
    answer = raw_request(server.port, head_with_a_header_of(12 * 1024))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_a_chunked_body_over_the_limit_is_the_apps_413(server: Server) -> None:
    answer = raw_request(server.port, chunked_post(HOOK_PATH, 6 * 1024 * 1024))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b'"resourceType":"OperationOutcome"' in body.replace(b" ", b"")


def test_a_token_over_the_authorization_limit_gets_the_json_401(
    tmp_path: Path, sandbox_token: Callable[..., str]
) -> None:
    with serving(f"sqlite:///{tmp_path / 'store.sqlite3'}", tmp_path, workers=1, auth=True) as server:
        url = server.base_url + "/cds-services"
        padded = sandbox_token(url, padding="x" * 9 * 1024)
        assert len(padded) > 9 * 1024
        answer = requests.get(url, headers={"Authorization": f"Bearer {padded}"}, timeout=CLIENT_TIMEOUT)
        assert answer.status_code == 401
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["resourceType"] == "OperationOutcome"
        fitting = requests.get(url, headers={"Authorization": f"Bearer {sandbox_token(url)}"}, timeout=CLIENT_TIMEOUT)
        assert fitting.status_code == 200
