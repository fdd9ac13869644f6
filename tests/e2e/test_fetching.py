"""Fetching what the client did not prefetch: parallel, bounded, token-safe."""

from __future__ import annotations

import logging

import requests

from sandbox.catalogue import fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer
from service.settings import Settings

TOKEN = "very-secret-access-token"


def fetching_request(slug: str, base_url: str) -> dict:
    request = hook_request(slug, "order-select")
    del request["prefetch"]
    request["fhirServer"] = base_url
    request["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "lenadex",
    }
    return request


def call(base: str, body: dict) -> requests.Response:
    return requests.post(f"{base}/cds-services/lenalidomide-order-select", json=body, timeout=30)


def test_keys_are_fetched_in_parallel(live_service):
    stand_in = StandInFhirServer(fhir_resources("moderate-renal"), delay_seconds=0.2)
    fhir = stand_in.start()
    try:
        assert call(live_service.base_url, fetching_request("moderate-renal", fhir.base_url)).status_code == 200
    finally:
        fhir.stop()
    assert stand_in.max_in_flight >= 3, "the five prefetch keys should be fetched side by side"


def test_a_hanging_server_ends_with_412_naming_its_key(start_service, tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 's.sqlite3'}", fetch_timeout_seconds=0.5, fetch_budget_seconds=1.0
    )
    service = start_service(settings)
    fhir = StandInFhirServer(fhir_resources("moderate-renal"), fault="hang", fault_paths=("/Condition",)).start()
    try:
        response = call(service.base_url, fetching_request("moderate-renal", fhir.base_url))
    finally:
        fhir.stop()
    # The hanging path never answers: a 412 naming it is the budget ending the fetch (a call
    # that waited for it would run into the client's timeout instead).
    assert response.status_code == 412
    assert "conditions" in response.json()["issue"][0]["diagnostics"]


def test_paging_that_loops_is_cut_off(live_service):
    stand_in = StandInFhirServer(
        fhir_resources("moderate-renal"), page_size=1, fault="loop-paging", fault_paths=("/Condition",)
    )
    fhir = stand_in.start()
    try:
        response = call(live_service.base_url, fetching_request("moderate-renal", fhir.base_url))
    finally:
        fhir.stop()
    assert response.status_code == 200
    condition_pages = [r for r in stand_in.requests_seen if r["path"] == "/Condition"]
    assert 1 <= len(condition_pages) <= Settings().fetch_max_pages


def test_the_token_is_never_logged(live_service, caplog):
    caplog.set_level(logging.DEBUG)
    fhir = StandInFhirServer(fhir_resources("moderate-renal"), fault="status-401").start()
    try:
        response = call(live_service.base_url, fetching_request("moderate-renal", fhir.base_url))
    finally:
        fhir.stop()
    assert response.status_code == 412
    assert TOKEN not in caplog.text
    assert TOKEN not in response.text


def test_a_record_longer_than_the_page_limit_is_not_read_in_part(start_service, tmp_path):
    """More pages than LENADEX_FETCH_MAX_PAGES: 412 naming the key, never cards from part of
    the record."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.sqlite3'}", fetch_max_pages=3)
    service = start_service(settings)
    stand_in = StandInFhirServer(fhir_resources("moderate-renal"), page_size=1)
    fhir = stand_in.start()
    try:
        response = call(service.base_url, fetching_request("moderate-renal", fhir.base_url))
    finally:
        fhir.stop()
    assert response.status_code == 412
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "observations" in diagnostics and "more than 3 pages" in diagnostics
    assert len([r for r in stand_in.requests_seen if r["path"] == "/Observation"]) == 3
