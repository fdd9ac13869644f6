"""A FHIR server that misbehaves in every way at once, one way per path prefix, run as its own
process so that its threads, sockets and memory are not counted with the service's.

    python -m tests.conformance.faulty_fhir_server [slug]   → prints its base URL, then serves

``{base}/{fault}/`` is a FHIR base URL whose every read and search misbehaves as ``fault``
says: the stand-in's faults (sandbox.fhir_server.FAULTS: hang, status-500, status-401, html,
truncated, not-fhir, loop-paging) and these:

- ``ok``: no fault (the sandbox patient's record);
- ``dribble``: 200 and FHIR headers at once, then one byte every 0.1 s for 60 s — each read
  returns in time, so only a deadline on the whole answer stops it;
- ``endless-pages``: every page links to a new next page, never the same URL twice;
- ``huge``: a 200 MB Bundle served as fast as the socket takes it;
- ``deep``: a Bundle nested 50,000 levels deep;
- ``nan``: a Patient with NaN in it;
- ``reset``: the connection is closed before any answer.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox.catalogue import fhir_resources
from sandbox.fhir_server import FAULTS, FHIR_JSON, StandInFhirServer

OWN_FAULTS = ("ok", "dribble", "endless-pages", "huge", "deep", "nan", "reset")
ALL_FAULTS = (*FAULTS, *OWN_FAULTS)


def _dribble() -> Iterator[bytes]:
    yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
    for _ in range(600):
        time.sleep(0.1)
        yield b" "


def _huge() -> Iterator[bytes]:
    yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
    entry = json.dumps({"resource": {"resourceType": "Basic", "id": "x", "code": {"text": "x" * 1000}}}).encode()
    chunk = b",".join([entry] * 1000) + b","
    for _ in range(200):
        yield chunk
    yield entry + b"]}"


class FaultyFhirServer:
    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.stand_ins = {fault: StandInFhirServer(resources, fault=fault, page_size=5) for fault in FAULTS}
        self.healthy = StandInFhirServer(resources)
        self.reset_port = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        fault, _, rest = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + fault
        environ["PATH_INFO"] = "/" + rest
        if fault in self.stand_ins:
            return self.stand_ins[fault](environ, start_response)
        if fault == "ok":
            return self.healthy(environ, start_response)
        return self._own_fault(fault, Request(environ))(environ, start_response)

    def _own_fault(self, fault: str, request: Request) -> Response:
        if fault == "dribble":
            return Response(_dribble(), 200, content_type=FHIR_JSON)
        if fault == "huge":
            return Response(_huge(), 200, content_type=FHIR_JSON)
        if fault == "deep":
            return Response(
                b'{"resourceType": "Bundle", "entry": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
                200,
                content_type=FHIR_JSON,
            )
        if fault == "nan":
            return Response(
                b'{"resourceType": "Patient", "id": "x", "multipleBirthInteger": NaN}', 200, content_type=FHIR_JSON
            )
        if fault == "endless-pages":
            page = int(request.args.get("page", "0"))
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "link": [{"relation": "next", "url": f"{request.base_url}?page={page + 1}"}],
            }
            return Response(json.dumps(bundle), 200, content_type=FHIR_JSON)
        if fault == "reset":
            # The reset server is a plain socket: redirecting there makes the client meet it.
            return Response(status=307, headers={"Location": f"http://127.0.0.1:{self.reset_port}/"})
        return Response(
            json.dumps(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "not-found", "diagnostics": f"unknown fault {fault}"}],
                }
            ),
            404,
            content_type=FHIR_JSON,
        )


def _serve_resets() -> int:
    """A TCP server that accepts and closes at once (a connection reset to the client)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        while True:
            connection, _ = listener.accept()
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.close()

    threading.Thread(target=run, daemon=True).start()
    return int(listener.getsockname()[1])


def main(argv: list[str]) -> None:
    slug = argv[1] if len(argv) > 1 else "moderate-renal"
    app = FaultyFhirServer(fhir_resources(slug))
    app.reset_port = _serve_resets()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
