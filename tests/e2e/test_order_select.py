"""order-select end to end: a real HTTP server, sandbox patients, prefetch or fetching."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests
from fhir.resources.R4B.medicationrequest import MedicationRequest

from sandbox.catalogue import PATIENTS, fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer

SERVICE = "lenalidomide-order-select"


def post(base_url: str, body: Any, service: str = SERVICE, **kwargs: Any) -> requests.Response:
    return requests.post(f"{base_url}/cds-services/{service}", json=body, timeout=10, **kwargs)


def dose_cards(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [
        c
        for c in response.json()["cards"]
        if "org.lenadex.dose" in c.get("extension", {})
        or "R-DATA-RENAL" in c.get("extension", {}).get("org.lenadex.rules", [])
    ]


def test_discovery_lists_the_order_select_service_with_prefetch(live_service):
    services = requests.get(f"{live_service.base_url}/cds-services", timeout=5).json()["services"]
    by_id = {s["id"]: s for s in services}
    select = by_id[SERVICE]
    assert select["hook"] == "order-select"
    assert "kidney function" in select["description"]
    prefetch = select["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    for loinc in ("2160-0", "14682-9", "29463-7", "751-8", "777-3", "33914-3"):
        assert f"http://loinc.org|{loinc}" in prefetch["observations"]
    assert prefetch["conditions"].startswith("Condition?patient={{context.patientId}}")
    assert prefetch["medications"].startswith("MedicationRequest?patient={{context.patientId}}")


def test_moderate_renal_gets_10_mg_with_an_update_of_the_draft(live_service):
    request = hook_request("moderate-renal", "order-select")
    response = post(live_service.base_url, request)
    [card] = dose_cards(response)
    assert card["indicator"] == "critical"  # 25 mg is 2.5 times the 10 mg allowed: an overdose
    assert "10 mg once daily" in card["summary"] and len(card["summary"]) < 140
    assert card["extension"]["org.lenadex.rules"] == ["R-CRCL-CG", "R-RENAL-MODERATE"]
    assert card["extension"]["org.lenadex.dose"] == {
        "drug": "lenalidomide",
        "mg": 10,
        "everyHours": 24,
        "days": "1-21/28",
    }
    assert "Cockcroft-Gault" in card["detail"] and "mg/dL" in card["detail"]
    assert card["source"]["label"]
    assert card["selectionBehavior"] == "at-most-one"
    assert all({"system", "code", "display"} <= set(r) for r in card["overrideReasons"])

    # The recommended fix, and removing the order as the other way out (critical card).
    suggestion, removal = card["suggestions"]
    assert suggestion.get("isRecommended") is True and "isRecommended" not in removal
    [action] = suggestion["actions"]
    draft_id = request["context"]["selections"][0].split("/")[1]
    assert removal["actions"] == [
        {
            "type": "delete",
            "description": removal["actions"][0]["description"],
            "resourceId": f"MedicationRequest/{draft_id}",
        }
    ]
    assert action["type"] == "update"
    assert action["resource"]["id"] == draft_id
    updated = MedicationRequest.model_validate(action["resource"])  # valid R4
    dose = updated.dosageInstruction[0].doseAndRate[0].doseQuantity
    assert (float(dose.value), dose.unit) == (10.0, "mg")
    assert updated.dosageInstruction[0].timing.repeat.period == 1


@pytest.mark.parametrize(
    ("slug", "rule", "mg", "every_hours"),
    [
        ("moderate-renal-boundary", "R-RENAL-MODERATE", 10, 24),
        ("severe-renal", "R-RENAL-SEVERE", 15, 48),
        ("dialysis", "R-RENAL-DIALYSIS", 5, 24),
    ],
)
def test_renal_tiers_over_http(live_service, slug, rule, mg, every_hours):
    [card] = dose_cards(post(live_service.base_url, hook_request(slug, "order-select")))
    assert rule in card["extension"]["org.lenadex.rules"]
    dose = card["extension"]["org.lenadex.dose"]
    assert (dose["mg"], dose["everyHours"]) == (mg, every_hours)
    assert card["suggestions"][0]["actions"][0]["type"] == "update"


@pytest.mark.parametrize("slug", ["normal-renal", "normal-renal-boundary"])
def test_a_matching_25_mg_order_gets_no_dose_card(live_service, slug):
    assert dose_cards(post(live_service.base_url, hook_request(slug, "order-select"))) == []


def test_stale_creatinine_gives_a_data_card_without_a_dose(live_service):
    [card] = dose_cards(post(live_service.base_url, hook_request("stale-creatinine", "order-select")))
    assert card["extension"]["org.lenadex.rules"] == ["R-DATA-RENAL"]
    assert "org.lenadex.dose" not in card["extension"]
    # No dose from such data: the one suggestion holds the draft until the data are there.
    assert [
        a["type"] == "update" and a["resource"]["status"] == "on-hold"
        for suggestion in card.get("suggestions", [])
        for a in suggestion["actions"]
    ] == [True]
    assert "creatinine" in card["summary"].lower() and "days old" in card["detail"]


def test_creatinine_in_micromol_per_litre_is_converted(live_service):
    [card] = dose_cards(post(live_service.base_url, hook_request("creatinine-umol", "order-select")))
    assert "umol/L" in card["detail"] or "µmol/L" in card["detail"]
    assert "R-CRCL-CG" in card["extension"]["org.lenadex.rules"]


def cards_of(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["cards"]


SERVICE_FOR_HOOK = {
    "order-select": SERVICE,
    "order-sign": "lenalidomide-order-sign",
    "patient-view": "lenalidomide-patient-view",
}


@pytest.mark.parametrize("slug", sorted(PATIENTS))
def test_fetching_gives_the_same_cards_as_prefetch(live_service, slug):
    """The same patient gives identical cards whether its data arrived by prefetch or by
    fetching from the EHR's FHIR server (paged, with a token)."""
    hook = PATIENTS[slug].hooks[0]
    fhir = StandInFhirServer(fhir_resources(slug), page_size=7, required_token="secret-token").start()
    try:
        with_prefetch = hook_request(slug, hook)
        fetched = copy.deepcopy(with_prefetch)
        del fetched["prefetch"]
        fetched["fhirServer"] = fhir.base_url
        fetched["fhirAuthorization"] = {
            "access_token": "secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "lenadex",
        }
        a = cards_of(post(live_service.base_url, with_prefetch, SERVICE_FOR_HOOK[hook]))
        b = cards_of(post(live_service.base_url, fetched, SERVICE_FOR_HOOK[hook]))
        assert a == b
    finally:
        fhir.stop()


def test_an_operation_outcome_in_prefetch_is_fetched_again(live_service):
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR timed out"}],
    }
    stand_in = StandInFhirServer(fhir_resources("moderate-renal"))
    fhir = stand_in.start()
    try:
        request = hook_request("moderate-renal", "order-select")
        request["prefetch"]["observations"] = outcome
        request["fhirServer"] = fhir.base_url
        [card] = dose_cards(post(live_service.base_url, request))
    finally:
        fhir.stop()
    assert card["extension"]["org.lenadex.dose"]["mg"] == 10
    assert [r["path"] for r in stand_in.requests_seen] == ["/Observation"]

    without_server = hook_request("moderate-renal", "order-select")
    without_server["prefetch"]["observations"] = outcome
    response = post(live_service.base_url, without_server)
    assert response.status_code == 412 and "observations" in response.json()["issue"][0]["diagnostics"]


def test_fetching_sends_the_bearer_token_and_pages(live_service):
    stand_in = StandInFhirServer(fhir_resources("moderate-renal"), page_size=2)
    fhir = stand_in.start()
    try:
        request = hook_request("moderate-renal", "order-select")
        del request["prefetch"]
        request["fhirServer"] = fhir.base_url
        request["fhirAuthorization"] = {
            "access_token": "tok-123",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "x",
        }
        [card] = dose_cards(post(live_service.base_url, request))
        assert card["extension"]["org.lenadex.dose"]["mg"] == 10
    finally:
        fhir.stop()
    assert stand_in.requests_seen
    assert all(r["authorization"] == "Bearer tok-123" for r in stand_in.requests_seen)
    assert any("_offset=" in r["query"] for r in stand_in.requests_seen), "paging was followed"


def test_missing_prefetch_without_fhir_server_is_412(live_service):
    request = hook_request("moderate-renal", "order-select")
    del request["prefetch"]["observations"]
    response = post(live_service.base_url, request)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "observations" in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize("fault", ["status-500", "status-401", "html", "truncated", "not-fhir"])
def test_a_failing_fhir_server_gives_412(live_service, fault):
    fhir = StandInFhirServer(fhir_resources("moderate-renal"), fault=fault).start()
    try:
        request = hook_request("moderate-renal", "order-select")
        del request["prefetch"]["conditions"]
        request["fhirServer"] = fhir.base_url
        response = post(live_service.base_url, request)
    finally:
        fhir.stop()
    assert response.status_code == 412, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "conditions" in response.json()["issue"][0]["diagnostics"]


def test_refused_connection_gives_412(live_service):
    request = hook_request("moderate-renal", "order-select")
    del request["prefetch"]["patient"]
    request["fhirServer"] = "http://127.0.0.1:9"  # discard port: nothing listens
    response = post(live_service.base_url, request)
    assert response.status_code == 412
    assert "patient" in response.json()["issue"][0]["diagnostics"]


def test_null_prefetch_means_no_data_and_is_not_fetched(live_service):
    request = hook_request("moderate-renal", "order-select")
    request["prefetch"]["observations"] = None
    [card] = dose_cards(post(live_service.base_url, request))
    assert card["extension"]["org.lenadex.rules"] == ["R-DATA-RENAL"]


def test_real_client_deviations_are_accepted(live_service):
    """What the public CDS Hooks sandbox sends: no draftOrders.type, no encounterId,
    MedicationRequest.category as one object."""
    request = hook_request("moderate-renal", "order-select")
    request["context"].pop("encounterId", None)
    request["context"]["draftOrders"].pop("type", None)
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["category"] = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}
            ]
        }
    [card] = dose_cards(post(live_service.base_url, request))
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert isinstance(resource["category"], list)  # repaired to valid R4
    MedicationRequest.model_validate(resource)


@pytest.mark.parametrize(
    ("mutate", "status", "words"),
    [
        (lambda r: r.update(hook="patient-view"), 400, "hook"),
        (lambda r: r.pop("hookInstance"), 400, "hookInstance"),
        (lambda r: r["context"].pop("patientId"), 400, "patientId"),
        (lambda r: r["context"].update(selections=["MedicationRequest/nowhere"]), 400, "selections"),
        (lambda r: r["context"].pop("draftOrders"), 400, "draftOrders"),
        (lambda r: r.update(context="x"), 400, "context"),
        (lambda r: r.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}), 400, "fhirServer"),
    ],
)
def test_bad_requests_get_a_400_operation_outcome(live_service, mutate, status, words):
    request = hook_request("moderate-renal", "order-select")
    request.pop("fhirServer", None)
    mutate(request)
    response = post(live_service.base_url, request)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]


def test_malformed_json_wrong_type_unknown_service_and_method(live_service):
    base = live_service.base_url
    url = f"{base}/cds-services/{SERVICE}"
    malformed = requests.post(url, data=b'{"hook": ', headers={"Content-Type": "application/json"}, timeout=5)
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["issue"][0]["diagnostics"]
    wrong_type = requests.post(url, data=b"hook=x", headers={"Content-Type": "text/plain"}, timeout=5)
    assert wrong_type.status_code == 415 and wrong_type.json()["resourceType"] == "OperationOutcome"
    unknown = post(base, hook_request("moderate-renal", "order-select"), service="no-such-service")
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
    wrong_method = requests.get(url, timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()["resourceType"] == "OperationOutcome"
    not_utf8 = requests.post(url, data=b'{"hook": "\xff\xfe"}', headers={"Content-Type": "application/json"}, timeout=5)
    assert not_utf8.status_code == 400
