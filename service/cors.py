"""CORS for browser clients such as the CDS Hooks sandbox (CDS_HOOKS_NOTES.md).

A preflight (OPTIONS) is answered here, before authentication: browsers send no credentials
in it. Every other answer, errors included, carries the headers too, or the browser would
hide a 401 or 400 from the page that asked.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.settings import Settings

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Content-Type, Authorization, X-Request-Id"
# What a page may read of an answer beyond the simple headers: the request id, to quote it when
# reporting a problem, and Retry-After of a 503.
EXPOSE_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE_SECONDS = "600"


def install_cors(app: Flask, config: Settings) -> None:
    origins = config.csv(config.cors_origins) or ["*"]
    any_origin = "*" in origins

    @app.before_request
    def _answer_preflight() -> Response | None:
        # Only for paths that exist: an unknown path stays a 404.
        if request.method == "OPTIONS" and request.url_rule is not None:
            response = Response(status=204)
            del response.headers["Content-Type"]  # no body, so no type
            return response
        return None

    @app.after_request
    def _cors_headers(response: Response) -> Response:
        if any_origin:
            response.headers["Access-Control-Allow-Origin"] = "*"
        else:
            # The answer depends on the Origin header: caches must keep one copy per origin.
            response.vary.add("Origin")
            origin = request.headers.get("Origin")
            if origin in origins:
                response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_SECONDS
        return response
