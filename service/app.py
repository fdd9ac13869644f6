"""The Flask application: discovery, hook calls, the rule catalogue, health.

Application factory: ``create_app(settings)``; everything the routes need hangs off the app
(settings, store), so tests can build as many independent apps as they like.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from rules.catalogue import RULES
from service.declarations import SERVICES, SERVICES_BY_ID, CdsService
from service.errors import ApiError, register_error_handlers
from service.hook_request import parse_hook_request
from service.pipeline import answer_hook
from service.prefetch import client_for, resolve_prefetch
from service.settings import Settings

log = logging.getLogger(__name__)

cds = Blueprint("cds", __name__)


def settings() -> Settings:
    return current_app.config["LENADEX_SETTINGS"]  # type: ignore[no-any-return]


def _service(service_id: str) -> CdsService:
    service = SERVICES_BY_ID.get(service_id)
    if service is None:
        raise ApiError(404, f"unknown CDS service {service_id!r}; see GET /cds-services")
    return service


def json_body() -> Any:
    """The request body as JSON: 415 for another content type, 400 for malformed JSON."""
    mimetype = request.mimetype
    if mimetype not in ("application/json", "application/fhir+json") and not mimetype.endswith("+json"):
        raise ApiError(415, f"Content-Type must be application/json, not {mimetype or 'missing'!r}")
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw)
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
    hook_request, context = parse_hook_request(json_body(), service.hook)
    config = settings()
    client = client_for(
        hook_request,
        timeout_seconds=config.fetch_timeout_seconds,
        budget_seconds=config.fetch_budget_seconds,
        max_pages=config.fetch_max_pages,
    )
    prefetched = resolve_prefetch(service.prefetch, hook_request, context, client)
    answer = answer_hook(
        hook_request, context, prefetched, today=date.today(), region=config.region, client=client
    )
    return jsonify(answer.response)


@cds.get("/rules")
def rule_catalogue() -> Response:
    """Every rule the service checks, for auditors."""
    return jsonify({"rules": [
        {"id": r.id, "summary": r.summary, "guidelineSection": r.section, "hooks": list(r.hooks)}
        for r in RULES
    ]})


@cds.get("/healthz")
def health() -> Response:
    return jsonify({"status": "ok"})


def create_app(config: Settings | None = None) -> Flask:
    config = config or Settings()
    app = Flask(__name__)
    app.config["LENADEX_SETTINGS"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    app.register_blueprint(cds)
    return app
