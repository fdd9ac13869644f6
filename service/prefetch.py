"""Prefetch: use what the client sent, fetch what it left out (CONTRACT.md "Prefetch").

- A key the client sent is used as is (``null`` = the client has no such data); a value that
  is an OperationOutcome counts as not satisfied and is fetched.
- A key left out is fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer token:
  all keys in parallel, each request with a timeout, the whole within a time budget, paging
  through ``Bundle.link`` next up to a bounded number of pages, one retry of a GET that could
  not connect.
- A key that cannot be had (no fhirServer, refused, 401/403/5xx, timeout, not strict FHIR
  JSON, an answer over MAX_ANSWER_BYTES) ends the call with HTTP 412 and an OperationOutcome
  naming the keys, as the standard requires.
The access token is sent on every fetch and never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3

from service import strict_json
from service.errors import ApiError
from service.hook_request import HookRequest, PatientViewContext

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
MAX_ANSWER_BYTES = 32 * 1024 * 1024
"""Largest FHIR answer (one page) read: a page of 500 lab results is about 1 MB; a server
sending without end must not fill the service's memory."""
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir-fetch")


class FetchFailed(Exception):
    """One prefetch key could not be fetched; the message names why (never the token)."""


@dataclass(frozen=True)
class FhirClient:
    """GETs against the EHR's FHIR server for one hook call."""

    base_url: str
    access_token: str | None
    timeout_seconds: float
    deadline: float
    """time.monotonic() after which no request is started or waited for."""
    max_pages: int
    stopped: threading.Event = field(default_factory=threading.Event, compare=False)
    """Set once the hook call has its answer without the fetches still running (one key
    failed): they stop at their next chunk instead of reading, say, 32 MiB each for nothing."""

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def get_json(self, url: str) -> dict[str, Any]:
        headers = {"Accept": FHIR_JSON}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        for attempt in (1, 2):
            remaining = self._remaining()
            if remaining <= 0:
                raise FetchFailed("time budget for fetching exhausted")
            if self.stopped.is_set():
                raise FetchFailed("fetch stopped: the hook call was already answered")
            timeout = min(self.timeout_seconds, remaining)
            try:
                with requests.get(url, headers=headers, timeout=(timeout, timeout), stream=True) as response:
                    status, body = response.status_code, self._read_body(response)
            except requests.ConnectionError as error:
                if attempt == 1 and not isinstance(error, requests.ReadTimeout):
                    continue  # one retry: a GET is idempotent
                raise FetchFailed("FHIR server could not be reached") from None
            except (requests.Timeout, urllib3.exceptions.TimeoutError):  # the latter while reading
                raise FetchFailed("FHIR server did not answer in time") from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
                raise FetchFailed("FHIR request failed") from None
            return _json_body(status, body)
        raise FetchFailed("FHIR server could not be reached")  # pragma: no cover

    def _read_body(self, response: requests.Response) -> bytes:
        """The answer's body, read by the deadline and up to MAX_ANSWER_BYTES.

        The per-read timeout does not stop a server that sends a byte now and then, which
        would hold a fetch worker for as long as it likes (and, repeated, all of them): the
        deadline is checked after every read. An error status needs no body.
        """
        if response.status_code >= 400:
            return b""
        chunks, size = [], 0
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise FetchFailed(f"FHIR server answer is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB")
            if time.monotonic() > self.deadline:
                raise FetchFailed("FHIR server did not answer in time")
            if self.stopped.is_set():
                raise FetchFailed("fetch stopped: the hook call was already answered")
            chunks.append(chunk)
        return b"".join(chunks)

    def search_or_read(self, relative: str) -> dict[str, Any]:
        """A read, or a search with every page merged into one searchset Bundle."""
        url = urljoin(self.base_url.rstrip("/") + "/", relative)
        first = self.get_json(url)
        if first.get("resourceType") != "Bundle":
            return first
        entries = list(first.get("entry") or [])
        page, pages, seen = first, 1, {url}
        while next_url := _next_link(page):
            if next_url in seen:
                log.warning("FHIR paging loops back to an earlier page; stopped")
                break
            if pages >= self.max_pages:
                # A record cut short could hide the newest creatinine or an active
                # anticoagulant: no answer from part of it (safety principle 1).
                raise FetchFailed(f"the search has more than {self.max_pages} pages of results; "
                                  "the record could not be read completely")
            seen.add(next_url)
            page = self.get_json(urljoin(url, next_url))
            if page.get("resourceType") != "Bundle":
                raise FetchFailed("a page of the search result is not a Bundle")
            entries.extend(page.get("entry") or [])
            pages += 1
        merged = {k: v for k, v in first.items() if k not in ("link", "entry")}
        if entries:
            merged["entry"] = entries
        return merged


def _json_body(status: int, body: bytes) -> dict[str, Any]:
    if status in (401, 403):
        raise FetchFailed(f"FHIR server refused access (HTTP {status})")
    if status >= 400:
        raise FetchFailed(f"FHIR server answered HTTP {status}")
    try:
        resource = strict_json.loads(body)
    except ValueError:  # also UnicodeDecodeError; NaN, too deep: see strict_json
        raise FetchFailed("FHIR server answer is not JSON") from None
    if not isinstance(resource, dict) or "resourceType" not in resource:
        raise FetchFailed("FHIR server answer is not a FHIR resource")
    if resource["resourceType"] == "OperationOutcome":
        raise FetchFailed("FHIR server answered with an OperationOutcome")
    return resource


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def fill_template(template: str, context: PatientViewContext) -> str:
    """Replace the 2.0.1 prefetch tokens this service uses."""
    values = {
        "{{context.patientId}}": context.patientId,
        "{{context.userId}}": context.userId,
        "{{context.encounterId}}": context.encounterId or "",
        "{{userPractitionerId}}": context.userId.removeprefix("Practitioner/"),
    }
    for token, value in values.items():
        template = template.replace(token, value)
    return template


def client_for(request: HookRequest, *, timeout_seconds: float, budget_seconds: float, max_pages: int) -> FhirClient | None:
    if not request.fhirServer:
        return None
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    return FhirClient(
        base_url=request.fhirServer,
        access_token=token,
        timeout_seconds=timeout_seconds,
        deadline=time.monotonic() + budget_seconds,
        max_pages=max_pages,
    )


def resolve_prefetch(
    templates: Mapping[str, str],
    request: HookRequest,
    context: PatientViewContext,
    client: FhirClient | None,
) -> dict[str, dict[str, Any] | None]:
    """Every prefetch key's value (a resource, or None = the client has no such data)."""
    given = request.prefetch or {}
    resolved: dict[str, dict[str, Any] | None] = {}
    missing: dict[str, str] = {}
    for key, template in templates.items():
        value = given.get(key, _ABSENT)
        if value is _ABSENT or (isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"):
            missing[key] = fill_template(template, context)
        else:
            resolved[key] = value
    if not missing:
        return resolved
    if client is None:
        raise _unavailable(missing, "the request has no fhirServer to fetch them from")
    resolved.update(_fetch_all(client, missing))
    return resolved


_ABSENT = object()


def _fetch_all(client: FhirClient, queries: Mapping[str, str]) -> dict[str, dict[str, Any] | None]:
    futures = {key: _POOL.submit(client.search_or_read, query) for key, query in queries.items()}
    done, pending = wait(futures.values(), timeout=max(client._remaining(), 0.0), return_when=FIRST_EXCEPTION)
    failures: dict[str, str] = {}
    results: dict[str, dict[str, Any] | None] = {}
    for key, future in futures.items():
        if future in pending:
            future.cancel()
            failures[key] = "FHIR server did not answer in time"
            continue
        error = future.exception()
        if error is None:
            results[key] = future.result()
        elif isinstance(error, FetchFailed):
            failures[key] = str(error)
        else:
            log.error("prefetch %s failed: %s", key, type(error).__name__)
            failures[key] = "fetch failed"
    if failures:
        client.stopped.set()  # the call answers 412 now: the other keys' reads are wasted
        raise _unavailable(failures, None)
    return results


def fetch_references(client: FhirClient | None, references: list[str], limit: int = 20) -> list[dict[str, Any]]:
    """Resources such as Medication/123 that orders point at; what cannot be had is skipped
    (the order is then classified from its text, or not at all)."""
    if client is None or not references:
        return []
    futures = [_POOL.submit(client.get_json, urljoin(client.base_url.rstrip("/") + "/", ref)) for ref in references[:limit]]
    done, _ = wait(futures, timeout=max(client._remaining(), 0.0))
    return [f.result() for f in futures if f in done and f.exception() is None]


def _unavailable(keys: Mapping[str, str], reason: str | None) -> ApiError:
    if reason is not None:
        detail = f"{', '.join(keys)} ({reason})"
    else:
        detail = "; ".join(f"{key}: {why}" for key, why in keys.items())
    return ApiError(
        412,
        f"needed prefetch missing and could not be fetched — {detail}",
        expression=[f"prefetch.{key}" for key in keys],
    )
