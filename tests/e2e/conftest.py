"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="module")
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
