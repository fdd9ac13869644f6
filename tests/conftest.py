"""Shared fixtures: paths to the spec material, a real HTTP server running the service."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.serving import make_server

from service.app import create_app
from service.settings import Settings
from tests import openapi_check

REPO_ROOT = Path(__file__).resolve().parents[1]

# Test files that start real servers (gunicorn, Chromium), fuzz, explore properties with many
# examples or run mypy, ruff or Kubernetes schemas: marked ``slow`` here, in one place, so that
# ``pytest -m "not slow"`` is the quick loop while editing (the full suite is the README's).
SLOW_FILES = frozenset(
    {
        "tests/browser/test_sandbox_page.py",
        "tests/browser/test_reports_page.py",
        "tests/conformance/test_fetch_bounds.py",
        "tests/conformance/test_fetch_faults.py",
        "tests/conformance/test_fetch_targets.py",
        "tests/conformance/test_hostile_input.py",
        "tests/conformance/test_schemathesis.py",
        "tests/e2e/test_serve_command.py",
        "tests/fhir_mappings/test_mapping_properties.py",
        "tests/rules/test_invariants.py",
        "tests/rules/test_safety_properties.py",
        "tests/service/test_cli_config.py",
        "tests/service/test_graceful_shutdown.py",
        "tests/service/test_hostile_clients.py",
        "tests/service/test_reports.py",
        "tests/service/test_scale_out.py",
        "tests/test_deploy.py",
        "tests/test_lint.py",
        "tests/test_typing.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path.relative_to(REPO_ROOT).as_posix()
        if path.startswith("tests/browser/"):
            item.add_marker(pytest.mark.browser)
        if path in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@dataclass
class LiveService:
    base_url: str
    settings: Settings


@pytest.fixture(scope="session", autouse=True)
def responses_conform_to_the_openapi_document() -> Iterator[None]:
    """Every response of a service started by the tests is checked against service/openapi.json."""
    with openapi_check.checking_every_response():
        yield


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'lenadex.sqlite3'}")


@contextmanager
def serving(settings: Settings) -> Iterator[LiveService]:
    """The Flask app in a real threaded HTTP server on a free port of 127.0.0.1, for the block;
    its responses are checked against the OpenAPI document."""
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    openapi_check.register(base_url)
    try:
        yield LiveService(base_url, settings)
    finally:
        openapi_check.unregister(base_url)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def start_service() -> Iterator[Callable[[Settings], LiveService]]:
    """Start the Flask app in a real threaded HTTP server on a free port of 127.0.0.1."""
    with ExitStack() as running:
        yield lambda settings: running.enter_context(serving(settings))


@pytest.fixture
def live_service(start_service: Callable[[Settings], LiveService], service_settings: Settings) -> LiveService:
    return start_service(service_settings)


@pytest.fixture
def fhir() -> Iterator[HTTPServer]:
    """A FHIR server on 127.0.0.1 that records every request; it answers only what a test
    adds a handler for (none, where nothing may be fetched)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()
