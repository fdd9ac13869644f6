"""Health, Prometheus metrics, structured logs, and the audit record of every hook call."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from sandbox.catalogue import fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer
from service.app import create_app
from service.declarations import SERVICES_BY_ID
from service.logs import JsonFormatter, RequestContext, configure_logging
from service.settings import Settings
from service.store import Store
from service.store.tables import hook_call, hook_call_card

SELECT = "lenalidomide-order-select"


def _metrics(app: Flask) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


# --- health --------------------------------------------------------------------------------


def test_healthz_checks_the_store(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_healthz_is_503_with_an_operation_outcome_when_the_store_is_down(
    app: Flask, break_store: Callable[[Flask], None]
) -> None:
    break_store(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["resourceType"] == "OperationOutcome"


# --- metrics -------------------------------------------------------------------------------


def test_requests_latency_and_errors_are_counted_per_service(app: Flask) -> None:
    client = app.test_client()
    feedback = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T09:30:00Z"}
    before = _metrics(app)
    for _ in range(3):
        assert client.post(f"/cds-services/{SELECT}/feedback", json=feedback).status_code == 200
    assert client.post("/cds-services/nope/feedback", json=feedback).status_code == 404
    after = _metrics(app)

    labels = {"endpoint": "cds.feedback", "service": SELECT}
    assert (
        _value(after, "lenadex_http_requests_total", **labels, status="200")
        - _value(before, "lenadex_http_requests_total", **labels, status="200")
        == 3
    )
    assert (
        _value(after, "lenadex_http_request_duration_seconds_count", **labels)
        - _value(before, "lenadex_http_request_duration_seconds_count", **labels)
        == 3
    )
    assert _value(after, "lenadex_http_request_duration_seconds_bucket", **labels, le="+Inf") >= 3
    assert (
        _value(after, "lenadex_http_errors_total", status="404")
        - _value(before, "lenadex_http_errors_total", status="404")
        == 1
    )
    # An unknown service id does not become a label value.
    assert not any(("service", "nope") in labels_ for _, labels_ in after)


def test_cards_are_counted_by_the_rule_ids_that_produced_them(app: Flask) -> None:
    before = _metrics(app)
    response = app.test_client().post(f"/cds-services/{SELECT}", json=hook_request("moderate-renal", "order-select"))
    assert response.status_code == 200
    after = _metrics(app)
    fired = [rule for card in response.json["cards"] for rule in card["extension"]["org.lenadex.rules"]]
    assert "R-RENAL-MODERATE" in fired
    for rule in set(fired):
        increase = _value(after, "lenadex_cards_total", service=SELECT, rule=rule) - _value(
            before, "lenadex_cards_total", service=SELECT, rule=rule
        )
        assert increase == fired.count(rule)


def test_prefetch_fetches_and_failures_are_counted(app: Flask) -> None:
    client = app.test_client()
    keys = len(SERVICES_BY_ID[SELECT].prefetch)

    def counts() -> tuple[float, float]:
        metrics = _metrics(app)
        return (
            _value(metrics, "lenadex_prefetch_fetches_total", service=SELECT),
            _value(metrics, "lenadex_prefetch_failures_total", service=SELECT),
        )

    fetched_0, failed_0 = counts()
    fhir = StandInFhirServer(fhir_resources("moderate-renal")).start()
    try:
        ok = client.post(
            f"/cds-services/{SELECT}",
            json=hook_request("moderate-renal", "order-select", with_prefetch=False, fhir_server=fhir.base_url),
        )
    finally:
        fhir.stop()
    fetched_1, failed_1 = counts()
    assert ok.status_code == 200
    assert (fetched_1 - fetched_0, failed_1 - failed_0) == (keys, 0)

    broken = StandInFhirServer(fhir_resources("moderate-renal"), fault="status-500").start()
    try:
        failed = client.post(
            f"/cds-services/{SELECT}",
            json=hook_request("moderate-renal", "order-select", with_prefetch=False, fhir_server=broken.base_url),
        )
        # The first failure ends the call with 412; fetches still running may finish later.
        assert failed.status_code == 412
        assert counts()[1] - failed_1 >= 1
    finally:
        broken.stop()


# --- audit ---------------------------------------------------------------------------------


def _audit(app: Flask) -> list[Any]:
    store: Store = app.extensions["lenadex.store"]
    with store.engine.connect() as connection:
        return list(connection.execute(select(hook_call).order_by(hook_call.c.id)))


def test_every_hook_call_leaves_an_audit_record_whatever_its_outcome(app: Flask) -> None:
    client = app.test_client()
    good = hook_request("moderate-renal", "order-select")
    answered = client.post(f"/cds-services/{SELECT}", json=good)
    wrong_hook = client.post(f"/cds-services/{SELECT}", json={**good, "hook": "patient-view"})
    no_prefetch = client.post(
        f"/cds-services/{SELECT}", json=hook_request("moderate-renal", "order-select", with_prefetch=False)
    )
    unknown = client.post("/cds-services/nope", json=good)
    assert [r.status_code for r in (answered, wrong_hook, no_prefetch, unknown)] == [200, 400, 412, 404]

    records = _audit(app)
    assert [(r.service_id, r.status) for r in records] == [(SELECT, 200), (SELECT, 400), (SELECT, 412)]
    first = records[0]
    assert first.hook_instance == good["hookInstance"]
    assert first.patient_hash == app.extensions["lenadex.store"].patient_hash("moderate-renal")
    assert "R-RENAL-MODERATE" in first.rule_ids and first.card_count == len(answered.json["cards"])
    assert first.latency_ms > 0
    store: Store = app.extensions["lenadex.store"]
    with store.engine.connect() as connection:
        shown = set(
            connection.execute(
                select(hook_call_card.c.card_uuid).where(hook_call_card.c.hook_call_id == first.id)
            ).scalars()
        )
    assert shown == {card["uuid"] for card in answered.json["cards"]}
    assert records[1].patient_hash is None and records[1].rule_ids == []  # refused before the context was read
    assert records[2].patient_hash == first.patient_hash


def test_a_failed_audit_write_does_not_withhold_the_cards(app: Flask, break_store: Callable[[Flask], None]) -> None:
    before = _metrics(app)
    break_store(app)
    response = app.test_client().post(f"/cds-services/{SELECT}", json=hook_request("moderate-renal", "order-select"))
    assert response.status_code == 200 and response.json["cards"]
    assert (
        _value(_metrics(app), "lenadex_audit_write_failures_total")
        - _value(before, "lenadex_audit_write_failures_total")
        == 1
    )


# --- logs ----------------------------------------------------------------------------------


def test_logs_are_one_json_object_per_line_correlated_by_hook_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging(Settings(log_format="json"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'logs.sqlite3'}"))
    token = f"secret-access-token-{uuid.uuid4().hex}"
    fhir = StandInFhirServer(fhir_resources("moderate-renal")).start()
    try:
        request = hook_request("moderate-renal", "order-select", with_prefetch=False, fhir_server=fhir.base_url)
        request["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "lenadex",
        }
        response = app.test_client().post(
            f"/cds-services/{SELECT}", json=request, headers={"Authorization": "Bearer client.jwt.value"}
        )
    finally:
        fhir.stop()
    assert response.status_code == 200
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    [access] = [e for e in entries if e["logger"] == "lenadex.access"]
    assert access["hookInstance"] == request["hookInstance"] and access["service"] == SELECT
    assert access["status"] == 200 and access["latency_ms"] > 0
    text = "\n".join(lines)
    for secret in (token, "client.jwt.value", "moderate-renal"):
        assert secret not in text


def test_text_format_keeps_the_context(tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None) -> None:
    configure_logging(Settings(log_format="text"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'logs.sqlite3'}"))
    app.test_client().get("/healthz")
    [line] = [line for line in capsys.readouterr().err.splitlines() if "lenadex.access" in line]
    assert "GET /healthz 200" in line and "status=200" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_logged_exception_keeps_its_type_and_stack_but_not_its_message(caplog: pytest.LogCaptureFixture) -> None:
    try:
        patient = "mrn-" + "0042"  # built at run time: the stack shows source lines
        raise ValueError(f"patient {patient} has creatinine 1.3")
    except ValueError:
        logging.getLogger("lenadex.test").exception("rule failed")
    entry = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert entry["message"] == "rule failed" and entry["exception"] == "ValueError"
    assert "test_observability.py" in entry["stack"]
    assert "mrn-0042" not in json.dumps(entry)


def test_lines_outside_a_request_have_no_request_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "plain %s", ("message",), None)
    RequestContext().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "plain message" and entry["level"] == "WARNING"
    assert "hookInstance" not in entry and "service" not in entry
