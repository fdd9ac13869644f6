"""The EHR's bearer token goes to fhirServer only (service/fhir_target.py).

A hostile FHIR server on 127.0.0.1 (the ``hostile_fhir`` fixture, hostile_fhir_server.py)
points the service elsewhere — a next link, a medicationReference, a redirect — at a second
recording server on another port (``elsewhere``, another origin): that server must see no
request at all, so it never sees the token. The fhirServer
policy is tested through its function, with resolution replaced and socket creation
forbidden: no packet leaves 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.catalogue import fhir_resources, hook_request
from service.fhir_target import (
    FhirServerPolicy,
    TargetRefused,
    address_refusal,
    check_fhir_server,
    parse_server_url,
    reference_url,
    same_server_url,
)
from service.settings import Settings
from tests.conformance.hostile_fhir_server import eventually
from tests.conftest import LiveService, serving

TOKEN = "token-for-the-ehr-only"
SELECT = "lenalidomide-order-select"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("targets") / "lenadex.sqlite3"
    with serving(
        Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=1.0, fetch_budget_seconds=3.0)
    ) as live:
        yield live


def _request(base: str, *, missing: tuple[str, ...]) -> dict[str, Any]:
    request = hook_request("moderate-renal", "order-select")
    for key in missing:
        del request["prefetch"][key]
    request["fhirServer"] = base
    request["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "lenadex",
    }
    return request


def _call(service: LiveService, request: dict[str, Any]) -> requests.Response:
    return requests.post(f"{service.base_url}/cds-services/{SELECT}", json=request, timeout=30)


def _conditions() -> list[dict[str, Any]]:
    return [r for r in fhir_resources("moderate-renal") if r["resourceType"] == "Condition"]


# --- next links ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["absolute", "scheme-relative", "dot-dot", "userinfo", "backslash", "encoded-dots"])
def test_a_next_link_off_the_fhir_server_is_not_followed(service, hostile_fhir, elsewhere, shape):
    other = elsewhere.origin
    base = hostile_fhir.base_url
    next_url = {
        "absolute": f"http://{other}/fhir/Condition?page=2",
        "scheme-relative": f"//{other}/fhir/Condition?page=2",
        "dot-dot": "../../elsewhere/Condition?page=2",
        "userinfo": f"http://user@{other}/fhir/Condition",
        "backslash": f"http://{other}\\@{hostile_fhir.origin}/fhir/Condition",
        "encoded-dots": f"{base}/%2e%2e/%2e%2e/Condition",
    }[shape]
    hostile_fhir.next_link_to("/fhir/Condition", next_url, _conditions())
    response = _call(service, _request(base, missing=("conditions",)))
    assert response.status_code == 412, response.text[:300]
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.conditions"]
    assert "conditions: the FHIR server could not be read" in issue["diagnostics"]
    assert elsewhere.requests_seen == []
    assert hostile_fhir.paths_seen == ["/fhir/Condition"]  # no page 2 anywhere


def test_a_next_link_on_the_fhir_server_is_followed(service, hostile_fhir, elsewhere):
    conditions = _conditions()
    base = hostile_fhir.base_url
    hostile_fhir.answer_bundle("/fhir/Condition", conditions[1:], query={"page": "2"})
    hostile_fhir.next_link_to("/fhir/Condition", f"{base}/Condition?page=2", conditions[:1])
    response = _call(service, _request(base, missing=("conditions",)))
    assert response.status_code == 200, response.text[:300]
    assert len(hostile_fhir.requests_seen) == 2 and elsewhere.requests_seen == []
    assert all(request.headers["Authorization"] == f"Bearer {TOKEN}" for request in hostile_fhir.requests_seen)


# --- medicationReference ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", ["absolute-elsewhere", "scheme-relative", "dot-dot", "type-dot-dot", "not-a-type", "dot-id"]
)
def test_a_medication_reference_off_the_fhir_server_is_not_fetched(service, hostile_fhir, elsewhere, shape):
    other = elsewhere.origin
    reference = {
        "absolute-elsewhere": f"http://{other}/fhir/Medication/revlimid",
        "scheme-relative": f"//{other}/x",
        "dot-dot": "../../x",
        "type-dot-dot": "Medication/../../x",
        "not-a-type": "medication/revlimid",
        "dot-id": "Medication/..",
    }[shape]
    hostile_fhir.answer("", {"resourceType": "Medication", "id": "x"})
    request = _request(hostile_fhir.base_url, missing=())
    for entry in request["context"]["draftOrders"]["entry"]:
        draft = entry["resource"]
        if f"MedicationRequest/{draft['id']}" in request["context"]["selections"]:
            draft["medicationReference"] = {"reference": reference, "display": "Lenalidomide 10 mg capsule"}
            draft.pop("medicationCodeableConcept", None)
    response = _call(service, request)
    assert response.status_code in (200, 412), response.text[:300]
    assert elsewhere.requests_seen == []
    assert hostile_fhir.requests_seen == [], "nothing but Type/id under the base is read, not even from fhirServer"


def test_reference_rules() -> None:
    target = check_fhir_server("http://127.0.0.1:8080/fhir", FhirServerPolicy())
    assert reference_url("Medication/123", target) == "http://127.0.0.1:8080/fhir/Medication/123"
    assert reference_url("Medication/1/_history/2", target) == "http://127.0.0.1:8080/fhir/Medication/1/_history/2"
    assert (
        reference_url("http://127.0.0.1:8080/fhir/Medication/123", target)
        == "http://127.0.0.1:8080/fhir/Medication/123"
    )
    for bad in (
        "http://127.0.0.1:8081/fhir/Medication/1",
        "https://127.0.0.1:8080/fhir/Medication/1",
        "http://127.0.0.1:8080/other/Medication/1",
        "http://127.0.0.1:8080/fhir/../Medication/1",
        "Medication/1/extra",
        "Medication/a b",
        "Medication/%2e%2e",
        "Medication/1?x=y",
        "Medication/" + "x" * 65,
        "Medication\\1",
        "/Medication/1",
        "urn:uuid:1234",
    ):
        assert reference_url(bad, target) is None, bad


def test_same_server_url_rules() -> None:
    target = check_fhir_server("http://127.0.0.1:8080/fhir/", FhirServerPolicy())
    assert same_server_url("http://127.0.0.1:8080/fhir/Condition?_page=2&code=http%3A%2F%2Floinc.org", target)
    assert same_server_url("HTTP://127.0.0.1:8080/fhir/Condition", target) == "http://127.0.0.1:8080/fhir/Condition"
    assert same_server_url("Condition?page=2", target, relative_to="http://127.0.0.1:8080/fhir/Condition")
    for bad in (
        "http://127.0.0.1:8080/fhirx/Condition",
        "http://127.0.0.1:8080/Condition",
        "http://127.0.0.1:8080//fhir/Condition",
        "http://127.0.0.1:8080/fhir//Condition",
        "http://localhost:8080/fhir/Condition",
        "http://127.0.0.1/fhir/Condition",
        "http://127.0.0.1:8080/fhir/%2E%2E/x",
        "http://127.0.0.1:8080/fhir/a%2fb",
        "http://x@127.0.0.1:8080/fhir/Condition",
        "http://127.0.0.1:8080/fhir/./Condition",
    ):
        assert same_server_url(bad, target) is None, bad


# --- redirects -------------------------------------------------------------------------------


def test_a_redirect_is_not_followed(service, hostile_fhir, elsewhere):
    hostile_fhir.redirect_to("/fhir/Condition", elsewhere.url_for("/fhir/Condition"))
    response = _call(service, _request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 412
    assert "conditions: the FHIR server could not be read" in response.json()["issue"][0]["diagnostics"]
    assert elsewhere.requests_seen == []


GIB = 1024 * 1024 * 1024
MIB = 1024 * 1024


def test_a_redirect_with_a_huge_body_is_neither_followed_nor_read(service, hostile_fhir, elsewhere):
    """A 302 that streams 1 GiB behind its headers: the service needs the status only, so it
    shuts the connection and the hostile server's generator stops long before the end."""
    body = hostile_fhir.redirect_to("/fhir/Condition", elsewhere.url_for("/fhir/Condition"), body_bytes=GIB)
    response = _call(service, _request(hostile_fhir.base_url, missing=("conditions",)))
    assert response.status_code == 412, response.text[:300]
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.conditions"]
    assert "conditions: the FHIR server could not be read" in issue["diagnostics"]
    assert elsewhere.requests_seen == []
    assert hostile_fhir.paths_seen == ["/fhir/Condition"]
    assert eventually(lambda: body.stopped, tries=100), (
        f"the redirect's body is still being sent ({body.bytes_yielded} bytes so far): the service reads it "
        "or holds the connection"
    )
    # Less than the call's byte bound: the 3xx body is not read at all (socket buffers only).
    assert body.bytes_yielded < 8 * MIB, f"{body.bytes_yielded} bytes of the redirect's body were sent"


# --- every network failure reads the same ------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_closed_port_and_a_port_answering_garbage_read_the_same(service, hostile_fhir):
    hostile_fhir.answer("", b"SSH-2.0-OpenSSH_9.6\r\n", content_type="text/plain")
    answers = []
    for base in (f"http://127.0.0.1:{_closed_port()}/fhir", hostile_fhir.base_url):
        response = _call(service, _request(base, missing=("patient", "conditions")))
        assert response.status_code == 412
        answers.append(response.json())
    assert answers[0] == answers[1]
    assert answers[0]["issue"][0]["diagnostics"].endswith(
        "patient: the FHIR server could not be read; conditions: the FHIR server could not be read"
    )
    assert TOKEN not in str(answers)


# --- the fhirServer policy, decided before any socket ------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Resolution answered from a table, any socket refused: the policy must decide alone."""
    table = {
        "ehr.example": ["8.8.8.8"],
        "public.example": ["8.8.8.8"],
        "mixed.example": ["8.8.8.8", "10.1.2.3"],
        "rebind.example": ["8.8.4.4", "169.254.169.254"],
        "v6local.example": ["fe80::1"],
        "mapped.example": ["::ffff:169.254.169.254"],
        "localhost": ["127.0.0.1", "::1"],
    }
    asked: list[str] = []

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]
        ]

    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the policy opened a socket")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    monkeypatch.setattr(socket, "socket", no_socket)
    return asked


OFF = FhirServerPolicy()
ON = FhirServerPolicy(auth_on=True)


def _allowed(url: str, policy: FhirServerPolicy) -> bool:
    try:
        check_fhir_server(url, policy, resolve=socket.getaddrinfo)
    except TargetRefused:
        return False
    return True


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest",
        "https://169.254.169.254",
        "https://169.254.10.1/fhir",
        "https://[fe80::1]/fhir",
        "https://[fd00:ec2::254]/",
        "https://metadata.google.internal/fhir",
        "https://METADATA.google.internal./fhir",
        "https://v6local.example/fhir",
        "https://rebind.example/fhir",
        "https://mapped.example/fhir",
        "https://[::ffff:169.254.169.254]/",
        "https://0.0.0.0/fhir",
        "https://[::]/fhir",
    ],
)
def test_link_local_and_metadata_addresses_are_always_refused(no_network, url):
    everything = FhirServerPolicy(allowed=(parse_server_url(url),))
    for policy in (OFF, ON, everything, FhirServerPolicy(allowed=everything.allowed, auth_on=True)):
        assert not _allowed(url, policy), (url, policy)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/fhir",
        "https://172.16.3.4/fhir",
        "https://192.168.1.1/fhir",
        "https://100.64.0.1/fhir",
        "https://[fd12::1]/fhir",
        "https://mixed.example/fhir",
    ],
)
def test_private_addresses_need_the_allow_list(no_network, url):
    assert not _allowed(url, ON)
    assert not _allowed(url, OFF)
    listed = parse_server_url(url)
    assert _allowed(url, FhirServerPolicy(allowed=(listed,), auth_on=True))


def test_loopback_is_allowed_with_authentication_off_only(no_network):
    for url in (
        "http://127.0.0.1:8080/fhir",
        "http://localhost:8080/fhir",
        "http://[::1]:8080/fhir",
        "http://127.5.5.5/fhir",
    ):
        assert _allowed(url, OFF), url
        assert not _allowed(url, ON), url
    listed = FhirServerPolicy(allowed=(parse_server_url("http://127.0.0.1:8080"),), auth_on=True)
    assert _allowed("http://127.0.0.1:8080/fhir", listed)
    assert not _allowed("http://127.0.0.1:8081/fhir", listed)


def test_https_is_required_unless_loopback_or_allow_listed(no_network):
    assert _allowed("https://public.example/fhir", ON)
    assert not _allowed("http://public.example/fhir", ON)
    assert not _allowed("http://public.example/fhir", OFF)
    listed = FhirServerPolicy(allowed=(parse_server_url("http://public.example/fhir"),), auth_on=True)
    assert _allowed("http://public.example/fhir", listed)
    assert _allowed("http://public.example/fhir/R4", listed)
    assert not _allowed("http://public.example/other", listed)
    assert not _allowed("https://public.example/fhir", listed), "the allow-list names the scheme too"


def test_a_non_empty_allow_list_is_the_only_way_in(no_network):
    policy = FhirServerPolicy(allowed=(parse_server_url("https://ehr.example"),))
    assert _allowed("https://ehr.example/fhir", policy)
    assert not _allowed("https://public.example/fhir", policy)
    assert not _allowed("http://127.0.0.1:8080/fhir", policy)


def test_names_are_resolved_once_and_literals_not_at_all(no_network):
    check_fhir_server("https://public.example/fhir", ON, resolve=socket.getaddrinfo)
    check_fhir_server("http://127.0.0.1/fhir", OFF, resolve=socket.getaddrinfo)
    assert no_network == ["public.example"]
    with pytest.raises(TargetRefused):
        check_fhir_server("https://no-such-name.example/fhir", ON, resolve=socket.getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@public.example/fhir",
        "https://public.example/fhir?x=1",
        "https://public.example/fhir/../x",
        "https://public.example\\@evil/fhir",
        "ftp://public.example/fhir",
        "https://public.example/f%2e%2e/x",
        "https://public.example:99999/fhir",
    ],
)
def test_malformed_fhir_servers_are_refused(no_network, url):
    with pytest.raises(TargetRefused):
        check_fhir_server(url, OFF, resolve=socket.getaddrinfo)
    assert no_network == []


def test_the_policy_follows_the_settings():
    assert not FhirServerPolicy.from_settings(Settings()).auth_on
    assert FhirServerPolicy.from_settings(Settings(trusted_issuers="https://ehr.example")).auth_on
    policy = FhirServerPolicy.from_settings(Settings(fhir_servers="https://ehr.example/fhir, http://10.0.0.5:8080"))
    assert [s.url for s in policy.allowed] == ["https://ehr.example:443/fhir", "http://10.0.0.5:8080"]
    with pytest.raises(ValueError):
        Settings(fhir_servers="https://user@ehr.example")


def test_address_classes() -> None:
    def refused(a: str, policy: FhirServerPolicy = ON) -> bool:
        return address_refusal(ipaddress.ip_address(a), policy, allow_listed=False) is not None

    assert not refused("8.8.8.8") and not refused("2001:4860:4860::8888")
    assert refused("169.254.169.254", OFF) and refused("fe80::1", OFF) and refused("224.0.0.1", OFF)
    assert not refused("127.0.0.1", OFF) and refused("127.0.0.1") and refused("::1")
    assert refused("10.0.0.1", OFF) and refused("64:ff9b::a9fe:a9fe", OFF)  # NAT64 of 169.254.169.254


def test_a_refused_fhir_server_gets_no_request_and_the_caller_is_told(tmp_path, hostile_fhir):
    """With authentication configured, a loopback fhirServer is refused before any packet."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.sqlite3'}", trusted_issuers="https://ehr.example")
    from service.app import create_app

    client = create_app(settings).test_client()
    # Authentication settings without LENADEX_AUTH=jwt let the call in; the policy is the strict one.
    response = client.post(f"/cds-services/{SELECT}", json=_request(hostile_fhir.base_url, missing=("patient",)))
    assert response.status_code == 412
    assert "not allowed by this service's policy" in response.json["issue"][0]["diagnostics"]
    assert hostile_fhir.requests_seen == []
