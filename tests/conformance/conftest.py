"""One service for the conformance tests, and its answers to every sandbox patient × hook."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.catalogue import PATIENTS, hook_request
from service.declarations import SERVICES
from service.settings import Settings
from tests.conformance.hostile_fhir_server import HostileFhirServer
from tests.conftest import LiveService, serving

SERVICE_FOR_HOOK: dict[str, str] = {service.hook: service.id for service in SERVICES}
HL7_DIR = Path(__file__).resolve().parent / "hl7"


@dataclass(frozen=True)
class Exchange:
    """One hook call of a sandbox patient and the service's answer."""

    slug: str
    hook: str
    request: dict[str, Any]
    status: int
    body: Any

    @property
    def name(self) -> str:
        return f"{self.slug}.{self.hook}"


SANDBOX_CALLS: list[tuple[str, str]] = [(slug, hook) for slug, story in PATIENTS.items() for hook in story.hooks]


@pytest.fixture(scope="session")
def conformance_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("conformance") / "lenadex.sqlite3"
    with serving(Settings(database_url=f"sqlite:///{store}")) as service:
        yield service


@pytest.fixture(scope="session")
def sandbox_exchanges(conformance_service: LiveService) -> dict[tuple[str, str], Exchange]:
    """The answer to every sandbox patient's request for each of its hooks (over HTTP)."""
    exchanges = {}
    with requests.Session() as session:
        for slug, hook in SANDBOX_CALLS:
            request = hook_request(slug, hook)
            response = session.post(
                f"{conformance_service.base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=request, timeout=30
            )
            exchanges[(slug, hook)] = Exchange(slug, hook, request, response.status_code, response.json())
    return exchanges


@pytest.fixture
def hostile_fhir() -> Iterator[HostileFhirServer]:
    """The fhirServer of a request, on 127.0.0.1: answers with the attacks a test picks
    (tests/conformance/hostile_fhir_server.py) and records every request."""
    server = HostileFhirServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def elsewhere() -> Iterator[HostileFhirServer]:
    """Another origin (127.0.0.1, another port) that the hostile fhirServer points the service
    at: it must receive nothing. It would answer anything with a plausible Medication, so only
    what it saw tells."""
    server = HostileFhirServer()
    server.answer("", {"resourceType": "Medication", "id": "stolen"})
    try:
        yield server
    finally:
        server.close()
