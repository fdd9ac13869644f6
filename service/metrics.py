"""Prometheus metrics, served at GET /metrics.

Under gunicorn every worker counts in its own process; with PROMETHEUS_MULTIPROC_DIR set
(``lenadex serve --workers N`` sets it up) prometheus_client keeps the counts in files there
and /metrics adds up all workers. The variable must be set before prometheus_client is first
imported, which is why the serve command sets it before it starts gunicorn (and why the store,
which the gunicorn master opens first, reports its timings through ``Store.timer`` instead of
importing this module).

Labels have bounded values only: Flask endpoint names, declared service ids, the prefetch keys
of the declared services, rule ids, status codes, fixed outcome and operation names — never a
raw path, a patient or a user.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, fields
from importlib import metadata
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    disable_created_metrics,
    multiprocess,
)

from service.declarations import SERVICES_BY_ID
from service.prefetch import FETCH_OUTCOMES, FetchFailed, FhirClient

# The *_created series (time each label set was first seen) only add noise to the scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Most calls take 2–6 ms (bench/bench.py), and CDS Hooks asks for answers "on the order of
# 500 ms": buckets fine from 0.5 ms to 10 ms, then coarser up to 10 s.
_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.004,
    0.006,
    0.008,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
)
# One prefetch key from the EHR's FHIR server, all its pages: a network round trip at least,
# bounded by LENADEX_FETCH_BUDGET_SECONDS.
_FETCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# One store transaction: well under a millisecond on SQLite, a round trip on PostgreSQL, up to
# the store's lock bounds (service/store/database.py: 1 s, 10 s for an audit record).
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

# What the store times (service/store/database.py); anything else is counted as "other".
STORE_OPERATIONS = ("audit_write", "feedback_write", "jti_check", "health")

REQUESTS = Counter("lenadex_http_requests", "HTTP requests answered", ["endpoint", "service", "status"])
LATENCY = Histogram(
    "lenadex_http_request_duration_seconds",
    "Time from request to answer",
    ["endpoint", "service"],
    buckets=_LATENCY_BUCKETS,
)
ERRORS = Counter("lenadex_http_errors", "Answers with an error status (4xx, 5xx)", ["status"])
CARDS = Counter("lenadex_cards", "Cards returned, by the rule ids that produced them", ["service", "rule"])
PREFETCH_FETCHES = Counter("lenadex_prefetch_fetches", "Prefetch keys fetched from the EHR's FHIR server", ["service"])
PREFETCH_FAILURES = Counter("lenadex_prefetch_failures", "Prefetch keys that could not be fetched", ["service"])
FETCH_LATENCY = Histogram(
    "lenadex_fhir_fetch_duration_seconds",
    "Time to fetch one prefetch key from the EHR's FHIR server (all pages of a search), whatever the outcome",
    ["service", "key"],
    buckets=_FETCH_BUCKETS,
)
FETCH_RESULTS = Counter(
    "lenadex_fhir_fetches",
    "Prefetch keys fetched from the EHR's FHIR server, by outcome (ok, failed, refused, over-limit, stopped)",
    ["service", "key", "outcome"],
)
STORE_LATENCY = Histogram(
    "lenadex_store_operation_duration_seconds",
    "Time of one store operation (its transaction, lock wait included), whatever the outcome",
    ["operation"],  # audit_write, feedback_write, jti_check, health
    buckets=_STORE_BUCKETS,
)
FEEDBACK = Counter(
    "lenadex_feedback",
    "Feedback items received",
    ["service", "outcome", "stored", "card"],  # stored: new|duplicate; card: known|unknown
)
AUDIT_FAILURES = Counter("lenadex_audit_write_failures", "Hook calls whose audit record could not be written")
# A gauge, not an Info metric: prometheus_client's multiprocess mode has no Info. "max" adds no
# pid label, so every worker's 1 reads as one series.
BUILD_INFO = Gauge(
    "lenadex_build_info",
    "Always 1; the labels say which lenadex release and Python run",
    ["version", "python"],
    multiprocess_mode="max",
)


def _version() -> str:
    try:
        return metadata.version("lenadex")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


VERSION = _version()
BUILD_INFO.labels(VERSION, platform.python_version()).set(1)


def observe_request(endpoint: str, service: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint, service, str(status)).inc()
    LATENCY.labels(endpoint, service).observe(seconds)
    if status >= 400:
        ERRORS.labels(str(status)).inc()


def observe_store(operation: str, seconds: float) -> None:
    """The store's timer (``Store.timer``, set by the app factory)."""
    STORE_LATENCY.labels(operation if operation in STORE_OPERATIONS else "other").observe(seconds)


def observe_fetch(service: str, key: str, outcome: str, seconds: float) -> None:
    declared = SERVICES_BY_ID.get(service)
    if declared is None or key not in declared.prefetch:
        key = "other"  # cannot happen (keys come from the templates); a bound all the same
    if outcome not in FETCH_OUTCOMES:
        outcome = "failed"
    FETCH_LATENCY.labels(service, key).observe(seconds)
    FETCH_RESULTS.labels(service, key, outcome).inc()


def count_cards(service: str, cards: list[dict[str, Any]]) -> None:
    for card in cards:
        for rule in (card.get("extension") or {}).get("org.lenadex.rules") or ["unknown"]:
            CARDS.labels(service, str(rule)).inc()


@dataclass(frozen=True)
class _CountingFhirClient(FhirClient):
    """The hook call's FHIR client, counting each prefetch key fetched and each failure, and
    timing each key with its outcome."""

    service: str = ""

    def fetch_key(self, key: str, relative: str) -> dict[str, Any]:
        started = time.perf_counter()
        outcome = "failed"
        try:
            resource = super().fetch_key(key, relative)
            outcome = "ok"
            return resource
        except FetchFailed as failure:
            outcome = failure.outcome
            raise
        except Exception:
            outcome = "failed"
            raise
        finally:
            if outcome == "failed" and self.stopped.is_set():
                # The call stopped this fetch (its sockets shut): not a failure of its own. The
                # key whose failure ended the call is counted before the stop, in its thread.
                outcome = "stopped"
            observe_fetch(self.service, key, outcome, time.perf_counter() - started)

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
