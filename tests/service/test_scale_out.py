"""`lenadex serve --workers 2`: gunicorn workers sharing one store, as replicas would.

End to end over HTTP against the real command: feedback posted to whichever worker is stored
once and survives a restart, a JWT replayed to the other worker is refused, and /metrics adds
up the counts of all workers. Runs on PostgreSQL (the production store; needs
LENADEX_TEST_POSTGRES_URL) and on a SQLite file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.gunicorn_conf import available_cpus, gunicorn_options, worker_count
from service.settings import Settings
from service.store import Store
from service.store.tables import feedback

from .conftest import needs_postgres, postgres_schema
from .served import Server, serving

SERVICE = "lenalidomide-order-sign"
FEEDBACK_PATH = f"/cds-services/{SERVICE}/feedback"
ITEMS = 40


def _post_feedback(server: Server, token: Callable[..., str], item: dict[str, Any], **claims: Any) -> requests.Response:
    url = server.base_url + FEEDBACK_PATH
    # A new connection per request (no session): the workers take turns accepting them.
    return requests.post(
        url, json={"feedback": [item]}, headers={"Authorization": f"Bearer {token(url, **claims)}"}, timeout=15
    )


def _items() -> list[dict[str, Any]]:
    return [
        {
            "card": str(uuid.UUID(int=n)),
            "outcome": "accepted" if n % 2 else "overridden",
            "outcomeTimestamp": f"2025-03-01T09:{n:02d}:00Z",
        }
        for n in range(ITEMS)
    ]


def _feedback_requests_counted(server: Server) -> float:
    text = requests.get(server.base_url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "lenadex_http_requests_total"
        and sample.labels.get("endpoint") == "cds.feedback"
        and sample.labels.get("status") == "200"
    )


def _replay_reaches_another_worker(server: Server, token: Callable[..., str]) -> None:
    """A token accepted by one worker, sent again (new connections) until another worker got
    it: every replay must be refused, and at least one must have met the other worker."""
    item = {"card": "replay-card", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T10:00:00Z"}
    url = server.base_url + FEEDBACK_PATH
    for _ in range(10):
        jwt_ = token(url)
        headers = {"Authorization": f"Bearer {jwt_}"}
        first = requests.post(url, json=item, headers=headers, timeout=15)
        assert first.status_code == 200
        accepted_by = [e for e in server.log() if e["logger"] == "lenadex.access" and e.get("status") == 200][-1]["pid"]
        seen = len(server.log())
        # Sent side by side, as an attacker would: while one worker is busy the other
        # accepts (sync workers that are idle would otherwise take turns unevenly).
        with ThreadPoolExecutor(max_workers=6) as pool:
            replays = list(
                pool.map(lambda _, h=headers: requests.post(url, json=item, headers=h, timeout=15), range(6))
            )
        for replay in replays:
            assert replay.status_code == 401
            assert replay.json()["issue"][0]["diagnostics"] == "authentication failed"
        refusals = [e for e in server.log()[seen:] if e["message"] == "authentication failed: jti replayed"]
        assert len(refusals) == 6
        if any(e["pid"] != accepted_by for e in refusals):
            return
    pytest.fail("in 60 replays no request reached the other worker")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_postgres])])
def test_two_workers_share_one_store_across_a_restart(
    backend: str, tmp_path: Path, sandbox_token: Callable[..., str]
) -> None:
    with postgres_schema() if backend == "postgres" else _sqlite(tmp_path) as database_url:
        items = _items()
        with serving(database_url, tmp_path, run=1) as server:
            with ThreadPoolExecutor(max_workers=4) as pool:  # concurrent, as EHR clients are
                answers = list(pool.map(lambda item: _post_feedback(server, sandbox_token, item), items))
            assert [a.status_code for a in answers] == [200] * ITEMS
            assert sum(a.json()["stored"] for a in answers) == ITEMS
            served_by = {
                e["pid"] for e in server.log() if e["logger"] == "lenadex.access" and "feedback" in e["message"]
            }
            assert len(served_by) == 2, "both workers should have answered some of the requests"
            # Each worker counts in its own process; /metrics adds them up.
            assert _feedback_requests_counted(server) == ITEMS
            _replay_reaches_another_worker(server, sandbox_token)

        with serving(database_url, tmp_path, run=2) as server:
            # After the restart the same feedback is recognised as already stored.
            answers = [_post_feedback(server, sandbox_token, item) for item in items[:10]]
            assert [a.json()["duplicates"] for a in answers] == [1] * 10
            assert _feedback_requests_counted(server) == 10  # a fresh metrics folder

        store = Store(database_url)  # the database itself, not the service, is the witness
        try:
            with store.engine.connect() as connection:
                cards = set(connection.execute(feedback.select().with_only_columns(feedback.c.card_uuid)).scalars())
            assert store.count(feedback) == ITEMS + 1  # the 40 items and the replay test's one
            assert cards == {item["card"] for item in items} | {"replay-card"}
        finally:
            store.close()


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'var' / 'shared.sqlite3'}"


# --- the gunicorn options ------------------------------------------------------------------


def test_gunicorn_options_follow_the_settings() -> None:
    options = gunicorn_options(Settings(host="0.0.0.0", port=9090, workers=3, request_timeout_seconds=20, threads=2))
    assert options["bind"] == "0.0.0.0:9090" and options["workers"] == 3
    assert options["timeout"] == 20 and options["worker_class"] == "service.http_worker.LenadexWorker"
    assert options["preload_app"] is False  # each worker opens its own database pool


def test_worker_count_zero_means_from_the_cpus() -> None:
    assert worker_count(0) == 2 * available_cpus() + 1
    assert worker_count(5) == 5
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)


def test_serve_refuses_a_negative_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--workers", "-2"])
    assert "cannot be negative" in capsys.readouterr().err
