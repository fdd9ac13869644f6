"""CORS for browser clients (the CDS Hooks sandbox) and the request limits: 413, 415."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from service.app import create_app
from service.settings import Settings

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS

FEEDBACK = "/cds-services/lenalidomide-order-select/feedback"
HOOK = "/cds-services/lenalidomide-order-select"
ENDPOINTS = ["/cds-services", HOOK, FEEDBACK, "/cds-services/lenalidomide-patient-view/feedback"]
SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"


@pytest.fixture
def make_sqlite_app(tmp_path: Path) -> Callable[..., Flask]:
    return lambda **changes: create_app(Settings(database_url=f"sqlite:///{tmp_path / 'cors.sqlite3'}", **changes))


def _preflight(app: Flask, path: str, origin: str = SANDBOX_ORIGIN) -> Any:
    return app.test_client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def _allows(response: Any) -> tuple[set[str], set[str]]:
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    headers = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    return methods, headers


# --- CORS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_preflight_is_answered_without_a_token_even_with_auth_on(
    make_sqlite_app: Callable[..., Flask], path: str
) -> None:
    app = make_sqlite_app(
        auth="jwt", jwks=str(SANDBOX_JWKS), trusted_issuers=SANDBOX_ISSUER, public_base_url="http://localhost"
    )
    response = _preflight(app, path)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods, headers = _allows(response)
    assert {"GET", "POST", "OPTIONS"} <= methods
    assert {"content-type", "authorization"} <= headers
    assert response.data == b""


def test_an_origin_list_echoes_the_matching_origin_only(make_sqlite_app: Callable[..., Flask]) -> None:
    app = make_sqlite_app(cors_origins=f"{SANDBOX_ORIGIN}, https://ehr.hospital.example")
    allowed = _preflight(app, HOOK)
    refused = _preflight(app, HOOK, origin="https://evil.example")
    plain = app.test_client().get("/cds-services", headers={"Origin": "https://ehr.hospital.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == SANDBOX_ORIGIN
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert plain.headers["Access-Control-Allow-Origin"] == "https://ehr.hospital.example"
    for response in (allowed, refused, plain):
        assert "Origin" in response.headers.get("Vary", "")


def test_errors_carry_the_cors_headers_too(make_sqlite_app: Callable[..., Flask]) -> None:
    """A browser hides an answer without them from the page, the error included."""
    auth_app = make_sqlite_app(
        auth="jwt", jwks=str(SANDBOX_JWKS), trusted_issuers=SANDBOX_ISSUER, public_base_url="http://localhost"
    )
    open_app = make_sqlite_app(max_body_bytes=100)
    client = open_app.test_client()
    origin = {"Origin": SANDBOX_ORIGIN}
    answers = {
        401: auth_app.test_client().get("/cds-services", headers=origin),
        404: client.post("/cds-services/unknown", json={}, headers=origin),
        400: client.post(HOOK, data="{", content_type="application/json", headers=origin),
        405: client.delete("/cds-services", headers=origin),
        413: client.post(FEEDBACK, data="[" + " " * 200 + "]", content_type="application/json", headers=origin),
        415: client.post(FEEDBACK, data="x", content_type="text/plain", headers=origin),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == "*", status
        assert response.json["resourceType"] == "OperationOutcome"


def test_options_on_an_unknown_path_is_still_404(make_sqlite_app: Callable[..., Flask]) -> None:
    assert _preflight(make_sqlite_app(), "/no/such/path").status_code == 404


# --- limits --------------------------------------------------------------------------------


def test_the_body_limit_is_5_mib_by_default() -> None:
    assert Settings().max_body_bytes == 5 * 1024 * 1024


def _feedback_of_size(size: int) -> bytes:
    body = json.dumps({"feedback": []}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.mark.parametrize("path", [HOOK, FEEDBACK])
def test_a_body_over_the_limit_is_413_and_at_the_limit_is_read(
    make_sqlite_app: Callable[..., Flask], path: str
) -> None:
    client = make_sqlite_app(max_body_bytes=2048).test_client()
    over = client.post(path, data=_feedback_of_size(2049), content_type="application/json")
    at = client.post(path, data=_feedback_of_size(2048), content_type="application/json")
    assert over.status_code == 413
    assert over.json["issue"][0]["code"] == "too-long"
    assert at.status_code != 413  # read, then judged on content (200 for feedback, 400 for a hook)


@pytest.fixture
def live_small_limit(start_service: Callable[[Settings], Any], tmp_path: Path) -> Iterator[str]:
    service = start_service(Settings(database_url=f"sqlite:///{tmp_path / 'live.sqlite3'}", max_body_bytes=4096))
    yield service.base_url


def test_over_real_http_a_streamed_body_without_length_is_cut_at_the_limit(live_small_limit: str) -> None:
    """Chunked transfer announces no length: the limit must hold while reading."""

    def chunks() -> Iterator[bytes]:
        yield b'{"feedback": ['
        for _ in range(100):
            yield b" " * 100
        yield b"]}"

    response = requests.post(
        live_small_limit + FEEDBACK, data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    small = requests.post(live_small_limit + FEEDBACK, json={"feedback": []}, timeout=10)
    assert small.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
@pytest.mark.parametrize("path", [HOOK, FEEDBACK])
def test_a_body_that_is_not_json_is_415(make_sqlite_app: Callable[..., Flask], path: str, content_type: str) -> None:
    response = make_sqlite_app().test_client().post(path, data='{"feedback": []}', content_type=content_type)
    assert response.status_code == 415
    assert content_type in response.json["issue"][0]["diagnostics"]


def test_fhir_json_is_json(make_sqlite_app: Callable[..., Flask]) -> None:
    response = (
        make_sqlite_app().test_client().post(FEEDBACK, data='{"feedback": []}', content_type="application/fhir+json")
    )
    assert response.status_code == 200
