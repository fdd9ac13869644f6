"""Liveness and readiness apart (/livez, /readyz, /healthz its older name), the metrics of
latency, build, FHIR fetches and store operations, and the request id on every answer and
every log line (service/app.py, service/metrics.py, service/logs.py)."""

from __future__ import annotations

import json
import platform
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from sandbox.catalogue import fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer
from service.app import create_app
from service.declarations import SERVICES_BY_ID
from service.logs import configure_logging
from service.settings import Settings
from service.store import Store

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS

SELECT = "lenalidomide-order-select"
KEYS = tuple(SERVICES_BY_ID[SELECT].prefetch)
FEEDBACK = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T09:30:00Z"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(app: Flask) -> Samples:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _value(after, name, **labels) - _value(before, name, **labels)


def _is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _older_revision() -> str:
    """A migration before the newest one of service/migrations."""
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    scripts = ScriptDirectory.from_config(config)
    [head] = scripts.get_heads()
    older = scripts.get_revision(head).down_revision
    assert isinstance(older, str), "needs at least two migrations"
    return older


@contextmanager
def _fhir(**options: Any) -> Iterator[str]:
    server = StandInFhirServer(fhir_resources("moderate-renal"), **options).start()
    try:
        yield server.base_url
    finally:
        server.stop()


def _fetching_call(app: Flask, base_url: str) -> int:
    request = hook_request("moderate-renal", "order-select", with_prefetch=False, fhir_server=base_url)
    return app.test_client().post(f"/cds-services/{SELECT}", json=request).status_code


# --- liveness and readiness ------------------------------------------------------------------


def test_all_three_answer_200_when_the_store_is_ready(app: Flask) -> None:
    client = app.test_client()
    for path in ("/livez", "/readyz", "/healthz"):
        response = client.get(path)
        assert (path, response.status_code, response.json) == (path, 200, {"status": "ok"})


def test_readyz_stays_ready_when_a_newer_release_has_migrated_the_store(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """A rolling deploy: the first new pod migrated; the old pods keep serving (migrations only
    add), instead of all leaving the Service at once."""
    app = make_app()
    store: Store = app.extensions["lenadex.store"]
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_a_newer_release'"))
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_schema_is_behind_the_newest_migration(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    migrated = make_app()
    store: Store = migrated.extensions["lenadex.store"]
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :older"), {"older": _older_revision()})
    # A fresh app on that store, not migrating it (as a replica started before `migrate` ran).
    behind = Store(database_url)
    try:
        fresh = create_app(Settings(database_url=database_url), store=behind)
        for app in (fresh, migrated):  # checked at every probe, not once at start
            client = app.test_client()
            ready, health = client.get("/readyz"), client.get("/healthz")
            assert ready.status_code == 503 and ready.json["resourceType"] == "OperationOutcome"
            assert "behind" in ready.json["issue"][0]["diagnostics"]
            assert (health.status_code, health.json) == (ready.status_code, ready.json)
            assert client.get("/livez").status_code == 200
    finally:
        behind.close()


def test_readyz_is_503_when_the_schema_is_missing(tmp_path: Path) -> None:
    empty = Store(f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    try:
        client = create_app(Settings(database_url="sqlite://"), store=empty).test_client()
        assert client.get("/readyz").status_code == 503
        assert client.get("/livez").status_code == 200
    finally:
        empty.close()


def test_readyz_is_503_and_livez_200_when_the_store_is_unreachable(tmp_path: Path) -> None:
    unreachable = Store(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test?connect_timeout=2")
    try:
        app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}"), store=unreachable)
        client = app.test_client()
        ready, health, live = client.get("/readyz"), client.get("/healthz"), client.get("/livez")
        assert ready.status_code == 503 and ready.json["resourceType"] == "OperationOutcome"
        assert ready.headers["Retry-After"]
        assert (health.status_code, health.json) == (ready.status_code, ready.json)
        assert (live.status_code, live.json) == (200, {"status": "ok"})
    finally:
        unreachable.close()


def test_livez_never_touches_the_store(app: Flask, break_store: Callable[[Flask], None]) -> None:
    before = _samples(app)
    break_store(app)
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    after = _samples(app)
    assert _increase(before, after, "lenadex_store_operation_duration_seconds_count", operation="health") == 0
    assert client.get("/readyz").status_code == 503


def test_the_health_endpoints_need_no_token(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'auth.sqlite3'}",
            auth="jwt",
            jwks=str(SANDBOX_JWKS),
            trusted_issuers=SANDBOX_ISSUER,
            public_base_url="http://localhost",
        )
    )
    client = app.test_client()
    assert client.get("/cds-services").status_code == 401
    for path in ("/livez", "/readyz", "/healthz"):
        assert client.get(path).status_code == 200, path


def test_the_health_endpoints_answer_as_documented_over_http(
    start_service: Callable[[Settings], Any], tmp_path: Path
) -> None:
    # The session-wide check (tests/openapi_check.py) validates each answer against openapi.json.
    service = start_service(Settings(database_url=f"sqlite:///{tmp_path / 'http.sqlite3'}"))
    for path in ("/livez", "/readyz", "/healthz"):
        response = requests.get(service.base_url + path, headers={"X-Request-Id": "probe-1"}, timeout=10)
        assert response.status_code == 200 and response.headers["X-Request-Id"] == "probe-1"


# --- metrics ---------------------------------------------------------------------------------


def test_request_latency_buckets_start_at_half_a_millisecond(app: Flask) -> None:
    app.test_client().get("/livez")
    bounds = sorted(
        float(dict(labels)["le"])
        for (name, labels) in _samples(app)
        if name == "lenadex_http_request_duration_seconds_bucket" and ("endpoint", "cds.liveness") in labels
    )
    assert bounds[0] == 0.0005
    # Calls of 2–6 ms fall into buckets of their own, not all into the first.
    assert len([b for b in bounds if 0.001 < b <= 0.006]) >= 3


def test_build_info_names_the_release_and_python(app: Flask) -> None:
    samples = _samples(app)
    [(labels, value)] = [
        (dict(labels), value) for (name, labels), value in samples.items() if name == "lenadex_build_info"
    ]
    assert value == 1
    assert labels == {"version": metadata.version("lenadex"), "python": platform.python_version()}


def test_each_prefetch_key_fetched_is_timed_with_its_outcome(app: Flask) -> None:
    before = _samples(app)
    with _fhir() as base_url:
        assert _fetching_call(app, base_url) == 200
    after = _samples(app)
    for key in KEYS:
        labels = {"service": SELECT, "key": key}
        assert _increase(before, after, "lenadex_fhir_fetch_duration_seconds_count", **labels) == 1, key
        assert _increase(before, after, "lenadex_fhir_fetch_duration_seconds_bucket", **labels, le="+Inf") == 1
        assert _increase(before, after, "lenadex_fhir_fetch_duration_seconds_sum", **labels) > 0
        assert _increase(before, after, "lenadex_fhir_fetches_total", **labels, outcome="ok") == 1
    # The key label takes the services' prefetch keys only.
    keys_seen = {dict(labels).get("key") for (name, labels) in after if name.startswith("lenadex_fhir_fetch")}
    assert keys_seen <= set(KEYS)


@pytest.mark.parametrize(
    ("server", "settings", "outcome"),
    [
        ({"fault": "status-500"}, {}, "failed"),
        ({"fault": "status-401"}, {}, "refused"),
        ({}, {"fetch_max_entries": 2}, "over-limit"),
    ],
    ids=["5xx", "401", "entries over the limit"],
)
def test_a_failed_fetch_is_counted_by_outcome(
    make_app: Callable[..., Flask], server: dict[str, Any], settings: dict[str, Any], outcome: str
) -> None:
    app = make_app(**settings)
    before = _samples(app)
    with _fhir(**server) as base_url:
        assert _fetching_call(app, base_url) == 412
    after = _samples(app)
    counted = {
        seen: sum(
            _increase(before, after, "lenadex_fhir_fetches_total", service=SELECT, key=key, outcome=seen)
            for key in KEYS
        )
        for seen in ("ok", "failed", "refused", "over-limit", "stopped")
    }
    assert counted[outcome] >= 1, counted
    assert not {seen for seen, count in counted.items() if count and seen not in (outcome, "ok", "stopped")}, counted


def test_store_operations_are_timed(app: Flask) -> None:
    client = app.test_client()
    before = _samples(app)
    assert client.post(f"/cds-services/{SELECT}/feedback", json=FEEDBACK).status_code == 200
    assert (
        client.post(f"/cds-services/{SELECT}", json=hook_request("moderate-renal", "order-select")).status_code == 200
    )
    assert client.get("/readyz").status_code == 200
    after = _samples(app)
    for operation in ("feedback_write", "audit_write", "health"):
        name = "lenadex_store_operation_duration_seconds"
        assert _increase(before, after, f"{name}_count", operation=operation) == 1, operation
        assert _increase(before, after, f"{name}_bucket", operation=operation, le="+Inf") == 1
        assert _increase(before, after, f"{name}_sum", operation=operation) > 0


def test_the_jti_check_is_timed(tmp_path: Path, sandbox_token: Callable[..., str]) -> None:
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'auth.sqlite3'}",
            auth="jwt",
            jwks=str(SANDBOX_JWKS),
            trusted_issuers=SANDBOX_ISSUER,
            public_base_url="http://localhost",
        )
    )
    before = _samples(app)
    token = sandbox_token("http://localhost/cds-services")
    assert app.test_client().get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    after = _samples(app)
    assert _increase(before, after, "lenadex_store_operation_duration_seconds_count", operation="jti_check") == 1


# --- request id ------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc", "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "trace:span.1_2-3", "x" * 128])
def test_a_safe_request_id_is_echoed(app: Flask, given: str) -> None:
    response = app.test_client().get("/livez", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given


@pytest.mark.parametrize(
    "given",
    ["", "a\nb", "a\r\nX-Injected: 1", "x" * 129, "y" * 1024, "with space", "<script>", "é", "a/b"],
    ids=["empty", "newline", "crlf", "129 chars", "1 KB", "space", "markup", "non-ascii", "slash"],
)
def test_an_unsafe_request_id_is_replaced(app: Flask, given: str) -> None:
    # Through the WSGI environ: Werkzeug's test client refuses to send a newline in a header.
    response = app.test_client().get("/livez", environ_overrides={"HTTP_X_REQUEST_ID": given})
    assert response.status_code == 200
    echoed = response.headers["X-Request-Id"]
    assert echoed != given and _is_uuid4(echoed)


def test_a_request_id_is_generated_when_absent(app: Flask) -> None:
    client = app.test_client()
    first, second = (client.get("/livez").headers["X-Request-Id"] for _ in range(2))
    assert _is_uuid4(first) and _is_uuid4(second) and first != second


def test_errors_carry_the_request_id_too(app: Flask, break_store: Callable[[Flask], None]) -> None:
    client = app.test_client()
    headers = {"X-Request-Id": "err-1"}
    not_found = client.get("/nowhere", headers=headers)
    malformed = client.post(f"/cds-services/{SELECT}", data=b"{", content_type="application/json", headers=headers)
    wrong_method = client.delete("/livez", headers=headers)
    preflight = client.options("/cds-services", headers=headers)
    assert [r.status_code for r in (not_found, malformed, wrong_method, preflight)] == [404, 400, 405, 204]
    assert all(r.headers["X-Request-Id"] == "err-1" for r in (not_found, malformed, wrong_method, preflight))
    assert _is_uuid4(client.get("/nowhere").headers["X-Request-Id"])
    break_store(app)
    unavailable = client.get("/readyz", headers=headers)
    assert unavailable.status_code == 503 and unavailable.headers["X-Request-Id"] == "err-1"


def test_a_refused_token_answer_carries_the_request_id(tmp_path: Path) -> None:
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'auth.sqlite3'}",
            auth="jwt",
            jwks=str(SANDBOX_JWKS),
            trusted_issuers=SANDBOX_ISSUER,
            public_base_url="http://localhost",
        )
    )
    response = app.test_client().get("/cds-services", headers={"X-Request-Id": "no-token"})
    assert response.status_code == 401 and response.headers["X-Request-Id"] == "no-token"


def _log_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_every_json_log_line_of_a_request_carries_its_request_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging(Settings(log_format="json"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'logs.sqlite3'}"))
    store: Store = app.extensions["lenadex.store"]
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :older"), {"older": _older_revision()})
    _log_lines(capsys)  # start-up lines are no request's
    response = app.test_client().get("/readyz", headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 503
    entries = [json.loads(line) for line in _log_lines(capsys)]
    assert {e["logger"] for e in entries} >= {"lenadex.access", "service.app"}  # the warning and the access line
    assert all(e.get("request_id") == "trace-42" for e in entries), entries

    generated = app.test_client().get("/nowhere")
    [access] = [json.loads(line) for line in _log_lines(capsys) if '"lenadex.access"' in line]
    assert access["request_id"] == generated.headers["X-Request-Id"] and access["status"] == 404


def test_the_text_access_line_carries_the_request_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging(Settings(log_format="text"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'logs.sqlite3'}"))
    _log_lines(capsys)
    app.test_client().get("/livez", headers={"X-Request-Id": "text-7"})
    [line] = [line for line in _log_lines(capsys) if "lenadex.access" in line]
    assert "GET /livez 200" in line and "request_id=text-7" in line
