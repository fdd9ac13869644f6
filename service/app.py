"""The Flask application: discovery, hook calls, feedback, the rule catalogue, health, metrics.

Application factory: ``create_app(settings)``; everything the routes need hangs off the app
(settings, store), so tests can build as many independent apps as they like.

Every request gets a request id (the caller's ``X-Request-Id`` when it is short and safe, else
a fresh uuid4), sent back in the ``X-Request-Id`` header of every answer and written on every
log line of the request; every request is timed, counted (/metrics) and logged in one access
line; every call of a known service's hook endpoint also leaves an audit record in the store
(service/store/).

Health: ``/livez`` says the process answers (it never touches the store, so a database outage
does not get the pods restarted); ``/readyz`` that the store answers and its schema is at the
newest migration of service/migrations; ``/healthz`` is the older name of ``/readyz``.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
import time
import uuid
from datetime import date, datetime, timezone
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy import inspect, text

from rules.catalogue import RULES
from service import metrics, strict_json
from service.auth import install_auth
from service.cors import install_cors
from service.declarations import SERVICES, SERVICES_BY_ID, CdsService
from service.errors import ApiError, error_response, register_error_handlers
from service.feedback import parse_feedback
from service.fhir_target import FhirServerPolicy
from service.hook_request import HookRequest, PatientViewContext, parse_hook_request
from service.openapi import openapi
from service.pipeline import answer_hook, triage_drafts
from service.prefetch import FhirClient, client_for, resolve_prefetch
from service.reports import reports
from service.settings import Settings
from service.store import HookCall, Store, StoreUnavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("lenadex.access")

cds = Blueprint("cds", __name__)

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's request id is taken as is only when it cannot forge a log line or a header, nor
# fill the log: at most 128 characters of these. Anything else is replaced by a fresh uuid4.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def settings() -> Settings:
    return current_app.config["LENADEX_SETTINGS"]  # type: ignore[no-any-return]


def current_store() -> Store:
    return current_app.extensions["lenadex.store"]  # type: ignore[no-any-return]


def _service(service_id: str) -> CdsService:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise ApiError(404, f"unknown CDS service {service_id!r}; see GET /cds-services")
    g.service_id = service.id  # for the access log, the metrics and the audit record
    return service


def json_body() -> Any:
    """The request body as JSON: 415 for another content type, 400 for malformed JSON."""
    mimetype = request.mimetype
    if mimetype not in ("application/json", "application/fhir+json") and not mimetype.endswith("+json"):
        raise ApiError(415, f"Content-Type must be application/json, not {mimetype or 'missing'!r}")
    raw = request.get_data(cache=True)
    if len(raw) > settings().max_body_bytes:  # a chunked body: see MAX_CONTENT_LENGTH below
        raise ApiError(413, "request body is larger than the limit")
    try:
        return strict_json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not UTF-8 encoded JSON") from None
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"malformed JSON: {error}"[:300]) from None


@cds.get("/cds-services")
def discovery() -> Response:
    return jsonify({"services": [service.discovery() for service in SERVICES]})


@cds.post("/cds-services/<service_id>")
def call_hook(service_id: str) -> Response:
    service = _service(service_id)
    body = json_body()
    if isinstance(body, dict) and isinstance(body.get("hookInstance"), str) and len(body["hookInstance"]) <= 128:
        g.hook_instance = body["hookInstance"]  # correlates the log lines even of a refused call
    hook_request, context = parse_hook_request(body, service.hook)
    g.patient_id = context.patientId  # hashed in the audit record, never logged
    config = settings()
    client = client_for(
        hook_request,
        timeout_seconds=config.fetch_timeout_seconds,
        budget_seconds=config.fetch_budget_seconds,
        max_pages=config.fetch_max_pages,
        policy=current_app.extensions["lenadex.fhir_policy"],
        max_bytes=config.fetch_max_bytes,
        max_entries=config.fetch_max_entries,
    )
    client = metrics.counting_client(client, service.id)
    try:
        return _answer(service, hook_request, context, client, config)
    finally:
        if client is not None:
            client.stop()  # no fetch of this call outlives its answer (e.g. a slow reference)


def _answer(
    service: CdsService,
    hook_request: HookRequest,
    context: PatientViewContext,
    client: FhirClient | None,
    config: Settings,
) -> Response:
    triage = triage_drafts(hook_request, context, client)
    if not triage.under_review:
        # No lenalidomide or dexamethasone order to check: nothing the prefetch could change,
        # so none is fetched (and a missing key or a FHIR server down is no reason for a 412).
        return jsonify({"cards": []})
    prefetched = resolve_prefetch(service.prefetch, hook_request, context, client)
    answer = answer_hook(
        hook_request,
        context,
        prefetched,
        today=date.today(),
        region=config.region,
        freshness_days=config.freshness_windows(),
        client=client,
        triage=triage,
    )
    cards = answer.response["cards"]
    g.rule_ids = tuple(rule for r in answer.recommendations for rule in r.rule_ids)
    g.card_uuids = tuple(str(card["uuid"]) for card in cards if card.get("uuid"))
    g.card_rule_ids = {  # for the governance report (service/reports.py)
        str(card["uuid"]): tuple(card.get("extension", {}).get("org.lenadex.rules", ()))
        for card in cards
        if card.get("uuid")
    }
    metrics.count_cards(service.id, cards)
    return jsonify(answer.response)


@cds.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    """Stored (committed) before the 200; a resent item is recognised and not counted twice;
    an item about a card this service never showed is stored too, flagged as unknown."""
    service = _service(service_id)
    items = parse_feedback(json_body())
    results = current_store().record_feedback(service.id, items)
    for item, result in zip(items, results):
        metrics.FEEDBACK.labels(
            service.id, item.outcome, "new" if result.new else "duplicate", "known" if result.card_known else "unknown"
        ).inc()
        if not result.card_known:
            log.info("feedback on card %s, which is in no audit record", item.card)
    return jsonify(
        {
            "received": len(items),
            "stored": sum(result.new for result in results),
            "duplicates": sum(not result.new for result in results),
            "unknownCards": sum(not result.card_known for result in results),
        }
    )


@cds.get("/rules")
def rule_catalogue() -> Response:
    """Every rule the service checks, for auditors."""
    return jsonify(
        {
            "rules": [
                {"id": r.id, "summary": r.summary, "guidelineSection": r.section, "hooks": list(r.hooks)} for r in RULES
            ]
        }
    )


@cds.get("/livez")
def liveness() -> Response:
    """The process answers requests. Never touches the store: a database down is no reason to
    restart the service (readiness takes it out of the load balancer meanwhile)."""
    return jsonify({"status": "ok"})


# Where Alembic keeps the store's revision (its default; service/migrations/env.py keeps it).
ALEMBIC_VERSION_TABLE = "alembic_version"


@functools.cache
def _migrations() -> tuple[frozenset[str], frozenset[str]]:
    """The head revisions of service/migrations, and every revision there (read once)."""
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    scripts = ScriptDirectory.from_config(config)
    return frozenset(scripts.get_heads()), frozenset(script.revision for script in scripts.walk_revisions())


def readiness() -> Response:
    """The store answers and its schema is at this release's newest migration, or at one this
    release does not know (a newer release migrated it during a rolling deploy: migrations only
    add, so the older pods keep serving): 200. No schema, or one behind: 503 with an
    OperationOutcome (StoreUnavailable: the store does not answer)."""
    store = current_store()
    heads, known = _migrations()
    # One store transaction, bounded like every other (service/store/database.py). The table
    # is read directly: alembic's MigrationContext would log two INFO lines at every probe.
    with store.timed("health"), store._transaction() as connection:
        current: frozenset[str] = frozenset()
        if inspect(connection).has_table(ALEMBIC_VERSION_TABLE):
            current = frozenset(connection.execute(text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")).scalars())
    newer = bool(current) and not current <= known
    if current != heads and not newer:
        newest = ", ".join(sorted(heads))
        if not current:
            why = f"the store has no schema yet (newest migration: {newest})"
        else:
            why = f"the store's schema is at migration {', '.join(sorted(current))}, behind the newest, {newest}"
        log.warning("not ready: %s", why)
        raise ApiError(503, f"not ready: {why}")
    return jsonify({"status": "ok"})


# /healthz is the older name of /readyz; an endpoint of its own, so the metrics tell them apart.
cds.add_url_rule("/readyz", "readiness", readiness, methods=["GET"])
cds.add_url_rule("/healthz", "health", readiness, methods=["GET"])


@cds.get("/metrics")
def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def _request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER)
    if given is not None and _SAFE_REQUEST_ID.fullmatch(given):
        return given
    return str(uuid.uuid4())


def _start_request() -> None:
    g.started = time.perf_counter()
    g.received_at = datetime.now(timezone.utc)
    g.request_id = _request_id()  # on every log line from now on (service/logs.py)


def _finish_request(response: Response) -> Response:
    """Request id header, access log line, metrics and, for a hook call, the audit record."""
    if g.get("request_id") is None:  # pragma: no cover - _start_request runs first
        g.request_id = _request_id()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    service_id = g.get("service_id")
    endpoint = request.endpoint or "unmatched"
    metrics.observe_request(endpoint, service_id or "", response.status_code, seconds)
    access_log.info(
        "%s %s %s",
        request.method,
        request.path[:200],
        response.status_code,
        extra={"status": response.status_code, "latency_ms": round(seconds * 1000, 1)},
    )
    if endpoint == "cds.call_hook" and service_id:
        call = HookCall(
            service_id=service_id,
            status=response.status_code,
            latency_ms=round(seconds * 1000, 3),
            received_at=g.get("received_at") or datetime.now(timezone.utc),
            hook_instance=g.get("hook_instance"),
            patient_id=g.get("patient_id"),
            rule_ids=g.get("rule_ids", ()),
            card_uuids=g.get("card_uuids", ()),
            hook=SERVICES_BY_ID[service_id].hook,
            card_rule_ids=g.get("card_rule_ids", {}),
        )
        try:
            current_store().record_hook_call(call)
        except StoreUnavailable:
            # The clinician still gets the cards: decision support matters more than its
            # audit trail for one call. /readyz reports the store down meanwhile.
            metrics.AUDIT_FAILURES.inc()
            log.error("audit record of hook call %s could not be written", call.hook_instance)
    return response


def _store_unavailable(error: StoreUnavailable) -> Response:
    log.error("store unavailable: %s", error)
    return error_response(503, "the store is unavailable; retry later")


def create_app(config: Settings | None = None, *, store: Store | None = None) -> Flask:
    """The app; its store is opened here, unless given, and migrated to the newest schema
    unless LENADEX_MIGRATE_AT_START is false (then `lenadex migrate` does it, and /readyz
    answers 503 until the schema is current)."""
    config = config or Settings()
    if store is None:
        store = Store(config.database_url, audit_salt=config.audit_salt)
        if config.migrate_at_start:
            store.migrate()
    store.timer = metrics.observe_store  # store latency by operation
    _migrations()  # read once now, not in the first readiness probe
    app = Flask(__name__)
    app.config["LENADEX_SETTINGS"] = config
    # One byte over the limit: Werkzeug silently cuts a chunked body (no Content-Length) at
    # MAX_CONTENT_LENGTH, so json_body() must be able to see that there was more than the limit.
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes + 1
    app.extensions["lenadex.store"] = store
    # Settings do not change while the app runs: the fhirServer policy is parsed once.
    app.extensions["lenadex.fhir_policy"] = FhirServerPolicy.from_settings(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    # Order matters: the timer and request id first (they must be there even when a later step
    # answers early), then CORS preflights (browsers send no token in them), then authentication.
    app.before_request(_start_request)
    install_cors(app, config)
    install_auth(app, config, store)
    app.after_request(_finish_request)
    app.register_blueprint(cds)
    app.register_blueprint(openapi)
    app.register_blueprint(reports)  # after install_auth: its operator check runs after the JWT's
    if config.sandbox_page:
        from sandbox.web_routes import sandbox_page

        app.register_blueprint(sandbox_page)
    return app


def freeze_startup_heap() -> None:
    """Exempt everything built at start (the FHIR models, pydantic schemas, the app) from
    the garbage collector's full passes: they live as long as the process, and scanning them
    again and again made one call in a hundred 4× slower (bench/bench.py, large record: p99
    38 ms before, 8–16 ms after). Called once the app is built, before serving."""
    gc.freeze()
