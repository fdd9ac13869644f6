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
