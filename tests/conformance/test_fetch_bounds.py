"""Hard bounds on what one hook call fetches, against hostile stand-in FHIR servers on
127.0.0.1: a server trickling its headers a byte at a time does not keep a fetch worker past
the call; all keys and pages together are bounded in bytes (decoded, so a gzip bomb counts as
what it becomes) and in entries.

The waits below are bounded loops that look at what the hostile server saw; no test asserts
how long anything took.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from service.settings import DEFAULT_CALL_BYTES as MAX_CALL_BYTES, DEFAULT_CALL_ENTRIES as MAX_CALL_ENTRIES
from service.settings import Settings
from tests.conformance.test_fetch_faults import fetching_request
from tests.conftest import LiveService, serving

SELECT = "lenalidomide-order-select"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("bounds") / "lenadex.sqlite3"
    config = Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=0.5, fetch_budget_seconds=1.0)
    with serving(config) as live:
        yield live


@pytest.fixture(scope="module")
def roomy_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """Time enough to read a large record: only the byte bound can stop it."""
    store = tmp_path_factory.mktemp("bounds-roomy") / "lenadex.sqlite3"
    config = Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=10.0, fetch_budget_seconds=20.0)
    with serving(config) as live:
        yield live


def post(service: LiveService, request: dict[str, Any]) -> requests.Response:
    return requests.post(f"{service.base_url}/cds-services/{SELECT}", json=request, timeout=30)


class TrickleServer:
    """Accepts, then sends an HTTP status line one byte every 0.1 s (never a whole header),
    and records when the client has gone (the send fails)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.closed = threading.Event()
        self.accepted = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted.set()
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            for _ in range(600):  # at most 60 s
                if self.stop.is_set():
                    return
                try:
                    connection.sendall(b"H")
                    # A shut socket answers the next send with EPIPE/ECONNRESET, or a read with b"".
                    connection.setblocking(False)
                    try:
                        if connection.recv(4096) == b"" and self.accepted.is_set():
                            self.closed.set()
                            return
                    except BlockingIOError:
                        pass
                    finally:
                        connection.setblocking(True)
                except OSError:
                    self.closed.set()
                    return
                time.sleep(0.1)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def test_headers_trickled_a_byte_at_a_time_do_not_keep_the_worker(service):
    trickle = TrickleServer()
    try:
        response = post(service, fetching_request(f"http://127.0.0.1:{trickle.port}/fhir", missing=("conditions",)))
        assert response.status_code == 412
        # The call shut its sockets when it answered: the server sees the client gone.
        for _ in range(50):
            if trickle.closed.is_set():
                break
            time.sleep(0.1)
        assert trickle.closed.is_set(), "the fetch still holds its connection after the call answered"
    finally:
        trickle.close()


def test_a_healthy_call_after_a_trickling_server_is_answered(service, fhir: HTTPServer):
    trickle = TrickleServer()
    try:
        for _ in range(3):
            assert post(service, fetching_request(f"http://127.0.0.1:{trickle.port}/fhir",
                                                  missing=("conditions",))).status_code == 412
    finally:
        trickle.close()
    fhir.expect_request("/fhir/Condition").respond_with_json(
        {"resourceType": "Bundle", "type": "searchset", "total": 0}, content_type=FHIR_JSON)
    response = post(service, fetching_request(fhir.url_for("/fhir"), missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]


def _bundle_of(size_bytes: int) -> bytes:
    """A valid searchset of Basic resources, about ``size_bytes`` long."""
    entry = json.dumps({"resource": {"resourceType": "Basic", "id": "b", "code": {"text": "x" * 900}}})
    count = max(1, size_bytes // (len(entry) + 1))
    return ('{"resourceType": "Bundle", "type": "searchset", "entry": [' + ",".join([entry] * count) + "]}").encode()


def _by_key(bodies: dict[str, bytes]) -> Any:
    def handler(request: Request) -> Response:
        resource_type = request.path.rstrip("/").split("/")[-1]
        return Response(bodies[resource_type], 200, content_type=FHIR_JSON)
    return handler


def test_all_keys_together_are_bounded_in_bytes(roomy_service, fhir: HTTPServer):
    # Four answers of a quarter of the limit and a bit each: every one alone is fine, together
    # they are more than the call may read.
    each = MAX_CALL_BYTES // 4 + 512 * 1024
    bodies = {"Patient": _bundle_of(each), "Observation": _bundle_of(each), "Condition": _bundle_of(each),
              "MedicationRequest": _bundle_of(each), "Procedure": _bundle_of(each)}
    fhir.expect_request(re.compile(r"/fhir/.*")).respond_with_handler(_by_key(bodies))
    response = post(roomy_service, fetching_request(fhir.url_for("/fhir"),
                                                    missing=("observations", "conditions", "medications", "procedures")))
    assert response.status_code == 412
    assert "could not be read" in response.text


def test_a_large_record_within_the_byte_bound_is_read(roomy_service, fhir: HTTPServer):
    bodies = {name: _bundle_of(MAX_CALL_BYTES // 8) for name in ("Observation", "Condition", "MedicationRequest",
                                                                  "Procedure")}
    fhir.expect_request(re.compile(r"/fhir/.*")).respond_with_handler(_by_key(bodies))
    response = post(roomy_service, fetching_request(fhir.url_for("/fhir"),
                                                    missing=("observations", "conditions", "medications", "procedures")))
    assert response.status_code == 200, response.text[:300]


def test_a_gzip_bomb_counts_as_what_it_becomes(service, fhir: HTTPServer):
    inflated = b'{"resourceType": "Bundle", "type": "searchset", "entry": []' + b" " * (MAX_CALL_BYTES + 1024) + b"}"
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < 100 * 1024  # small on the wire
    fhir.expect_request("/fhir/Condition").respond_with_response(
        Response(bomb, 200, headers={"Content-Encoding": "gzip", "Content-Type": FHIR_JSON}))
    response = post(service, fetching_request(fhir.url_for("/fhir"), missing=("conditions",)))
    assert response.status_code == 412


def test_all_keys_together_are_bounded_in_entries(service, fhir: HTTPServer):
    tiny = ",".join(['{"resource": {"resourceType": "Basic", "id": "b"}}'] * (MAX_CALL_ENTRIES + 1))
    body = ('{"resourceType": "Bundle", "type": "searchset", "entry": [' + tiny + "]}").encode()
    assert len(body) < MAX_CALL_BYTES  # the entry count, not the size, decides here
    fhir.expect_request("/fhir/Condition").respond_with_response(Response(body, 200, content_type=FHIR_JSON))
    response = post(service, fetching_request(fhir.url_for("/fhir"), missing=("conditions",)))
    assert response.status_code == 412
    assert f"more than {MAX_CALL_ENTRIES} resources" in response.text


def test_a_record_within_the_bounds_is_read(service, fhir: HTTPServer):
    fhir.expect_request("/fhir/Condition").respond_with_response(
        Response(_bundle_of(1024 * 1024), 200, content_type=FHIR_JSON))
    response = post(service, fetching_request(fhir.url_for("/fhir"), missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]



def test_the_bounds_are_settings(tmp_path, fhir: HTTPServer):
    forty = ",".join(['{"resource": {"resourceType": "Basic", "id": "b"}}'] * 40)
    body = ('{"resourceType": "Bundle", "type": "searchset", "entry": [' + forty + "]}").encode()
    assert len(body) > 1024
    fhir.expect_request("/fhir/Condition").respond_with_response(Response(body, 200, content_type=FHIR_JSON))
    request = fetching_request(fhir.url_for("/fhir"), missing=("conditions",))
    config = Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}", fetch_max_entries=10)
    with serving(config) as narrow:
        assert "more than 10 resources" in post(narrow, request).text
    with serving(config.model_copy(update={"fetch_max_entries": 20_000, "fetch_max_bytes": 1024})) as small:
        answer = post(small, request)
        assert answer.status_code == 412 and "could not be read" in answer.text
