"""`lenadex serve` as a real process (the README's start command, gunicorn and its workers) on a
free port of 127.0.0.1, with its log as JSON lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `lenadex serve` process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, base_url: str, port: int) -> None:
        self.process, self.log_path, self.base_url, self.port = process, log_path, base_url, port

    def log(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def sandbox_auth(port: int) -> dict[str, str]:
    """Settings that trust the public sandbox's tokens, with `aud` the server's own URL."""
    return {
        "LENADEX_AUTH": "jwt",
        "LENADEX_JWKS": str(SANDBOX_JWKS),
        "LENADEX_TRUSTED_ISSUERS": SANDBOX_ISSUER,
        "LENADEX_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }


@contextmanager
def serving(
    database_url: str,
    workdir: Path,
    run: int = 1,
    *,
    workers: int = 2,
    auth: bool = True,
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``lenadex serve --workers N`` until the block ends, then SIGTERM (a graceful stop)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENADEX_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"LENADEX_DATABASE_URL": database_url, "LENADEX_LOG_FORMAT": "json"})
    if auth:
        env.update(sandbox_auth(port))
    env.update(settings or {})
    command = [str(Path(sys.executable).parent / "lenadex"), "serve", "--workers", str(workers), "--port", str(port)]
    log_path = workdir / f"server-{run}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = Server(process, log_path, f"http://127.0.0.1:{port}", port)
    try:
        wait_until_ready(server, workers)
        yield server
    finally:
        process.terminate()  # gunicorn: graceful shutdown of the workers
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_ready(server: Server, workers: int) -> None:
    """Until every worker has answered: a worker still importing the app leaves the
    connection waiting in the listen queue, so one answer does not mean all are up."""
    deadline = time.monotonic() + 90
    while True:
        assert server.process.poll() is None, server.log_text()
        try:
            requests.get(server.base_url + "/healthz", timeout=2)
        except requests.RequestException:
            pass
        answered = {
            e["pid"] for e in server.log() if e["logger"] == "lenadex.access" and e["message"] == "GET /healthz 200"
        }
        if len(answered) >= workers:
            return
        assert time.monotonic() < deadline, "lenadex serve did not start:\n" + server.log_text()
        time.sleep(0.1)
