"""Every response the tests receive from the service is checked against its OpenAPI document.

``assert_conforms(method, path, response)`` finds the documented operation and response for
the status, checks the media type and validates the JSON body against the schema
(JSON Schema 2020-12 as OpenAPI 3.1 uses it, with formats). What the document cannot list per
operation is checked from its prose: an undocumented method on a documented path must be a
405 OperationOutcome with an Allow header, an unknown path a 404 OperationOutcome, and every
4xx/5xx body is an OperationOutcome.

tests/conftest.py wires this into every test: a session-wide patch of ``requests.Session.send``
checks each response whose URL starts with the base URL of a service started by the tests
(``register``/``unregister``), and nothing else (the service's own calls to FHIR servers
pass through untouched).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

DOCUMENT_FILE = Path(__file__).resolve().parents[1] / "service" / "openapi.json"
_DOCUMENT_URI = "urn:lenadex:openapi"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.cache
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@functools.cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resource(_DOCUMENT_URI, DRAFT202012.create_resource(document()))


@functools.cache
def _paths() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Documented path templates as anchored regexes, literal paths first."""
    templates = sorted(document()["paths"], key=lambda t: ("{" in t, t))
    return tuple((re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"), t) for t in templates)


def schema_errors(body: Any, pointer: str) -> list[str]:
    """Validation errors of ``body`` against the document's schema at ``pointer``
    (e.g. ``#/components/schemas/Card``), most relevant first; [] when it conforms."""
    validator = OAS31Validator(
        {"$ref": _DOCUMENT_URI + pointer}, registry=_registry(), format_checker=oas31_format_checker
    )
    errors = list(validator.iter_errors(body))
    if not errors:
        return []
    first = best_match(errors)
    ordered = [first] + [e for e in errors if e is not first]
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message[:300]}" for e in ordered[:10]]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        resolved: Any = document()
        for part in pointer:
            resolved = resolved[part]
        node = resolved
    return node


def _body_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"body is not JSON: {response.text[:200]!r}") from None


def _assert_operation_outcome(where: str, response: requests.Response) -> None:
    errors = schema_errors(_body_json(response), "#/components/schemas/OperationOutcome")
    assert not errors, f"{where}: HTTP {response.status_code} body is not an OperationOutcome: {errors}"


def assert_conforms(method: str, path: str, response: requests.Response) -> None:
    """AssertionError naming the first way ``response`` departs from the OpenAPI document."""
    method = method.lower()
    where = f"{method.upper()} {path}"
    status = response.status_code
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if status >= 400:
        assert media_type in ("application/json", "application/fhir+json"), (
            f"{where}: HTTP {status} answered with {media_type or 'no content type'}, not JSON"
        )
        _assert_operation_outcome(where, response)

    template = next((t for pattern, t in _paths() if pattern.match(path)), None)
    if template is None:  # (401 first when authentication is on: it is checked before routing)
        assert status in (401, 404), f"{where}: undocumented path answered HTTP {status}, not 404"
        return
    path_item = document()["paths"][template]
    operation = path_item.get(method)
    if operation is None and method == "head":
        operation, method = path_item.get("get"), "get"
    if operation is None:
        allowed = [m.upper() for m in _METHODS if m in path_item]
        assert status in (401, 405), f"{where}: method not documented (documented: {allowed}) but HTTP {status}"
        if status == 405:
            assert response.headers.get("Allow"), f"{where}: 405 without an Allow header"
        return

    documented = operation["responses"]
    spec = documented.get(str(status)) or documented.get(f"{str(status)[0]}XX") or documented.get("default")
    assert spec is not None, f"{where} ({template}): HTTP {status} is not documented (documented: {sorted(documented)})"
    spec = _resolve(spec)
    content = spec.get("content")
    if not content:
        assert not response.content or response.request.method == "HEAD", (
            f"{where}: HTTP {status} documents no body but got {response.content[:100]!r}"
        )
        return
    assert media_type in content, f"{where}: HTTP {status} media type {media_type!r} is not one of {sorted(content)}"
    if response.request is not None and response.request.method == "HEAD":
        return
    schema = content[media_type].get("schema")
    if schema is None or not media_type.endswith("json"):
        return
    body = _body_json(response)
    pointer = schema["$ref"].removeprefix(_DOCUMENT_URI) if "$ref" in schema else None
    if pointer is None:  # an inline schema: validate through its location in the document
        code = str(status) if str(status) in documented else f"{str(status)[0]}XX"
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"#/paths/{escaped}/{method}/responses/{code}"
        if "$ref" in documented[code]:
            pointer = documented[code]["$ref"]
        pointer += f"/content/{media_type.replace('/', '~1')}/schema"
    errors = schema_errors(body, pointer)
    assert not errors, f"{where}: HTTP {status} body departs from the OpenAPI document: {errors}"


# --- wiring: which responses are checked --------------------------------------------------

_checked_base_urls: set[str] = set()
_lock = threading.Lock()


def register(base_url: str) -> None:
    """Check every response from this base URL from now on."""
    with _lock:
        _checked_base_urls.add(base_url.rstrip("/"))


def unregister(base_url: str) -> None:
    with _lock:
        _checked_base_urls.discard(base_url.rstrip("/"))


def _checked_path(url: str) -> str | None:
    with _lock:
        bases = tuple(_checked_base_urls)
    for base in bases:
        if url == base or url.startswith(base + "/") or url.startswith(base + "?"):
            return url[len(base) :].split("?", 1)[0] or "/"
    return None


@contextmanager
def checking_every_response() -> Iterator[None]:
    """Patch ``requests.Session.send`` (and so requests.get/post…) for the duration."""
    original = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = original(self, request, **kwargs)
        path = _checked_path(request.url or "")
        if path is not None and not kwargs.get("stream"):
            assert_conforms(request.method or "GET", path, response)
        return response

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.send = original  # type: ignore[method-assign]
