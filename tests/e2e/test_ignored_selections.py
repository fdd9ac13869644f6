"""Order hooks about neither lenalidomide nor dexamethasone: {"cards": []} without a fetch.

An order-select whose selections name no lenalidomide or dexamethasone draft (an aspirin order),
or an order-sign whose drafts hold neither drug, has nothing for the rules to check: the service
answers from the request's draft orders alone — no prefetch fetched, so no 412 when keys are
missing and the FHIR server is down or absent. A draft naming its drug only through a
medicationReference the request cannot resolve may be lenalidomide: only that Medication is
fetched, and when it cannot be had the call is not waved through.

Over real HTTP: the service in a threaded server, the EHR's FHIR server a recording server on
127.0.0.1 with no handlers (every request it gets is logged and answered 500), or a closed port.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from sandbox.catalogue import hook_request
from service.settings import Settings
from tests.conftest import LiveService, serving

SELECT = "lenalidomide-order-select"
SIGN = "lenalidomide-order-sign"
VIEW = "lenalidomide-patient-view"
PATIENT = "moderate-renal"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DRUGS = {  # RxNorm ingredient codes
    "aspirin": "1191",
    "atorvastatin": "83367",
    "lenalidomide": "342369",
    "dexamethasone": "3264",
}


@pytest.fixture
def recording(fhir: HTTPServer) -> Iterator[HTTPServer]:
    fhir.clear()
    yield fhir
    fhir.clear()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store: Path = tmp_path_factory.mktemp("ignored") / "lenadex.sqlite3"
    # Short fetch limits: the control calls that do fetch from a closed port end quickly.
    config = Settings(database_url=f"sqlite:///{store}", fetch_timeout_seconds=0.5, fetch_budget_seconds=1.0)
    with serving(config) as live:
        yield live


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/fhir"


def _draft(order_id: str, drug: str | None, *, reference: str | None = None) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 100, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}
                ],
            }
        ],
    }
    if reference is not None:
        order["medicationReference"] = {"reference": reference}
    elif drug is not None:
        order["medicationCodeableConcept"] = {
            "coding": [{"system": RXNORM, "code": DRUGS[drug], "display": drug}],
            "text": drug,
        }
    return order


def _request(
    hook: str,
    drafts: list[dict[str, Any]],
    *,
    selected: list[str] | None = None,
    fhir_server: str | None,
    prefetch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """As the public sandbox sends it: draftOrders without type, no encounterId."""
    context: dict[str, Any] = {"userId": "Practitioner/sandbox-clinician", "patientId": PATIENT}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{i}" for i in (selected or [])]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {
            "access_token": "ignored-selection-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "lenadex",
        }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _post(service: LiveService, service_id: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{service.base_url}/cds-services/{service_id}", json=body, timeout=30)


def _paths(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log]


# --- nothing to check: no fetch, no 412 ---------------------------------------------------


def test_order_select_of_an_aspirin_draft_fetches_nothing_and_answers_no_cards(service, recording):
    body = _request(
        "order-select", [_draft("aspirin-1", "aspirin")], selected=["aspirin-1"], fhir_server=recording.url_for("/fhir")
    )
    response = _post(service, SELECT, body)
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]
    assert _paths(recording) == [], "no prefetch key is needed for an aspirin order"


def test_order_select_of_the_aspirin_draft_beside_an_unselected_lenalidomide_draft(service, recording):
    """order-select is about the selected order: the lenalidomide draft waits for its own turn."""
    drafts = [_draft("aspirin-1", "aspirin"), _draft("lenalidomide-1", "lenalidomide")]
    body = _request(
        "order-select",
        drafts,
        selected=["aspirin-1"],
        fhir_server=recording.url_for("/fhir"),
        prefetch={"patient": {"resourceType": "Patient", "id": PATIENT}},
    )  # some keys only
    response = _post(service, SELECT, body)
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]
    assert _paths(recording) == []


def test_order_sign_of_drafts_without_either_drug_fetches_nothing(service, recording):
    drafts = [_draft("aspirin-1", "aspirin"), _draft("statin-1", "atorvastatin")]
    response = _post(service, SIGN, _request("order-sign", drafts, fhir_server=recording.url_for("/fhir")))
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]
    assert _paths(recording) == []


@pytest.mark.parametrize("server", ["unreachable", "absent"])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_no_412_when_the_fhir_server_is_down_or_absent(service, hook, server):
    fhir_server = _closed_port_url() if server == "unreachable" else None
    body = _request(hook, [_draft("aspirin-1", "aspirin")], selected=["aspirin-1"], fhir_server=fhir_server)
    response = _post(service, SELECT if hook == "order-select" else SIGN, body)
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]


def test_a_contained_medication_decides_without_a_fetch(service, recording):
    draft = _draft("aspirin-1", None, reference="#med")
    draft["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": RXNORM, "code": DRUGS["aspirin"], "display": "aspirin"}]},
        }
    ]
    body = _request("order-select", [draft], selected=["aspirin-1"], fhir_server=recording.url_for("/fhir"))
    response = _post(service, SELECT, body)
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]
    assert _paths(recording) == []


# --- a Medication the request does not hold: fetched alone, then decided ------------------


def test_a_referenced_medication_is_fetched_alone_and_decides(service, recording):
    recording.expect_request("/fhir/Medication/med-1").respond_with_json(
        {
            "resourceType": "Medication",
            "id": "med-1",
            "code": {"coding": [{"system": RXNORM, "code": DRUGS["aspirin"], "display": "aspirin"}]},
        }
    )
    body = _request(
        "order-select",
        [_draft("order-1", None, reference="Medication/med-1")],
        selected=["order-1"],
        fhir_server=recording.url_for("/fhir"),
    )
    response = _post(service, SELECT, body)
    assert (response.status_code, response.json()) == (200, {"cards": []}), response.text[:300]
    assert _paths(recording) == ["/fhir/Medication/med-1"], "only the Medication, no prefetch key"


def test_a_referenced_lenalidomide_is_reviewed_and_fetched_only_once(service, recording):
    recording.expect_request("/fhir/Medication/med-1").respond_with_json(
        {
            "resourceType": "Medication",
            "id": "med-1",
            "code": {"coding": [{"system": RXNORM, "code": DRUGS["lenalidomide"], "display": "lenalidomide"}]},
        }
    )
    body = hook_request(PATIENT, "order-select")  # the whole record as prefetch
    [selected] = body["context"]["selections"]
    body["fhirServer"] = recording.url_for("/fhir")
    for entry in body["context"]["draftOrders"]["entry"]:
        draft = entry["resource"]
        if f"MedicationRequest/{draft['id']}" == selected:
            del draft["medicationCodeableConcept"]
            draft["medicationReference"] = {"reference": "Medication/med-1"}
    response = _post(service, SELECT, body)
    assert response.status_code == 200, response.text[:300]
    rules = [rule for card in response.json()["cards"] for rule in card["extension"]["org.lenadex.rules"]]
    assert "R-RENAL-MODERATE" in rules
    assert _paths(recording) == ["/fhir/Medication/med-1"], "the Medication is asked for once"


def test_an_unresolvable_medication_is_not_waved_through(service):
    """It could be lenalidomide: without it and without the record, the documented 412."""
    body = _request(
        "order-select",
        [_draft("order-1", None, reference="Medication/med-1")],
        selected=["order-1"],
        fhir_server=_closed_port_url(),
    )
    response = _post(service, SELECT, body)
    assert response.status_code == 412, response.text[:300]
    assert "patient" in response.json()["issue"][0]["diagnostics"]


# --- controls: what is about lenalidomide still needs its data ---------------------------


@pytest.mark.parametrize("drug", ["lenalidomide", "dexamethasone"])
def test_a_selected_lenalidomide_or_dexamethasone_draft_still_needs_its_prefetch(service, drug):
    body = _request(
        "order-select",
        [_draft("aspirin-1", "aspirin"), _draft("order-1", drug)],
        selected=["order-1"],
        fhir_server=_closed_port_url(),
    )
    response = _post(service, SELECT, body)
    assert response.status_code == 412, response.text[:300]


def test_order_sign_with_a_lenalidomide_draft_among_others_still_needs_its_prefetch(service):
    drafts = [_draft("aspirin-1", "aspirin"), _draft("lenalidomide-1", "lenalidomide")]
    response = _post(service, SIGN, _request("order-sign", drafts, fhir_server=_closed_port_url()))
    assert response.status_code == 412, response.text[:300]


def test_patient_view_is_unchanged_and_still_needs_its_prefetch(service):
    response = _post(service, VIEW, _request("patient-view", [], fhir_server=_closed_port_url()))
    assert response.status_code == 412, response.text[:300]
