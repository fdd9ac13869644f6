"""Prometheus metrics, served at GET /metrics.

Under gunicorn every worker counts in its own process; with PROMETHEUS_MULTIPROC_DIR set
(``lenadex serve --workers N`` sets it up) prometheus_client keeps the counts in files there
and /metrics adds up all workers. The variable must be set before prometheus_client is first
imported, which is why the serve command sets it before it starts gunicorn.

Labels have bounded values only: Flask endpoint names, declared service ids, rule ids and
status codes — never a raw path, a patient or a user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    disable_created_metrics,
    multiprocess,
)

from service.prefetch import FhirClient

# The *_created series (time each label set was first seen) only add noise to the scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Services should answer "on the order of 500 ms" (CDS Hooks): buckets dense around that.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "lenadex_http_requests", "HTTP requests answered", ["endpoint", "service", "status"]
)
LATENCY = Histogram(
    "lenadex_http_request_duration_seconds",
    "Time from request to answer",
    ["endpoint", "service"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("lenadex_http_errors", "Answers with an error status (4xx, 5xx)", ["status"])
CARDS = Counter("lenadex_cards", "Cards returned, by the rule ids that produced them", ["service", "rule"])
PREFETCH_FETCHES = Counter(
    "lenadex_prefetch_fetches", "Prefetch keys fetched from the EHR's FHIR server", ["service"]
)
PREFETCH_FAILURES = Counter(
    "lenadex_prefetch_failures", "Prefetch keys that could not be fetched", ["service"]
)
FEEDBACK = Counter(
    "lenadex_feedback",
    "Feedback items received",
    ["service", "outcome", "stored", "card"],  # stored: new|duplicate; card: known|unknown
)
AUDIT_FAILURES = Counter("lenadex_audit_write_failures", "Hook calls whose audit record could not be written")


def observe_request(endpoint: str, service: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, service, str(status)).inc()
    LATENCY.labels(endpoint, service).observe(seconds)
    if status >= 400:
        ERRORS.labels(str(status)).inc()


def count_cards(service: str, cards: list[dict[str, Any]]) -> None:
    for card in cards:
        for rule in (card.get("extension") or {}).get("org.lenadex.rules") or ["unknown"]:
            CARDS.labels(service, str(rule)).inc()


@dataclass(frozen=True)
class _CountingFhirClient(FhirClient):
    """The hook call's FHIR client, counting each prefetch key fetched and each failure."""

    service: str = ""

    def search_or_read(self, relative: str) -> dict[str, Any]:
        PREFETCH_FETCHES.labels(self.service).inc()
        try:
            return super().search_or_read(relative)
        except Exception:
            PREFETCH_FAILURES.labels(self.service).inc()
            raise


def counting_client(client: FhirClient | None, service: str) -> FhirClient | None:
    if client is None:
        return None
    values = {f.name: getattr(client, f.name) for f in fields(client)}
    return _CountingFhirClient(**values, service=service)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
