"""A hostile FHIR server for the tests of the service's outbound fetches: one object that
offers every attack a FHIR server can make on the service, one method per attack.

It wraps a pytest_httpserver HTTPServer (threaded, as a real server answers the service's
parallel fetches) that records every request it gets, plus, on demand, plain TCP servers
that trickle their headers. Everything it opens binds 127.0.0.1 only: no test using it sends
a packet off the machine.

    hostile_fhir.next_link_to(path, url, resources)   a searchset whose next link is ``url``
    hostile_fhir.redirect_to(path, location, ...)     a 3xx, optionally with a huge body
    hostile_fhir.trickle_headers()                    a status line one byte at a time
    hostile_fhir.huge_body(path, size)                a valid searchset of ``size`` bytes
    hostile_fhir.gzip_bomb(path, inflated_size)       small on the wire, huge decoded
    hostile_fhir.many_entries(path, count)            a small searchset of many entries
    hostile_fhir.pages_without_end(path)              a new next page, always
    hostile_fhir.pages_that_loop(path, resources)     next links back to a page already read
    hostile_fhir.answer(path, body)                   anything else, as given

The streamed bodies (redirect_to, huge_body) come from generators whose bytes are counted
(``Stream``), so that a test can tell how much of a body the service made the server send.
The ``hostile_fhir`` and ``elsewhere`` fixtures are in tests/conformance/conftest.py; the
faults that need a process of their own (so that leaks are counted for the service alone) are
in faulty_fhir_server.py.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from sandbox.fhir_server import FHIR_JSON

HOST = "127.0.0.1"

RequestPath = str | re.Pattern[str]
"""A request path as pytest_httpserver matches it: exact, a compiled pattern, or "" for any."""

_SEARCHSET_START = b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
_SEARCHSET_END = b"]}"
_CHUNK = 1024 * 1024


def eventually(condition: Callable[[], bool], *, tries: int = 50, interval: float = 0.1) -> bool:
    """Whether ``condition`` holds within ``tries`` looks ``interval`` apart (a bounded wait)."""
    for _ in range(tries):
        if condition():
            return True
        time.sleep(interval)
    return condition()


def searchset(resources: Sequence[Mapping[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle of ``resources``, with a next link when ``next_url`` is given."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": dict(r)} for r in resources],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


class Stream:
    """A body streamed from a generator, made anew for every request: the bytes all of them
    yielded so far, and whether every one has stopped (ran out, or was closed when the client
    went away)."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]], closing: threading.Event) -> None:
        self._chunks = chunks
        self._closing = closing
        self._lock = threading.Lock()
        self.bytes_yielded = 0
        self.started = 0
        self.ended = 0

    def body(self) -> Iterator[bytes]:
        with self._lock:
            self.started += 1
        try:
            for chunk in self._chunks():
                if self._closing.is_set():  # the fixture is torn down: end, whoever is reading
                    return
                with self._lock:
                    self.bytes_yielded += len(chunk)
                yield chunk
        finally:
            with self._lock:
                self.ended += 1

    @property
    def stopped(self) -> bool:
        """At least one body was started, and none is being yielded any more."""
        with self._lock:
            return self.started > 0 and self.ended == self.started


class Trickle:
    """A TCP server on 127.0.0.1 that accepts, then sends an HTTP status line one byte every
    0.1 s (never a whole header, for at most 60 s a connection), and records when the client
    has gone (a send fails, or a read sees the connection shut)."""

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.base_url = f"http://{HOST}:{self.port}/fhir"
        self.accepted = threading.Event()
        self.closed = threading.Event()
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def client_went_away(self, *, tries: int = 50) -> bool:
        """Whether the client shut a trickled connection within ``tries`` looks 0.1 s apart."""
        return eventually(self.closed.is_set, tries=tries)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted.set()
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            for _ in range(600):  # at most 60 s
                if self._stop.is_set():
                    return
                try:
                    connection.sendall(b"H")
                    # A shut socket answers the next send with EPIPE/ECONNRESET, or a read with b"".
                    connection.setblocking(False)
                    try:
                        if connection.recv(4096) == b"":
                            self.closed.set()
                            return
                    except BlockingIOError:
                        pass
                    finally:
                        connection.setblocking(True)
                except OSError:
                    self.closed.set()
                    return
                time.sleep(0.1)


class HostileFhirServer:
    """A FHIR server on 127.0.0.1 that answers what a test tells it to and records every
    request. ``base_url`` is its FHIR base (``/fhir``); paths below are absolute (``/fhir/Condition``).
    A request no method was called for is answered 500 by pytest_httpserver."""

    def __init__(self) -> None:
        self.http = HTTPServer(host=HOST, port=0, threaded=True)
        self._closing = threading.Event()
        self._trickles: list[Trickle] = []
        self.http.start()

    # --- where it is, what it saw --------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.http.port)

    @property
    def origin(self) -> str:
        """``host:port``, as a URL names this server."""
        return f"{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url_for("/fhir")

    def url_for(self, path: str) -> str:
        return str(self.http.url_for(path))

    @property
    def log(self) -> list[tuple[Request, Response]]:
        """Every request with the answer it got, in the order they came."""
        return list(self.http.log)

    @property
    def requests_seen(self) -> list[Request]:
        return [request for request, _ in self.http.log]

    @property
    def paths_seen(self) -> list[str]:
        return [request.path for request, _ in self.http.log]

    def close(self) -> None:
        self._closing.set()
        for trickle in self._trickles:
            trickle.close()
        self.http.clear()
        if self.http.is_running():
            self.http.stop()

    # --- the attacks -----------------------------------------------------------------------

    def answer(
        self,
        path: RequestPath,
        body: Mapping[str, Any] | bytes | str,
        *,
        status: int = 200,
        content_type: str = FHIR_JSON,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """``body`` (a mapping is sent as JSON) at ``path``; with ``query``, only for requests
        with that query string. The first matching call wins, so give the specific one first."""
        data = json.dumps(body).encode() if isinstance(body, Mapping) else body
        self.http.expect_request(path, query_string=query).respond_with_response(
            Response(data, status, headers=dict(headers or {}), content_type=content_type)
        )

    def answer_bundle(
        self,
        path: RequestPath,
        resources: Sequence[Mapping[str, Any]],
        *,
        next_url: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """A searchset of ``resources`` at ``path``, with a next link when ``next_url`` is given."""
        self.answer(path, searchset(resources, next_url), query=query)

    def next_link_to(
        self,
        path: RequestPath,
        url: str,
        resources: Sequence[Mapping[str, Any]] = (),
        *,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """A searchset of ``resources`` whose next link is ``url``, exactly as given: another
        origin, a path that climbs out of the base, userinfo, backslashes, encoded dots."""
        self.answer_bundle(path, resources, next_url=url, query=query)

    def redirect_to(self, path: RequestPath, location: str, *, status: int = 302, body_bytes: int = 0) -> Stream:
        """A ``status`` redirect to ``location``, with a body of ``body_bytes`` bytes (declared in
        Content-Length) streamed from a generator: how much of it was sent is counted."""

        def chunks() -> Iterator[bytes]:
            chunk = b"x" * min(_CHUNK, body_bytes)
            left = body_bytes
            while left > 0:
                yield chunk[:left]
                left -= len(chunk)

        return self._stream(
            path, chunks, body_bytes, status=status, headers={"Location": location}, content_type="text/html"
        )

    def trickle_headers(self) -> Trickle:
        """A FHIR base URL (``.base_url``) on another port where a status line comes one byte
        at a time, never a whole header; ``.client_went_away()`` tells whether the client shut
        the connection. Closed with the fixture, or earlier with ``.close()``."""
        trickle = Trickle()
        self._trickles.append(trickle)
        return trickle

    def huge_body(self, path: RequestPath, size: int) -> Stream:
        """A valid searchset of Basic resources about ``size`` bytes long (exact length in
        Content-Length), streamed as fast as the client reads it."""
        entry = json.dumps({"resource": {"resourceType": "Basic", "id": "b", "code": {"text": "x" * 900}}}).encode()
        count = max(1, size // (len(entry) + 1))
        length = len(_SEARCHSET_START) + count * (len(entry) + 1) - 1 + len(_SEARCHSET_END)
        per_chunk = max(1, _CHUNK // (len(entry) + 1))

        def chunks() -> Iterator[bytes]:
            yield _SEARCHSET_START
            left = count
            while left > 0:
                n = min(per_chunk, left)
                left -= n
                yield b",".join([entry] * n) + (b"," if left else _SEARCHSET_END)

        return self._stream(path, chunks, length)

    def gzip_bomb(self, path: RequestPath, inflated_size: int) -> int:
        """A searchset that is ``inflated_size`` bytes once decoded (mostly whitespace), sent
        gzip-compressed with Content-Encoding: gzip. Returns its size on the wire."""
        start, end = b'{"resourceType": "Bundle", "type": "searchset", "entry": []', b"}"
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        parts = [compressor.compress(start)]
        spaces, left = b" " * _CHUNK, max(0, inflated_size - len(start) - len(end))
        while left > 0:
            parts.append(compressor.compress(spaces[:left]))
            left -= _CHUNK
        parts += [compressor.compress(end), compressor.flush()]
        bomb = b"".join(parts)
        self.answer(path, bomb, headers={"Content-Encoding": "gzip"})
        return len(bomb)

    def many_entries(self, path: RequestPath, count: int) -> int:
        """A searchset of ``count`` minimal Basic entries (many, but few bytes each). Returns its size."""
        entries = ",".join(['{"resource": {"resourceType": "Basic", "id": "b"}}'] * count).encode()
        body = _SEARCHSET_START + entries + _SEARCHSET_END
        self.answer(path, body)
        return len(body)

    def pages_without_end(self, path: RequestPath) -> None:
        """Every page of the search links to a new next page (``?page=n+1``), never the same URL twice."""

        def page(request: Request) -> Response:
            number = int(request.args.get("page", "0"))
            return Response(
                json.dumps(searchset([], f"{request.base_url}?page={number + 1}")), 200, content_type=FHIR_JSON
            )

        self.http.expect_request(path).respond_with_handler(page)

    def pages_that_loop(self, path: RequestPath, resources: Sequence[Mapping[str, Any]]) -> None:
        """The first page has ``resources`` and links to ``?page=1``; page 1 links to page 2, and
        page 2 back to page 1, a page already read."""

        def page(request: Request) -> Response:
            number = request.args.get("page")
            if number is None:
                bundle = searchset(resources, f"{request.base_url}?page=1")
            else:
                bundle = searchset([], f"{request.base_url}?page={2 if number == '1' else 1}")
            return Response(json.dumps(bundle), 200, content_type=FHIR_JSON)

        self.http.expect_request(path).respond_with_handler(page)

    # ---------------------------------------------------------------------------------------

    def _stream(
        self,
        path: RequestPath,
        chunks: Callable[[], Iterator[bytes]],
        length: int,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = FHIR_JSON,
    ) -> Stream:
        stream = Stream(chunks, self._closing)

        def respond(request: Request) -> Response:
            return Response(
                stream.body(),
                status,
                content_type=content_type,
                headers={**(headers or {}), "Content-Length": str(length)},
            )

        self.http.expect_request(path).respond_with_handler(respond)
        return stream
