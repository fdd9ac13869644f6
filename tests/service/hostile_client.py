"""A hostile HTTP client, for tests against the real server on 127.0.0.1: connections that
send their request a byte at a time and never finish (slowloris), and requests whose head or
body is larger than the service allows. Raw sockets, because well-behaved client libraries
cannot send like this."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

HOOK_PATH = "/cds-services/lenalidomide-order-select"


class SlowClient:
    """One connection that trickles ``head`` and then ``body``, one byte every ``interval``
    seconds, until stopped; it never completes its request while a test runs."""

    def __init__(self, port: int, *, slow_part: str, interval: float = 0.5) -> None:
        if slow_part == "head":
            # The head is never completed: no blank line ends it.
            self.data = f"POST {HOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode() + b"a" * 4000
        elif slow_part == "body":
            # A complete head, then a body that arrives far slower than it is announced.
            head = (
                f"POST {HOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 4000\r\n\r\n"
            )
            self.data = head.encode() + b" " * 4000
            self.burst = len(head)  # the head at once, then the body byte by byte
        else:
            raise ValueError(slow_part)
        self.slow_part, self.interval = slow_part, interval
        self.sent = 0
        self._stop = threading.Event()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def _trickle(self) -> None:
        if self.slow_part == "body":
            self.sock.sendall(self.data[: self.burst])
            self.sent = self.burst
        while not self._stop.is_set() and self.sent < len(self.data):
            try:
                self.sock.send(self.data[self.sent : self.sent + 1])
            except OSError:
                return
            self.sent += 1
            self._stop.wait(self.interval)

    def start(self) -> SlowClient:
        self._thread.start()
        return self

    def still_waiting(self) -> bool:
        """True while the connection is open and the server has answered nothing: the
        request is still being sent."""
        if self.sent >= len(self.data):
            return False
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) != b""  # b"": the server closed it
        except BlockingIOError:
            return True  # nothing to read: no answer yet
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@contextmanager
def slow_clients(port: int, *, heads: int, bodies: int, interval: float = 0.5) -> Iterator[list[SlowClient]]:
    with ExitStack() as stack:
        clients = []
        for part, count in (("head", heads), ("body", bodies)):
            for _ in range(count):
                client = SlowClient(port, slow_part=part, interval=interval).start()
                stack.callback(client.stop)
                clients.append(client)
        yield clients


def raw_request(port: int, request: bytes, *, timeout: float = 10) -> bytes:
    """Send bytes as they are and read the answer until the server closes or is silent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may answer and close before all of a huge request is sent
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and len(answer) > 65536:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def head_with_a_header_of(size: int) -> bytes:
    return (
        b"GET /cds-services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Large: " + b"a" * size + b"\r\nConnection: close\r\n\r\n"
    )


def chunked_post(path: str, total: int, chunk: int = 64 * 1024) -> bytes:
    """A POST whose body is sent in chunks, with no Content-Length to refuse it by."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    body = b""
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        body += f"{size:x}\r\n".encode() + b" " * size + b"\r\n"
        sent += size
    return head + body + b"0\r\n\r\n"
