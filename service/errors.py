"""Errors as FHIR OperationOutcome JSON (CONTRACT.md "Errors"): never HTML, never a trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

# HTTP status → OperationOutcome issue code (FHIR IssueType).
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    500: "exception",
    503: "transient",
}

# Retry-After on every 503: the store was busy or down for a moment, and a client (or the EHR's
# queue) that retries after this long most likely succeeds; feedback answered 503 was not stored.
RETRY_AFTER_SECONDS = 1


class ApiError(Exception):
    """A request the service refuses, with the status and what was wrong."""

    def __init__(self, status: int, diagnostics: str, *, expression: list[str] | None = None) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.expression = expression or []


def operation_outcome(status: int, diagnostics: str, expression: list[str] | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_CODES.get(status, "processing"),
        "diagnostics": diagnostics,
    }
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def error_response(status: int, diagnostics: str, expression: list[str] | None = None) -> Response:
    response = jsonify(operation_outcome(status, diagnostics, expression))
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.diagnostics, error.expression)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: "no such resource: see GET /cds-services for the services",
            405: "method not allowed on this path",
            413: "request body is larger than the limit",
        }
        response = error_response(status, messages.get(status, error.description or error.name))
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        app.logger.exception("unhandled error")
        return error_response(500, "internal error; the request was not processed")
