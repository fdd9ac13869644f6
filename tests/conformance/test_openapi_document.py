"""The OpenAPI document of the service, and the HL7-published CDS Hooks OpenAPI.

- service/openapi.json is a valid OpenAPI 3.1 document, served at GET /openapi.json, and
  lists exactly the routes and services the app has (no drift);
- the response checker wired into every test (tests/openapi_check.py) catches what it should;
- discovery, hook answers and the requests the tests send validate against the HL7 document
  (its known defects patched, hl7_openapi.py);
- the HL7 Inferno CRD kit's order-select and order-sign requests get valid cards.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate

from rules.catalogue import RULES
from sandbox.fhir_server import StandInFhirServer
from service.app import create_app
from service.declarations import SERVICES
from service.settings import Settings
from tests import openapi_check
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conformance.conftest import HL7_DIR, SANDBOX_CALLS, SERVICE_FOR_HOOK
from tests.conformance.hl7_openapi import hl7_schema_errors, patched_document, published_document

DOCUMENT = openapi_check.document()
FRAMEWORK_METHODS = {"HEAD", "OPTIONS"}


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)


def test_the_document_is_served_at_openapi_json(conformance_service):
    response = requests.get(f"{conformance_service.base_url}/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def _flask_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", rule)


def _documented_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def test_the_document_lists_exactly_the_routes_of_the_app(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 's.sqlite3'}"))
    routed: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        routed.setdefault(_flask_path(rule.rule), set()).update((rule.methods or set()) - FRAMEWORK_METHODS)
    documented = {
        _documented_path(template): {m.upper() for m in item if m not in ("parameters", "options")}
        for template, item in DOCUMENT["paths"].items()
    }
    assert routed == documented


def test_the_document_names_the_declared_services_and_the_rule_id_format():
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["CdsService"]["properties"]["id"]["enum"] == [s.id for s in SERVICES]
    assert set(schemas["CdsService"]["properties"]["hook"]["enum"]) == {s.hook for s in SERVICES}
    rule_id = re.compile(schemas["CardExtension"]["properties"]["org.lenadex.rules"]["items"]["pattern"])
    assert all(rule_id.match(rule.id) for rule in RULES)


# --- the checker every test's responses go through ----------------------------------------


def _response(
    status: int,
    body: Any,
    *,
    method: str = "POST",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers["Content-Type"] = content_type
    response.headers.update(headers or {})
    response.request = requests.Request(method, "http://127.0.0.1/x").prepare()
    return response


OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid", "diagnostics": "x"}]}
SERVICE_PATH = "/cds-services/lenalidomide-order-select"


@pytest.mark.parametrize(
    ("method", "path", "response"),
    [
        ("POST", SERVICE_PATH, _response(200, {"cards": None})),
        ("POST", SERVICE_PATH, _response(200, {"cards": [{"summary": "x", "indicator": "info"}]})),
        ("POST", SERVICE_PATH, _response(200, {"cards": [], "systemActions": []})),
        ("POST", SERVICE_PATH, _response(418, OUTCOME)),
        ("POST", SERVICE_PATH, _response(400, {"error": "bad"})),
        ("POST", SERVICE_PATH, _response(400, b"<html>Bad</html>", content_type="text/html")),
        ("POST", SERVICE_PATH, _response(500, OUTCOME)),
        ("GET", SERVICE_PATH, _response(405, OUTCOME)),
        ("GET", "/nowhere", _response(200, {})),
        ("GET", "/cds-services", _response(200, {"services": [{"id": "x", "hook": "patient-view"}]})),
    ],
    ids=[
        "null cards",
        "card without source",
        "empty systemActions",
        "undocumented status",
        "error not an OperationOutcome",
        "HTML error",
        "500",
        "405 without Allow",
        "unknown path 200",
        "discovery service incomplete",
    ],
)
def test_the_response_checker_catches_departures(method, path, response):
    with pytest.raises(AssertionError):
        openapi_check.assert_conforms(method, path, response)


def test_the_response_checker_accepts_documented_answers():
    openapi_check.assert_conforms("POST", SERVICE_PATH, _response(200, {"cards": []}))
    openapi_check.assert_conforms("POST", SERVICE_PATH, _response(412, OUTCOME))
    openapi_check.assert_conforms("GET", SERVICE_PATH, _response(405, OUTCOME, headers={"Allow": "POST"}))
    openapi_check.assert_conforms("GET", "/nowhere", _response(404, OUTCOME))
    openapi_check.assert_conforms("GET", "/healthz", _response(200, {"status": "ok"}))


# --- the HL7-published OpenAPI --------------------------------------------------------------


def test_the_patched_hl7_document_is_valid_and_fixes_the_listed_defects():
    validate(patched_document())
    published = published_document()["components"]["schemas"]
    assert published["OverrideReason"]["properties"]["reason"]["allOf"] == [
        {"$ref": "#/components/schemas/OverrideReason"}
    ]
    assert "usageRequirements" not in published["CdsService"]["properties"]
    overridden = {
        "card": "x",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-25T09:00:00Z",
        "overrideReason": {"reason": {"display": "no code"}},
    }
    assert hl7_schema_errors(overridden, "Feedback"), "an override reason without a code must fail"


def test_discovery_validates_against_the_hl7_document(conformance_service):
    body = requests.get(f"{conformance_service.base_url}/cds-services", timeout=5).json()
    assert hl7_schema_errors(body, "CdsServiceInformation") == []


@pytest.mark.parametrize(("slug", "hook"), SANDBOX_CALLS, ids=[f"{s}.{h}" for s, h in SANDBOX_CALLS])
def test_sandbox_requests_and_answers_validate_against_the_hl7_document(sandbox_exchanges, slug, hook):
    exchange = sandbox_exchanges[(slug, hook)]
    assert hl7_schema_errors(exchange.request, "CdsRequest") == []
    assert exchange.status == 200
    assert hl7_schema_errors(exchange.body, "CdsResponse") == []


# --- the Inferno CRD kit's requests ---------------------------------------------------------

INFERNO_REQUESTS = {
    "order-select": "order_select_hook_request.json",
    "order-sign": "order_sign_hook_request.json",
}


def inferno_request(hook: str) -> dict[str, Any]:
    request: dict[str, Any] = json.loads((HL7_DIR / "inferno-crd-fixtures" / INFERNO_REQUESTS[hook]).read_text())
    return request


def _fixture_patient(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": request["context"]["patientId"],
        "gender": "male",
        "birthDate": "1950-01-01",
    }


def _empty_searchset() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": 0}


def _assert_valid_cards(response: requests.Response, hook: str) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert standard_problems(body) == []
    assert lenadex_problems(body, hook) == []
    assert hl7_schema_errors(body, "CdsResponse") == []
    assert all("org.lenadex.dose" not in card["extension"] for card in body["cards"]), (
        "neither amoxicillin nor a pureed diet is a lenalidomide order"
    )


@pytest.mark.parametrize("hook", INFERNO_REQUESTS)
def test_inferno_requests_are_standard(hook):
    assert hl7_schema_errors(inferno_request(hook), "CdsRequest") == []


@pytest.mark.parametrize("hook", INFERNO_REQUESTS)
def test_inferno_request_with_prefetch_gets_valid_cards(conformance_service, hook):
    request = inferno_request(hook)
    request["prefetch"] = {"patient": _fixture_patient(request)} | {
        key: _empty_searchset() for key in ("observations", "conditions", "medications", "procedures")
    }
    response = requests.post(
        f"{conformance_service.base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=request, timeout=10
    )
    _assert_valid_cards(response, hook)


@pytest.mark.parametrize("hook", INFERNO_REQUESTS)
def test_inferno_request_fetching_from_a_fhir_server_gets_valid_cards(conformance_service, hook):
    request = inferno_request(hook)
    stand_in = StandInFhirServer([_fixture_patient(request)])
    fhir = stand_in.start()
    try:
        request["fhirServer"] = fhir.base_url  # the fixture's https://example/r4, on loopback
        response = requests.post(
            f"{conformance_service.base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=request, timeout=10
        )
    finally:
        fhir.stop()
    _assert_valid_cards(response, hook)
    assert all(seen["authorization"] == "Bearer SAMPLE_TOKEN" for seen in stand_in.requests_seen)


def _as_lenalidomide(request: dict[str, Any]) -> dict[str, Any]:
    """The Inferno request with its amoxicillin draft turned into a lenalidomide order."""
    for entry in request["context"]["draftOrders"]["entry"]:
        if entry["resource"]["resourceType"] == "MedicationRequest":
            entry["resource"]["medicationCodeableConcept"] = {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "342369",
                        "display": "lenalidomide",
                    }
                ],
                "text": "lenalidomide",
            }
    return request


@pytest.mark.parametrize("hook", INFERNO_REQUESTS)
def test_inferno_request_for_another_drug_is_answered_without_fetching(conformance_service, hook):
    # An amoxicillin draft and a diet order: nothing for lenadex, so no fetch and no 412.
    request = copy.deepcopy(inferno_request(hook))
    request["fhirServer"] = "http://127.0.0.1:9"  # nothing listens
    response = requests.post(
        f"{conformance_service.base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=request, timeout=10
    )
    assert response.status_code == 200 and response.json() == {"cards": []}


@pytest.mark.parametrize("hook", INFERNO_REQUESTS)
def test_inferno_request_with_an_unreachable_server_and_no_prefetch_is_412(conformance_service, hook):
    request = _as_lenalidomide(copy.deepcopy(inferno_request(hook)))
    request["fhirServer"] = "http://127.0.0.1:9"  # nothing listens: the fixture's server, unreachable
    response = requests.post(
        f"{conformance_service.base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=request, timeout=10
    )
    assert response.status_code == 412
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert all(key in diagnostics for key in ("patient", "observations", "conditions"))


@pytest.mark.parametrize(
    "path",
    [
        "/cds-services",
        "/healthz",
        "/rules",
        "/openapi.json",
        "/metrics",
        "/sandbox",
        "/sandbox/static/sandbox.js",
        "/sandbox/static/sandbox.css",
        "/sandbox/api/patients",
        "/sandbox/api/patients/moderate-renal",
        "/sandbox/api/patients/moderate-renal/request?hook=order-sign",
    ],
)
def test_every_documented_read_answers_200_as_documented(conformance_service, path):
    """The session-wide check validates the body; random fuzzing seldom hits a known slug."""
    response = requests.get(f"{conformance_service.base_url}{path}", timeout=10)
    assert response.status_code == 200
    openapi_check.assert_conforms("GET", path.split("?")[0], response)
