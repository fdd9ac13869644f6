"""Hook calls shaped exactly as the public CDS Hooks sandbox sends them, over real HTTP.

The four requests of tests/e2e/sandbox_requests/ were captured from the sandbox calling lenadex
(see its README): a product-coded draft ("lenalidomide 25 MG Oral Capsule", RxNorm 643720) dosed
in capsules (`{pill}`), `category` as one object, draftOrders without `type`, no encounterId,
no fhirAuthorization, prefetch the sandbox fetched itself. Their dates are moved to the day the
test runs, and `fhirServer` points at a recording server on 127.0.0.1: the sandbox prefetched
every key, so nothing may be fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from fhir.resources.R4B.medicationrequest import MedicationRequest
from pytest_httpserver import HTTPServer

from sandbox.catalogue import DATE_KEYS, shift_date
from service.settings import Settings
from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conftest import LiveService, serving

REQUESTS_DIR = Path(__file__).parent / "sandbox_requests"
CAPTURED_ON = date(2026, 12, 1)
SERVICES = {
    "order-select": "lenalidomide-order-select",
    "order-sign": "lenalidomide-order-sign",
    "patient-view": "lenalidomide-patient-view",
}


def redated(node: Any, days: int) -> Any:
    """Every date, dateTime and instant moved by whole days (time and offset kept)."""
    if isinstance(node, dict):
        return {
            key: shift_date(value, days) if key in DATE_KEYS and isinstance(value, str) else redated(value, days)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [redated(item, days) for item in node]
    return node


def sandbox_request(name: str, fhir_server: str, today: date | None = None) -> dict[str, Any]:
    """The captured request, re-dated from the capture day to ``today``."""
    captured = json.loads((REQUESTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    body: dict[str, Any] = redated(captured, ((today or date.today()) - CAPTURED_ON).days)
    body["fhirServer"] = fhir_server
    return body


@pytest.fixture
def fhir_server(fhir: HTTPServer) -> Iterator[str]:
    fhir.clear()
    yield fhir.url_for("/fhir")
    assert [request.path for request, _ in fhir.log] == [], "the sandbox prefetched every key"
    fhir.clear()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    store = tmp_path_factory.mktemp("sandbox-shaped") / "lenadex.sqlite3"
    with serving(Settings(database_url=f"sqlite:///{store}")) as live:
        yield live


def call(service: LiveService, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = requests.post(f"{service.base_url}/cds-services/{SERVICES[body['hook']]}", json=body, timeout=30)
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert standard_problems(answer) == []
    assert lenadex_problems(answer, body["hook"]) == []
    cards: list[dict[str, Any]] = answer["cards"]
    return cards


def rules_of(card: dict[str, Any]) -> list[str]:
    return list(card.get("extension", {}).get("org.lenadex.rules", []))


def ordered_mg(order: dict[str, Any]) -> float:
    """The mg of one dose: mg as written, or capsules × the product's strength; a strength
    that cannot make up the dose in whole capsules is an incoherent order (fails here)."""
    concept = order.get("medicationCodeableConcept", {})
    names = [concept.get("text", "")] + [c.get("display", "") for c in concept.get("coding", [])]
    strengths = {float(m) for n in names for m in re.findall(r"(\d+(?:\.\d+)?)\s*MG\b", n, re.IGNORECASE)}
    assert len(strengths) <= 1, names
    [dose] = [d["doseQuantity"] for i in order["dosageInstruction"] for d in i.get("doseAndRate", [])]
    if dose.get("code") == "{pill}":
        assert strengths, f"capsules of an unknown strength: {names}"
        return float(dose["value"]) * strengths.pop()
    assert dose.get("code") == "mg", dose
    mg = float(dose["value"])
    assert not strengths or (mg / next(iter(strengths))).is_integer(), f"{mg} mg from {names}"
    return mg


def test_the_loader_moves_the_laboratory_values_to_the_test_day():
    body = sandbox_request("order-select.moderate-renal", "http://127.0.0.1:9/fhir", today=date(2027, 3, 2))
    creatinine = next(
        e["resource"]
        for e in body["prefetch"]["observations"]["entry"]
        if e["resource"]["id"] == "moderate-renal-creatinine-1"
    )
    assert creatinine["effectiveDateTime"] == "2027-02-27T08:30:00+09:00"  # 3 days before, as captured
    assert body["prefetch"]["patient"]["birthDate"] == "1954-09-07"  # the age stays as captured


@pytest.mark.parametrize(
    "name, with_reason",
    [
        ("order-select.moderate-renal", False),
        ("order-sign.moderate-renal", False),
        # With a treating condition chosen in its Rx View, the sandbox copies that Condition's code
        # into the draft as `reasonCode` — one CodeableConcept, not a list (invalid R4).
        ("order-select.moderate-renal", True),
    ],
)
def test_moderate_renal_product_coded_draft_gets_the_10_mg_dose_card(service, fhir_server, name, with_reason):
    body = sandbox_request(name, fhir_server)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    if with_reason:
        draft["reasonCode"] = body["prefetch"]["conditions"]["entry"][0]["resource"]["code"]
    cards = call(service, body)
    [card] = [c for c in cards if "R-RENAL-MODERATE" in rules_of(c)]
    assert card["extension"]["org.lenadex.dose"] == {
        "drug": "lenalidomide",
        "mg": 10,
        "everyHours": 24,
        "days": "1-21/28",
    }
    updates = [a for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "update"]
    assert updates, "the dose card offers the changed draft"
    for action in updates:
        resource = action["resource"]
        assert resource["id"] == draft["id"]
        MedicationRequest.model_validate(resource)  # valid FHIR R4: category a list, a coherent dose
        assert isinstance(resource["category"], list)
        if with_reason:
            assert resource["reasonCode"] == [draft["reasonCode"]]
        assert ordered_mg(resource) == 10, "the changed draft orders the 10 mg the card recommends"


def test_overdose_of_four_25_mg_capsules_twice_daily_gets_a_critical_lenalidomide_card(service, fhir_server):
    cards = call(service, sandbox_request("order-select.overdose-normal-renal", fhir_server))
    critical = [c for c in cards if c["indicator"] == "critical" and "lenalidomide" in c["summary"].lower()]
    assert critical, [c["summary"] for c in cards]
    assert cards[0] in critical, "critical first"
    assert any("200 mg" in c["summary"] + c.get("detail", "") for c in critical), (
        "the card names the ordered 200 mg a day"
    )


def test_patient_view_low_platelets_gets_the_platelet_card(service, fhir_server):
    cards = call(service, sandbox_request("patient-view.low-platelets", fhir_server))
    assert cards
    assert any("R-PLT-LOW" in rules_of(c) for c in cards), [c["summary"] for c in cards]


def _as_product(draft: dict[str, Any], name: str, count: float) -> None:
    """The draft as the sandbox writes a product order: the product's name, `count` {pill}."""
    draft["medicationCodeableConcept"] = {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "display": name}],
        "text": name,
    }
    [dose] = [d for i in draft["dosageInstruction"] for d in i.get("doseAndRate", [])]
    dose["doseQuantity"] = {"value": count, "unit": "{pill}", "system": "http://unitsofmeasure.org", "code": "{pill}"}


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_the_right_product_gets_no_dose_card(service, fhir_server, hook):
    # CrCl 34 mL/min: one 10 mg capsule daily is the recommended dose.
    body = sandbox_request(f"{hook}.moderate-renal", fhir_server)
    _as_product(body["context"]["draftOrders"]["entry"][0]["resource"], "lenalidomide 10 MG Oral Capsule", 1)
    cards = call(service, body)
    assert not [c for c in cards if "org.lenadex.dose" in c.get("extension", {})], [c["summary"] for c in cards]


def test_the_applied_suggestion_makes_the_dose_card_go_away(service, fhir_server):
    # What the sandbox does on a click: the draft is replaced by the suggestion's resource and the
    # hook fires again.
    body = sandbox_request("order-select.moderate-renal", fhir_server)
    [card] = [c for c in call(service, body) if "R-RENAL-MODERATE" in rules_of(c)]
    [update] = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    body["context"]["draftOrders"]["entry"][0]["resource"] = update["resource"]
    again = call(service, body)
    assert not [c for c in again if "org.lenadex.dose" in c.get("extension", {})], [c["summary"] for c in again]


def test_dexamethasone_tablets_for_a_78_year_old_get_the_age_card(service, fhir_server):
    # 10 tablets of 4 mg weekly = 40 mg weekly; above 75 years the guideline gives 20 mg weekly.
    body = sandbox_request("order-select.moderate-renal", fhir_server)
    patient = body["prefetch"]["patient"]
    patient["birthDate"] = f"{date.today().year - 79}-01-15"
    entry = json.loads(json.dumps(body["context"]["draftOrders"]["entry"][0]))
    draft = entry["resource"]
    draft["id"] = "draft-dexamethasone-sandbox"
    _as_product(draft, "dexamethasone 4 MG Oral Tablet", 10)
    draft["dosageInstruction"][0]["timing"] = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}
    draft["dosageInstruction"][0].pop("text", None)
    body["context"]["draftOrders"]["entry"].append(entry)
    body["context"]["selections"] = ["MedicationRequest/draft-dexamethasone-sandbox"]
    cards = call(service, body)
    assert [c for c in cards if "R-DEX-AGE" in rules_of(c)], [c["summary"] for c in cards]


def test_a_critical_count_at_patient_view_puts_the_active_order_on_hold_as_valid_r4(service, fhir_server):
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    cards = call(service, sandbox_request("patient-view.low-platelets", fhir_server))
    critical = next(c for c in cards if c["indicator"] == "critical")
    (action,) = critical["suggestions"][0]["actions"]
    assert action["type"] == "update" and action["resource"]["status"] == "on-hold"
    held = MedicationRequest.model_validate(action["resource"])
    assert held.id.startswith("low-platelets-lenalidomide") and "Platelets 25,000/µL" in held.note[0].text
