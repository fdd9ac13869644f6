"""A stand-in for the EHR's FHIR server: serves real FHIR R4 JSON from memory.

It answers the reads and searches lenadex makes when a client leaves prefetch keys out
(``Patient/{id}``, ``Observation?patient=…&code=…``, ``Condition?patient=…``,
``MedicationRequest?patient=…``, ``Procedure?patient=…``, ``Medication/{id}``), pages its
search results through ``Bundle.link`` next, and can misbehave on purpose (slow answers, HTTP
errors, HTML, truncated JSON, paging that loops) so that the service's fetching can be tested
against what real servers do. The sandbox command serves patients with it too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

FHIR_JSON = "application/fhir+json"
CAPABILITY_STATEMENT: dict[str, Any] = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "date": "2024-01-01",
    "kind": "instance",
    "fhirVersion": "4.0.1",
    "format": ["json"],
    "rest": [{"mode": "server"}],
}
"""What ``GET /metadata`` answers (clients such as the CDS Hooks sandbox read fhirVersion)."""
FAULTS = ("status-500", "status-401", "html", "truncated", "loop-paging", "hang", "not-fhir")


@dataclass
class StandInFhirServer:
    resources: list[dict[str, Any]]
    page_size: int = 50
    delay_seconds: float = 0.0
    """Added to every answer, as a slow network or server would."""
    fault: str | None = None
    """One of FAULTS, applied to every search and read."""
    fault_paths: tuple[str, ...] = ()
    """When set, the fault applies only to paths starting with one of these."""
    required_token: str | None = None
    cors_origin: str | None = None
    """When set (an origin or ``*``), every answer carries Access-Control-Allow-Origin, so that a
    page in a browser (the public CDS Hooks sandbox) can read it; off by default."""
    requests_seen: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight: int = 0
    """The most requests it was answering at the same time (shows parallel fetching)."""
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            response = self._respond(request)
        finally:
            with self._lock:
                self._in_flight -= 1
        if self.cors_origin:
            response.headers["Access-Control-Allow-Origin"] = self.cors_origin
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        with self._lock:
            self.requests_seen.append(
                {
                    "path": request.path,
                    "query": request.query_string.decode(),
                    "authorization": request.headers.get("Authorization"),
                }
            )
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.required_token and request.headers.get("Authorization") != f"Bearer {self.required_token}":
            return _outcome(401, "login", "missing or wrong bearer token")
        fault = self.fault if self._fault_applies(request.path) else None
        if fault == "hang":
            time.sleep(30)
        if fault == "status-500":
            return _outcome(500, "exception", "internal server error")
        if fault == "status-401":
            return _outcome(401, "login", "token expired")
        if fault == "html":
            return Response("<html><body>Login</body></html>", 200, content_type="text/html")
        if fault == "not-fhir":
            return Response(json.dumps({"hello": "world"}), 200, content_type=FHIR_JSON)
        parts = [p for p in request.path.split("/") if p]
        if parts == ["metadata"]:
            response = _json(CAPABILITY_STATEMENT)
        elif len(parts) == 2:
            response = self._read(parts[0], parts[1])
        elif len(parts) == 1:
            response = self._search(request, parts[0], loop=fault == "loop-paging")
        else:
            response = _outcome(404, "not-found", "unknown path")
        if fault == "truncated":
            body = response.get_data()
            return Response(body[: len(body) // 2], 200, content_type=FHIR_JSON)
        return response

    def _fault_applies(self, path: str) -> bool:
        return self.fault is not None and (not self.fault_paths or any(path.startswith(p) for p in self.fault_paths))

    def _read(self, resource_type: str, resource_id: str) -> Response:
        for resource in self.resources:
            if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
                return _json(resource)
        return _outcome(404, "not-found", f"{resource_type}/{resource_id} not found")

    def _search(self, request: Request, resource_type: str, *, loop: bool) -> Response:
        patient = request.args.get("patient") or request.args.get("subject", "")
        patient = patient.removeprefix("Patient/")
        codes = {c.split("|")[-1] for c in request.args.get("code", "").split(",") if c}
        matches = [
            r
            for r in self.resources
            if r.get("resourceType") == resource_type
            and (not patient or _subject_id(r) == patient)
            and (not codes or _codes(r) & codes)
        ]
        count = int(request.args.get("_count", self.page_size) or self.page_size)
        count = max(1, min(count, self.page_size))
        offset = int(request.args.get("_offset", 0) or 0)
        page = matches[offset : offset + count]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": [{"relation": "self", "url": request.url}],
        }
        if page:
            bundle["entry"] = [
                {
                    "fullUrl": f"{request.host_url}{r['resourceType']}/{r.get('id', '')}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in page
            ]
        next_offset = offset if loop else offset + count
        if loop or next_offset < len(matches):
            query = {k: v for k, v in request.args.items() if k != "_offset"}
            query["_offset"] = str(next_offset)
            bundle["link"].append({"relation": "next", "url": f"{request.base_url}?{urlencode(query)}"})
        return _json(bundle)

    # --- running it --------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "RunningServer":
        server = make_server(host, port, self, threaded=True)
        # stop() waits for the serving loop's next poll: 0.05 s, not the default 0.5 s per stop.
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        return RunningServer(server, thread, f"http://{host}:{server.server_port}")


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _subject_id(resource: dict[str, Any]) -> str:
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id", ""))
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return str(reference).rsplit("/", 1)[-1]


def _codes(resource: dict[str, Any]) -> set[str]:
    concept = resource.get("code") or {}
    return {str(c.get("code")) for c in concept.get("coding") or [] if isinstance(c, dict)}


def _json(resource: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(resource), status, content_type=FHIR_JSON)


def _outcome(status: int, code: str, diagnostics: str) -> Response:
    return _json(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
        },
        status,
    )
