"""GET /openapi.json: the OpenAPI 3.1 document of this service (service/openapi.json).

The document is kept by hand next to the code it describes; the tests validate it with
openapi-spec-validator, check every response they receive against it and fuzz the service
from it with schemathesis, so it cannot drift from what the service does.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

openapi = Blueprint("openapi", __name__)


@functools.cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("service").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@openapi.get("/openapi.json")
def serve_openapi_document() -> Response:
    return jsonify(openapi_document())
