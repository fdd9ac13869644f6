"""The gunicorn worker of ``lenadex serve``: requests are read by an event loop, the app runs in
a small thread pool.

Why not gunicorn's sync or gthread workers: they read a request's head and body in the worker
(or a worker thread) itself, so a client that sends its headers a byte a second holds that
worker until it is killed — two such clients took both workers of a two-worker server, and
``/healthz`` waited 30 s. Here uvicorn's event loop reads every connection, a slow one costs a
socket and a buffer. The WSGI app is called (a2wsgi) only once the whole request has arrived
(``BufferedRequests``): a body sent a byte a second waits on the loop too, never in an app
thread, and a chunked body reaches the app with its length. What is buffered is bounded by LENADEX_MAX_BODY_BYTES (+1 byte, so that the app can
tell "over the limit" and answer its 413 OperationOutcome).

h11 parses HTTP: unlike httptools it bounds what a client may send before its head is complete
(``h11_max_incomplete_event_size``), and on this workload it is as fast (the request's JSON
and the rules take the time, not the parser). The asyncio loop is the standard library's.

Connections are taken one at a time (``OneAtATime``): uvicorn's own listener accepts every
connection waiting at once, so the first worker to wake took all of a client's keep-alive
connections and the other worker idled (seen with 8 connections: 7 and 1, or 8 and 0, and half
the throughput). Taking one and yielding lets the workers share them as sync workers do, and a
worker busy in the app (holding the interpreter lock) is the slower to take the next.

The app's threads per worker are LENADEX_THREADS (1 by default): with prefetch a hook call is
computation, and threads of one process only take turns on the interpreter lock, adding
latency; more threads are worth it where calls wait on the EHR's FHIR server.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from typing import Any, cast

from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

from service.settings import Settings

# Room for a request line and ordinary headers beside the longest Authorization header the
# app itself refuses with its JSON 401.
_HEAD_ALLOWANCE = 8 * 1024


def head_limit(settings: Settings) -> int:
    """The most a client may send before its request head is complete. Above the app's own
    Authorization limit (LENADEX_MAX_AUTHORIZATION_BYTES), so that a token somewhat over that
    limit reaches the app and gets the 401 OperationOutcome of every refused token; a head
    beyond this bound is refused by the server (400) before the app sees it."""
    return max(16 * 1024, 2 * settings.max_authorization_bytes + _HEAD_ALLOWANCE)


# SIGTERM: the listening socket closes at once, in-flight calls get this long to finish.
GRACEFUL_TIMEOUT_SECONDS = 30


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "http": "h11",
        "loop": "asyncio",
        "h11_max_incomplete_event_size": head_limit(settings),
        # Within gunicorn's own bound, after which the master kills the worker.
        "timeout_graceful_shutdown": GRACEFUL_TIMEOUT_SECONDS - 1,
        "server_header": False,  # the server's name and version are nobody's business
        "date_header": True,
    }


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class BufferedRequests:
    """ASGI middleware: read a request's body on the event loop, then hand the whole request
    to ``app`` (the a2wsgi-wrapped Flask app, whose threads then never wait on a client)."""

    def __init__(self, app: AsgiApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= self.max_body_bytes:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before its request was complete: nobody to answer
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        # The body is whole now (or over the limit): its length is known, also for a chunked
        # request, whose WSGI environ would otherwise have no CONTENT_LENGTH and read as empty.
        scope = dict(scope)
        scope["headers"] = [
            (name, value) for name, value in scope["headers"] if name not in (b"content-length", b"transfer-encoding")
        ] + [(b"content-length", str(len(body)).encode())]
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


_DEFER_PER_CONNECTION = 0.0005  # seconds
_MOST_DEFERRED = 10  # connections


class OneAtATime:
    """Accepts connections from a listening socket shared with the other workers, one per
    wake-up, and gives each to uvicorn's protocol. Stands in for the asyncio server uvicorn
    would make (``close`` and ``wait_closed`` are what its shutdown calls)."""

    def __init__(
        self,
        listener: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        open_connections: Callable[[], int],
    ) -> None:
        listener.setblocking(False)
        self._listener, self._protocol_factory = listener, protocol_factory
        self._open_connections = open_connections
        self._task = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # The worker with fewer open connections reaches accept() first and takes the
            # next one (a few ms at most; the kernel's listen queue holds it meanwhile).
            await asyncio.sleep(min(self._open_connections(), _MOST_DEFERRED) * _DEFER_PER_CONNECTION)
            try:
                connection, _ = await loop.sock_accept(self._listener)
            except OSError as error:  # out of file descriptors, a connection reset meanwhile
                logging.getLogger("lenadex.server").warning("accept failed: %s", type(error).__name__)
                await asyncio.sleep(0.1)
                continue
            try:
                await loop.connect_accepted_socket(self._protocol_factory, connection)
            except OSError:
                connection.close()
            await asyncio.sleep(0)  # another worker may take the next connection

    def close(self) -> None:
        self._task.cancel()

    async def wait_closed(self) -> None:
        with suppress(asyncio.CancelledError):
            await self._task


class _OneAtATimeServer(Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the lifespan and uvicorn's state, no listener
        config = self.config

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        connections = self.server_state.connections
        acceptors = [OneAtATime(listener, protocol, lambda: len(connections)) for listener in sockets or []]
        # uvicorn's shutdown calls only close() and wait_closed() of each of its servers.
        self.servers = cast("list[asyncio.base_events.Server]", acceptors)


class LenadexWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn under gunicorn's master, with the options above (read from LENADEX_* settings:
    gunicorn creates the worker object in the master, before the fork)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.CONFIG_KWARGS = uvicorn_options(Settings())
        super().__init__(*args, **kwargs)

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _OneAtATimeServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            raise SystemExit(Arbiter.WORKER_BOOT_ERROR)  # the master stops
