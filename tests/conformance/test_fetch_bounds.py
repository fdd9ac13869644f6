"""Hard bounds on what one hook call fetches, against the hostile FHIR server on 127.0.0.1
(the ``hostile_fhir`` fixture, hostile_fhir_server.py): a server trickling its headers a byte
at a time does not keep a fetch worker past the call; all keys and pages together are bounded
in bytes (decoded, so a gzip bomb counts as what it becomes), in entries and in pages.

The waits below are bounded loops that look at what the hostile server saw; no test asserts
how long anything took.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.catalogue import fhir_resources
from service.settings import DEFAULT_CALL_BYTES as MAX_CALL_BYTES, DEFAULT_CALL_ENTRIES as MAX_CALL_ENTRIES
from service.settings import Settings
from tests.conformance.hostile_fhir_server import HostileFhirServer
from tests.conformance.test_fetch_faults import fetching_request
from tests.conftest import LiveService, serving

SELECT = "lenalidomide-order-select"
ALL_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "Procedure")
FETCHED_KEYS = ("observations", "conditions", "medications", "procedures")
MAX_PAGES = Settings.model_fields["fetch_max_pages"].default


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


def test_headers_trickled_a_byte_at_a_time_do_not_keep_the_worker(service, hostile_fhir: HostileFhirServer):
    trickle = hostile_fhir.trickle_headers()
    response = post(service, fetching_request(trickle.base_url, missing=("conditions",)))
    assert response.status_code == 412
    # The call shut its sockets when it answered: the server sees the client gone.
    assert trickle.client_went_away(), "the fetch still holds its connection after the call answered"


def test_a_healthy_call_after_a_trickling_server_is_answered(service, hostile_fhir: HostileFhirServer):
    trickle = hostile_fhir.trickle_headers()
    for _ in range(3):
        assert post(service, fetching_request(trickle.base_url, missing=("conditions",))).status_code == 412
    trickle.close()
    hostile_fhir.answer("/fhir/Condition", {"resourceType": "Bundle", "type": "searchset", "total": 0})
    response = post(service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]


def test_all_keys_together_are_bounded_in_bytes(roomy_service, hostile_fhir: HostileFhirServer):
    # Four answers of a quarter of the limit and a bit each: every one alone is fine, together
    # they are more than the call may read.
    each = MAX_CALL_BYTES // 4 + 512 * 1024
    for resource_type in ALL_TYPES:
        hostile_fhir.huge_body(f"/fhir/{resource_type}", each)
    response = post(roomy_service, fetching_request(hostile_fhir.base_url, missing=FETCHED_KEYS))
    assert response.status_code == 412
    assert "could not be read" in response.text


def test_a_large_record_within_the_byte_bound_is_read(roomy_service, hostile_fhir: HostileFhirServer):
    for resource_type in ("Observation", "Condition", "MedicationRequest", "Procedure"):
        hostile_fhir.huge_body(f"/fhir/{resource_type}", MAX_CALL_BYTES // 8)
    response = post(roomy_service, fetching_request(hostile_fhir.base_url, missing=FETCHED_KEYS))
    assert response.status_code == 200, response.text[:300]


def test_a_gzip_bomb_counts_as_what_it_becomes(service, hostile_fhir: HostileFhirServer):
    on_the_wire = hostile_fhir.gzip_bomb("/fhir/Condition", inflated_size=MAX_CALL_BYTES + 1024)
    assert on_the_wire < 100 * 1024  # small on the wire
    response = post(service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 412


def test_all_keys_together_are_bounded_in_entries(service, hostile_fhir: HostileFhirServer):
    size = hostile_fhir.many_entries("/fhir/Condition", MAX_CALL_ENTRIES + 1)
    assert size < MAX_CALL_BYTES  # the entry count, not the size, decides here
    response = post(service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 412
    assert f"more than {MAX_CALL_ENTRIES} resources" in response.text


def test_a_record_within_the_bounds_is_read(service, hostile_fhir: HostileFhirServer):
    hostile_fhir.huge_body("/fhir/Condition", 1024 * 1024)
    response = post(service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]


def test_the_bounds_are_settings(tmp_path, hostile_fhir: HostileFhirServer):
    assert hostile_fhir.many_entries("/fhir/Condition", 40) > 1024
    request = fetching_request(hostile_fhir.base_url, missing=("conditions",))
    config = Settings(database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}", fetch_max_entries=10)
    with serving(config) as narrow:
        assert "more than 10 resources" in post(narrow, request).text
    with serving(config.model_copy(update={"fetch_max_entries": 20_000, "fetch_max_bytes": 1024})) as small:
        answer = post(small, request)
        assert answer.status_code == 412 and "could not be read" in answer.text


def test_paging_that_never_ends_stops_at_the_page_bound(roomy_service, hostile_fhir: HostileFhirServer):
    """A new next page, always: the service reads as many pages as it may, then answers 412
    rather than cards from part of the record."""
    hostile_fhir.pages_without_end("/fhir/Condition")
    response = post(roomy_service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 412, response.text[:300]
    assert f"more than {MAX_PAGES} pages" in response.json()["issue"][0]["diagnostics"]
    assert len(hostile_fhir.requests_seen) == MAX_PAGES


def test_paging_that_loops_back_reads_each_page_once(roomy_service, hostile_fhir: HostileFhirServer):
    """A next link back to a page already read ends the paging; what was read is the record."""
    conditions = [r for r in fhir_resources("moderate-renal") if r["resourceType"] == "Condition"]
    hostile_fhir.pages_that_loop("/fhir/Condition", conditions)
    response = post(roomy_service, fetching_request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]
    pages = [request.args.get("page") for request in hostile_fhir.requests_seen]
    assert pages == [None, "1", "2"], "page 1 again, or a page more"
