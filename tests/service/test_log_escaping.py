"""Request values cannot forge log lines: the text format escapes control characters, and the
JSON format writes them as JSON escapes (service/logs.py)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sandbox.catalogue import hook_request
from service.app import create_app
from service.logs import JsonFormatter, TextFormatter, configure_logging
from service.settings import Settings

SELECT = "lenalidomide-order-select"
FORGED = "x\n2026-11-25T00:00:00.000+00:00 INFO lenadex.access: POST /forged 200\r\x1b[2K\x85\u2028y"


def _record(**context: object) -> logging.LogRecord:
    record = logging.LogRecord("lenadex.access", logging.INFO, __file__, 1, "POST %s 400", ("/p\nq",), None)
    for name, value in context.items():
        setattr(record, name, value)
    return record


def test_the_text_formatter_keeps_a_hostile_hook_instance_on_one_line() -> None:
    line = TextFormatter().format(_record(hookInstance=FORGED, status=400))
    assert line.splitlines() == [line]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)
    assert "hookInstance=x\\n2026-11-25" in line and "\\r\\x1b[2K\\x85\\u2028y" in line
    assert "POST /p\\nq 400" in line


def test_the_text_formatter_tells_an_escape_from_a_literal_backslash() -> None:
    assert "hookInstance=a\\\\nb" in TextFormatter().format(_record(hookInstance="a\\nb"))


def test_json_lines_stay_one_line_and_keep_the_value() -> None:
    line = JsonFormatter().format(_record(hookInstance=FORGED))
    assert line.splitlines() == [line]
    assert json.loads(line)["hookInstance"] == FORGED


def test_a_hostile_hook_instance_sent_over_http_gives_one_access_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging: None
) -> None:
    configure_logging(Settings(log_format="text"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'logs.sqlite3'}"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        # The hookInstance is logged before the request is validated (so that a refused call is
        # found too): a non-uuid one is refused, and its access line must still be one line.
        body = hook_request("moderate-renal", "order-select")
        body["hookInstance"] = FORGED
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_port}/cds-services/{SELECT}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
    finally:
        server.shutdown()
        thread.join(timeout=10)
    lines = capsys.readouterr().err.split("\n")
    access = [line for line in lines if "lenadex.access" in line]
    assert len(access) == 1, access  # the forged one is inside it, escaped
    [line] = access
    assert f" {status}" in line and "hookInstance=x\\n2026-11-25" in line
    assert not any(line.startswith("2026-11-25T00:00:00.000+00:00") for line in lines)
