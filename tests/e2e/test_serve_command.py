"""The README's start command path: `lenadex serve` as a process, answering over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.catalogue import hook_request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lenadex_serve_answers_the_moderate_renal_request(tmp_path: Path):
    port = _free_port()
    command = [str(Path(sys.executable).parent / "lenadex"), "serve", "--port", str(port)]
    env = dict(os.environ, LENADEX_DATABASE_URL=f"sqlite:///{tmp_path / 'store.sqlite3'}")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/cds-services", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.2)
        response = requests.post(
            f"{base}/cds-services/lenalidomide-order-select",
            json=hook_request("moderate-renal", "order-select"),
            timeout=10,
        )
        assert response.status_code == 200
        doses = [
            c["extension"]["org.lenadex.dose"] for c in response.json()["cards"] if "org.lenadex.dose" in c["extension"]
        ]
        assert doses == [{"drug": "lenalidomide", "mg": 10, "everyHours": 24, "days": "1-21/28"}]
    finally:
        process.terminate()
        process.wait(timeout=10)
