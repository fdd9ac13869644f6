"""Prefetch: use what the client sent, fetch what it left out (CONTRACT.md "Prefetch").

- A key the client sent is used as is (``null`` = the client has no such data); a value that
  is an OperationOutcome counts as not satisfied and is fetched.
- A key left out is fetched from ``fhirServer`` with the ``fhirAuthorization`` bearer token:
  all keys in parallel, each request with a timeout, the whole within a time budget, paging
  through ``Bundle.link`` next up to a bounded number of pages, one retry of a GET that could
  not connect.
- A key that cannot be had (no fhirServer, refused, 401/403/5xx, timeout, not strict FHIR
  JSON, answers over LENADEX_FETCH_MAX_BYTES or LENADEX_FETCH_MAX_ENTRIES together, a redirect, a next link off the server) ends the call
  with HTTP 412 and an OperationOutcome naming the keys, as the standard requires.
The access token is sent on every fetch and never logged — and only to ``fhirServer``:
service/fhir_target.py checks fhirServer against the policy (LENADEX_FHIR_SERVERS) and every
URL fetched (next links, medicationReferences) against fhirServer; redirects are not followed.

To the caller every failure of a key reads the same, "the FHIR server could not be read": a
caller able to aim the service at any URL must not learn from the answer whether a port is
closed, filtered, slow or speaking something else. The reason goes to the server log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from service import strict_json
from service.errors import ApiError
from service.fhir_target import (
    FhirServerPolicy,
    FhirTarget,
    SocketRegistry,
    TargetRefused,
    TargetUnreachable,
    check_fhir_server,
    pinned_session,
    reference_url,
    same_server_url,
)
from service.hook_request import HookRequest, PatientViewContext
from service.settings import DEFAULT_CALL_BYTES, DEFAULT_CALL_ENTRIES

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
STOP_GRACE_SECONDS = 0.1
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir-fetch")


COULD_NOT_READ = "the FHIR server could not be read"
NOT_ALLOWED = "the FHIR server could not be read: fhirServer is not allowed by this service's policy"
"""Decided from fhirServer and the service's settings alone, before any packet is sent."""


# How the fetch of one prefetch key ended, for the metrics (service/metrics.py): "refused" when
# it was not allowed (fhirServer or a URL not allowed by the policy, a redirect not followed, or
# the FHIR server's 401/403), "over-limit" at a bound on bytes, entries or pages, "stopped" when
# the call was answered before the fetch ended (another key failed, or the time budget ran out),
# "failed" for every other failure.
FETCH_OUTCOMES = ("ok", "failed", "refused", "over-limit", "stopped")


class FetchFailed(Exception):
    """One prefetch key could not be fetched. The message says why, for the server log (never
    the token, never a URL: its query holds the patient id); ``public`` is what the caller
    is told; ``outcome`` one of FETCH_OUTCOMES, for the metrics."""

    def __init__(self, detail: str, public: str = COULD_NOT_READ, outcome: str = "failed") -> None:
        super().__init__(detail)
        self.public = public
        self.outcome = outcome


@dataclass
class _TargetCheck:
    """fhirServer checked once per hook call (one DNS resolution), shared by its fetches."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    target: FhirTarget | None = None
    failure: FetchFailed | None = None


@dataclass
class _CallUsage:
    """What the fetches of one hook call have read so far, shared by its workers, and the
    sockets they have open (so that the call can close them when it answers)."""

    max_bytes: int = DEFAULT_CALL_BYTES
    max_entries: int = DEFAULT_CALL_ENTRIES
    lock: threading.Lock = field(default_factory=threading.Lock)
    bytes_read: int = 0
    entries_read: int = 0
    sockets: SocketRegistry = field(default_factory=SocketRegistry)

    def add_bytes(self, count: int) -> None:
        with self.lock:
            self.bytes_read += count
            over = self.bytes_read > self.max_bytes
        if over:
            raise FetchFailed(
                f"the FHIR server's answers for this call are larger than {self.max_bytes // (1024 * 1024)} MiB",
                outcome="over-limit",
            )

    def add_entries(self, count: int) -> None:
        with self.lock:
            self.entries_read += count
            over = self.entries_read > self.max_entries
        if over:
            raise FetchFailed(
                f"the FHIR server's answers for this call hold more than {self.max_entries} entries",
                f"{COULD_NOT_READ} completely: more than {self.max_entries} resources",
                outcome="over-limit",
            )


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
    policy: FhirServerPolicy = field(default_factory=FhirServerPolicy, compare=False)
    target_check: _TargetCheck = field(default_factory=_TargetCheck, compare=False, repr=False)
    usage: _CallUsage = field(default_factory=_CallUsage, compare=False, repr=False)

    def stop(self) -> None:
        """The call answers now: fetches still running stop at their next read, and the
        sockets they wait on are shut, so that a server trickling its headers a byte at a time
        cannot keep a worker (the per-read timeout never fires on such a server)."""
        self.stopped.set()
        self.usage.sockets.shut_all()

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def target(self) -> FhirTarget:
        """fhirServer as checked against the policy, on first use only: a call that fetches
        nothing resolves no name."""
        check = self.target_check
        with check.lock:
            if not check.done:
                try:
                    check.target = check_fhir_server(self.base_url, self.policy)
                except TargetUnreachable as unreachable:
                    check.failure = FetchFailed(str(unreachable))
                except TargetRefused as refused:
                    log.warning("fhirServer refused by the policy: %s", str(refused))
                    check.failure = FetchFailed(str(refused), NOT_ALLOWED, outcome="refused")
                check.done = True
        if check.failure is not None:
            raise check.failure
        assert check.target is not None
        return check.target

    def get_json(self, url: str) -> dict[str, Any]:
        """GET ``url``, which must be on fhirServer under its base path (checked here again, so
        that no caller can send the token elsewhere); a redirect is a failure, not followed."""
        if self.stopped.is_set():
            raise FetchFailed("fetch stopped: the hook call was already answered", outcome="stopped")
        target = self.target()
        checked = same_server_url(url, target)
        if checked is None:
            raise FetchFailed("a URL off the FHIR server was not fetched", outcome="refused")
        headers = {"Accept": FHIR_JSON}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        for attempt in (1, 2):
            remaining = self._remaining()
            if remaining <= 0:
                raise FetchFailed("time budget for fetching exhausted")
            if self.stopped.is_set():
                raise FetchFailed("fetch stopped: the hook call was already answered", outcome="stopped")
            timeout = min(self.timeout_seconds, remaining)
            try:
                with (
                    self.usage.sockets.collecting(),
                    pinned_session(target) as session,
                    session.get(
                        checked,
                        headers=headers,
                        timeout=(timeout, timeout),
                        stream=True,
                        allow_redirects=False,
                    ) as response,
                ):
                    status, body = response.status_code, self._read_body(response)
            except requests.ConnectionError as error:
                if attempt == 1 and not isinstance(error, requests.ReadTimeout):
                    continue  # one retry: a GET is idempotent
                raise FetchFailed(f"FHIR server could not be reached ({type(error).__name__})") from None
            except (requests.Timeout, urllib3.exceptions.TimeoutError):  # the latter while reading
                raise FetchFailed("FHIR server did not answer in time") from None
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
                raise FetchFailed(f"FHIR request failed ({type(error).__name__})") from None
            resource = _json_body(status, body)
            if time.monotonic() > self.deadline:  # parsing counts against the budget too
                raise FetchFailed("FHIR server answer took longer than the time budget to read")
            return resource
        raise FetchFailed("FHIR server could not be reached")  # pragma: no cover

    def read_reference(self, reference: str) -> dict[str, Any]:
        """The resource a literal reference names, if it is ``Type/id`` on fhirServer."""
        url = reference_url(reference, self.target())
        if url is None:
            raise FetchFailed("a reference that is not Type/id on the FHIR server was not fetched", outcome="refused")
        return self.get_json(url)

    def _read_body(self, response: requests.Response) -> bytes:
        """The answer's body, read by the deadline and within the call's byte bound.

        The per-read timeout does not stop a server that sends a byte now and then, which
        would hold a fetch worker for as long as it likes (and, repeated, all of them): the
        deadline is checked after every read. An error status needs no body.
        """
        if response.status_code >= 300:
            return b""
        chunks = []
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            self.usage.add_bytes(len(chunk))  # decoded bytes: a gzip bomb counts as what it becomes
            if time.monotonic() > self.deadline:
                raise FetchFailed("FHIR server did not answer in time")
            if self.stopped.is_set():
                raise FetchFailed("fetch stopped: the hook call was already answered", outcome="stopped")
            chunks.append(chunk)
        return b"".join(chunks)

    def fetch_key(self, key: str, relative: str) -> dict[str, Any]:
        """The value of prefetch key ``key``: search_or_read(relative). A method of its own so
        that the metrics (service/metrics.py) can time each key and count its outcome."""
        return self.search_or_read(relative)

    def search_or_read(self, relative: str) -> dict[str, Any]:
        """A read, or a search with every page merged into one searchset Bundle."""
        target = self.target()
        url = same_server_url(f"{target.base_url}/{relative.lstrip('/')}", target)
        if url is None:
            raise FetchFailed("the prefetch query leaves the FHIR server's base path", outcome="refused")
        first = self.get_json(url)
        if first.get("resourceType") != "Bundle":
            return first
        entries = list(first.get("entry") or [])
        self.usage.add_entries(len(entries))
        page, pages, seen = first, 1, {url}
        while (link := _next_link(page)) is not None:
            next_url = same_server_url(link, target, relative_to=url)
            if next_url is None:
                # The token goes to fhirServer only; a page elsewhere would get it.
                raise FetchFailed("a next link off the FHIR server was not followed", outcome="refused")
            if next_url in seen:
                log.warning("FHIR paging loops back to an earlier page; stopped")
                break
            if pages >= self.max_pages:
                # A record cut short could hide the newest creatinine or an active
                # anticoagulant: no answer from part of it (safety principle 1).
                raise FetchFailed(
                    f"the search has more than {self.max_pages} pages",
                    f"{COULD_NOT_READ} completely: the search has more than {self.max_pages} pages of results",
                    outcome="over-limit",
                )
            seen.add(next_url)
            page = self.get_json(next_url)
            if page.get("resourceType") != "Bundle":
                raise FetchFailed("a page of the search result is not a Bundle")
            more = page.get("entry") or []
            self.usage.add_entries(len(more))
            entries.extend(more)
            pages += 1
        merged = {k: v for k, v in first.items() if k not in ("link", "entry")}
        if entries:
            merged["entry"] = entries
        return merged


def _json_body(status: int, body: bytes) -> dict[str, Any]:
    if 300 <= status < 400:
        raise FetchFailed(f"FHIR server answered a redirect (HTTP {status}); not followed", outcome="refused")
    if status in (401, 403):
        raise FetchFailed(f"FHIR server refused access (HTTP {status})", outcome="refused")
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


def client_for(
    request: HookRequest,
    *,
    timeout_seconds: float,
    budget_seconds: float,
    max_pages: int,
    policy: FhirServerPolicy | None = None,
    max_bytes: int = DEFAULT_CALL_BYTES,
    max_entries: int = DEFAULT_CALL_ENTRIES,
) -> FhirClient | None:
    """The call's FHIR client; ``policy`` from the settings (FhirServerPolicy.from_settings),
    by default the local one (loopback allowed: authentication off)."""
    if not request.fhirServer:
        return None
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    return FhirClient(
        base_url=request.fhirServer,
        access_token=token,
        timeout_seconds=timeout_seconds,
        deadline=time.monotonic() + budget_seconds,
        max_pages=max_pages,
        policy=policy or FhirServerPolicy(),
        usage=_CallUsage(max_bytes=max_bytes, max_entries=max_entries),
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
    futures = {key: _POOL.submit(client.fetch_key, key, query) for key, query in queries.items()}
    done, pending = wait(futures.values(), timeout=max(client._remaining(), 0.0), return_when=FIRST_EXCEPTION)
    if pending:
        # A key failed or the budget ran out: the call answers 412 now, and the other keys'
        # reads are wasted — stopped before anything else, so their workers are free sooner.
        client.stop()
        # A fetch in flight sees the stop at its next read: a short grace lets most return
        # their worker before the answer goes out, so back-to-back failing calls do not make
        # the pool grow toward max_workers.
        wait(pending, timeout=min(STOP_GRACE_SECONDS, max(client._remaining(), 0.0)))
    failures: dict[str, str] = {}
    reasons: dict[str, str] = {}
    results: dict[str, dict[str, Any] | None] = {}
    for key, future in futures.items():
        if not future.done():
            future.cancel()
            failures[key], reasons[key] = COULD_NOT_READ, "stopped: another key failed or the time budget ran out"
            continue
        error = future.exception()
        if error is None:
            results[key] = future.result()
        elif isinstance(error, FetchFailed):
            failures[key], reasons[key] = error.public, str(error)  # not the error: its traceback holds the body
        else:
            failures[key], reasons[key] = COULD_NOT_READ, f"unexpected {type(error).__name__}"
    if failures:
        client.stop()
        log.warning("prefetch not fetched: %s", "; ".join(f"{key}: {why}" for key, why in reasons.items()))
        raise _unavailable(failures, None)
    return results


# Referenced resources (Medications of the orders) fetched for one call at the most; beyond it
# they stay unresolved and the orders are classified from their text.
MAX_REFERENCES = 20


def fetch_references(
    client: FhirClient | None, references: list[str], limit: int = MAX_REFERENCES
) -> list[dict[str, Any]]:
    """Resources such as Medication/123 that orders point at; what cannot be had is skipped
    (the order is then classified from its text, or not at all). Only ``Type/id`` references
    on fhirServer are read (FhirClient.read_reference): the token goes nowhere else."""
    if client is None or not references:
        return []
    futures = [_POOL.submit(client.read_reference, ref) for ref in references[:limit]]
    done, _ = wait(futures, timeout=max(client._remaining(), 0.0))
    for future in futures:
        if future in done and isinstance(future.exception(), FetchFailed):
            log.info("a referenced resource was not fetched: %s", str(future.exception()))
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
